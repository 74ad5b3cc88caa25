"""``mesynth prepare-data SOURCE OUT``: raw face photos -> an aligned, split, checked training set.

The steps read straight through: :mod:`.sources` lists the photos with their domain, identity
and (CelebA) partition; :mod:`.analyse` reads, detects, aligns and measures each one in worker
processes; :mod:`.filters` holds the checks (sharpness, perceptual hash, which face);
:mod:`.split` puts the kept faces into train and val; :mod:`.writer` owns the output folder
(temporary names, resume, refusal); :mod:`.report` writes prepared.csv, report.md and the
contact sheets; :mod:`.run` ties them together and :mod:`.cli` is the command line.

Faces are aligned with :func:`mesynth.faces.align.align_face`, the alignment synthesis uses for
``crop=fixed``, so a model trained on the output sees faces framed as synthesis feeds them.
"""
