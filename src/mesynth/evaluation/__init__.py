"""Evaluation: how well facial motion survived synthesis (``python evaluate.py``).

AU intensity correlations with Fisher-z aggregation (:mod:`.stats`), AU backends (:mod:`.au`),
optical flow of annotated events (:mod:`.flow`, :mod:`.events`), temporal consistency
(:mod:`.temporal`), identity distances (:mod:`.identity`), figures, ``report.md`` and W&B
logging (:mod:`.tracking`). ``task=spotting`` asks instead whether the synthetic videos help
micro/macro-expression spotting (:mod:`mesynth.spotting.experiment`).
"""

from omegaconf import DictConfig

from mesynth.evaluation.common import EvaluationInputError
from mesynth.evaluation.pipeline import run as run_au

TASKS = ("au", "spotting")

__all__ = ["TASKS", "run", "run_au"]


def run(cfg: DictConfig) -> dict:
    """Run the evaluation ``cfg.task`` names (``au`` when absent); returns its summary."""
    task = str(cfg.get("task") or "au")
    if task == "spotting":
        from mesynth.spotting.experiment import run as run_spotting

        return run_spotting(cfg)
    if task != "au":
        raise EvaluationInputError(f"task={task!r} is not one of {TASKS}; e.g. task=spotting")
    return run_au(cfg)
