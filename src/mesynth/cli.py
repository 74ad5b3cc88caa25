"""Console entry points: ``mesynth-train``, ``mesynth-infer``, ``mesynth-evaluate``.

Each composes the Hydra config of the same name from the repository's ``conf/`` and hands the
result to ``mesynth.<area>.run(cfg)``. The top-level ``train.py``/``infer.py``/``evaluate.py``
call these same functions, so both ways of starting a run are identical. ``python train.py``
with no arguments while the default dataset is missing runs ``experiment=pipeline_test``: a
small set made by :mod:`mesynth.prepare` from the face scikit-image ships, and tiny networks.

An error the user can fix prints one block and exits with status 2 (a config Hydra cannot
compose too); ``MESYNTH_DEBUG=1`` shows the traceback (see :mod:`mesynth.console`). Log lines
go through tqdm, so they never land on a progress bar's line.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path

import hydra
from omegaconf import DictConfig

from mesynth.config import CONF_ENV, conf_dir
from mesynth.console import USER_ERROR_EXIT, debugging, user_error_exit
from mesynth.launch import (
    LaunchError,
    await_run_dir,
    is_multi_task,
    launch_label,
    launch_rank,
    publish_run_dir,
)

__all__ = ["CONF_ENV", "conf_dir", "evaluate_main", "infer_main", "train_main"]

log = logging.getLogger(__name__)


def _given(argv: list[str], key: str) -> bool:
    return any(arg.lstrip("+").startswith(f"{key}=") for arg in argv)


def _shares_run_dir(argv: list[str]) -> bool:
    """Whether the run folder is decided here: one task of several, none named on the line
    (Lightning names it for the processes it starts itself), not a sweep."""
    sweep = any(arg in ("-m", "--multirun") for arg in argv)
    return is_multi_task() and not sweep and not _given(argv, "hydra.run.dir")


def _follow_rank_zero(config_name: str) -> None:
    """Every task but rank zero runs in the folder rank zero chose (its timestamp, say)."""
    sys.argv += [
        f"hydra.run.dir={await_run_dir()}",
        "hydra.output_subdir=null",  # rank zero writes the run's .hydra/ config
        f"hydra.job.name={config_name}_{launch_label()}",  # a log file of its own
    ]


def _launch(config_name: str, runner: Callable[[DictConfig], object]) -> None:
    started = []
    shared = _shares_run_dir(sys.argv[1:])
    publish = shared and launch_rank() == 0

    def task(cfg: DictConfig) -> None:
        from hydra.core.hydra_config import HydraConfig
        from tqdm.contrib.logging import logging_redirect_tqdm

        started.append(True)
        if publish:
            publish_run_dir(HydraConfig.get().runtime.output_dir)
        try:
            with logging_redirect_tqdm():
                runner(cfg)
        except BaseException as error:
            user_error_exit(error)
            raise

    try:
        if shared and not publish:
            _follow_rank_zero(config_name)
    except LaunchError as error:
        user_error_exit(error)
        raise
    try:
        hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name=config_name)(task)()
    except SystemExit as exit_:
        # Hydra reports a config it cannot compose (an unknown key or group option) in one
        # block and exits 1; that is a user error like any other.
        if exit_.code == 1 and not started and not debugging():
            sys.exit(USER_ERROR_EXIT)
        raise


PIPELINE_TEST = "experiment=pipeline_test"
REAL_DATA_HINT = (
    "To train on real data: `mesynth download celeba-hq-dataset`, then `python train.py`; or "
    "prepare your own photos with `mesynth prepare-data PHOTOS data/faces` and run "
    "`python train.py data.root=data/faces` (see README, Training)."
)


def pipeline_test_needed(arguments: list[str]) -> bool:
    """``python train.py`` with no arguments while the default dataset is not there."""
    if arguments:
        return False
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        cfg = compose(config_name="train")
    return not (Path(cfg.data.root) / "train").is_dir()


def train_or_pipeline_test(cfg: DictConfig) -> object:
    """Train as configured; for the pipeline test, make its small dataset first."""
    from mesynth.training import run

    test = cfg.get("pipeline_test")
    if not test:
        return run(cfg)
    from mesynth.prepare.example import ensure_pipeline_set

    log.warning(
        "no dataset at the default data.root: running the PIPELINE TEST (tiny networks on "
        "faces made from scikit-image's astronaut, into %s). %s",
        cfg.data.root,
        REAL_DATA_HINT,
    )
    ensure_pipeline_set(
        Path(cfg.data.root),
        Path(test.photos),
        int(test.photos_per_domain),
        int(cfg.model.net.img_size),
    )
    result = run(cfg)
    log.warning("pipeline test finished (outputs in %s). %s", cfg.paths.output_dir, REAL_DATA_HINT)
    return result


def train_main() -> None:
    if pipeline_test_needed(sys.argv[1:]):
        sys.argv.append(PIPELINE_TEST)
    _launch("train", train_or_pipeline_test)


def infer_main() -> None:
    from mesynth.synthesis import run

    _launch("infer", run)


def evaluate(cfg: DictConfig) -> dict:
    """``python evaluate.py``: every analysis registered (spotting's too), then the evaluation."""
    import mesynth.spotting.analysis  # noqa: F401  (registers task=spotting; light to import)
    from mesynth.evaluation import run

    return run(cfg)


def evaluate_main() -> None:
    _launch("evaluate", evaluate)
