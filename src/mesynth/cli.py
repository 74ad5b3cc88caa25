"""Console entry points: ``mesynth-train``, ``mesynth-infer``, ``mesynth-evaluate``.

Each composes the Hydra config of the same name from the repository's ``conf/`` and hands the
result to ``mesynth.<area>.run(cfg)``. The top-level ``train.py``/``infer.py``/``evaluate.py``
call these same functions, so both ways of starting a run are identical.
"""

from __future__ import annotations

from collections.abc import Callable

import hydra
from omegaconf import DictConfig

from mesynth.config import CONF_ENV, conf_dir

__all__ = ["CONF_ENV", "conf_dir", "evaluate_main", "infer_main", "train_main"]


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
