"""Evaluation: how well facial motion survived synthesis (``python evaluate.py``).

AU intensity correlations with Fisher-z aggregation (:mod:`.stats`), AU backends (:mod:`.au`),
optical flow of annotated events (:mod:`.flow`, :mod:`.events`), temporal consistency
(:mod:`.temporal`), identity distances (:mod:`.identity`), figures, ``report.md`` and W&B
logging (:mod:`.tracking`).
"""

from mesynth.evaluation.pipeline import run

__all__ = ["run"]
