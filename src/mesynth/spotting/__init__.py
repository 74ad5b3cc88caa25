"""Micro- and macro-expression spotting in long videos: the MEGC scorer, motion features,
spotters, and the leave-one-subject-out experiment that asks whether synthetic data helps."""
