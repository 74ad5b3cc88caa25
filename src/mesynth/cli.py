"""Console entry points: ``mesynth-train``, ``mesynth-infer``, ``mesynth-evaluate``.

Each composes the Hydra config of the same name from the repository's ``conf/`` and hands the
result to ``mesynth.<area>.run(cfg)``. The top-level ``train.py``/``infer.py``/``evaluate.py``
call these same functions, so both ways of starting a run are identical.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import hydra
from omegaconf import DictConfig

CONF_ENV = "MESYNTH_CONF_DIR"


def conf_dir() -> Path:
    """Directory of the Hydra configs: ``$MESYNTH_CONF_DIR`` or the checkout's ``conf/``."""
    override = os.environ.get(CONF_ENV)
    candidate = Path(override) if override else Path(__file__).resolve().parents[2] / "conf"
    if not (candidate / "train.yaml").is_file():
        raise FileNotFoundError(
            f"mesynth configs not found in {candidate} (expected train.yaml there). "
            f"Run from a checkout of mesynth, or set {CONF_ENV} to its conf/ directory."
        )
    return candidate


def _launch(config_name: str, runner: Callable[[DictConfig], object]) -> None:
    def task(cfg: DictConfig) -> None:
        runner(cfg)

    hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name=config_name)(task)()


def train_main() -> None:
    from mesynth.training import run

    _launch("train", run)


def infer_main() -> None:
    from mesynth.synthesis import run

    _launch("infer", run)


def evaluate_main() -> None:
    from mesynth.evaluation import run

    _launch("evaluate", run)
