"""Evaluation: how well facial motion survived synthesis (``python evaluate.py``).

AU intensity correlations with Fisher-z aggregation (:mod:`.stats`), AU backends (:mod:`.au`),
optical flow of annotated events (:mod:`.flow`, :mod:`.events`), temporal consistency
(:mod:`.temporal`), identity distances (:mod:`.identity`), figures, ``report.md`` and logging
(:mod:`.tracking`). ``task=spotting`` asks instead whether the synthetic videos help
micro/macro-expression spotting (:mod:`mesynth.spotting.experiment`). Every analysis is a unit
of :mod:`.analyses`; :mod:`.pipeline` runs those of the task.
"""

from __future__ import annotations


def run(cfg) -> dict:
    """``python evaluate.py``: see :func:`mesynth.evaluation.pipeline.run`."""
    from mesynth.evaluation.pipeline import run as run_evaluation

    return run_evaluation(cfg)


__all__ = ["run"]
