"""Sending the results to the configured logger (Hydra group ``logger``), through the logger.

The logger is instantiated from its config and used by what it can do: every logger gets the
config (``log_hyperparams``) and the summary numbers (``log_metrics``); one that logs tables and
images (``log_table``, ``log_image``: W&B) also gets one table per CSV and every figure, so runs
that differ only in, say, the reference strategy compare in one dashboard. ``logger=wandb`` is
offline unless its config says ``offline: false`` (the run lands in ``<output_dir>/wandb``;
``wandb sync`` uploads it later); ``logger=csv`` writes the numbers next to the CSV files;
``logger=none`` logs nothing.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig

from mesynth.config import to_plain

log = logging.getLogger(__name__)


def flat_numbers(data: dict, prefix: str = "") -> dict[str, float]:
    """The numbers of a nested summary, keyed ``a/b/c`` (booleans as 0/1; NaN kept)."""
    flat: dict[str, float] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flat_numbers(value, f"{name}/"))
        elif isinstance(value, bool):
            flat[name] = float(value)
        elif isinstance(value, int | float):
            flat[name] = float(value)
    return flat


def log_results(
    cfg: DictConfig, tables: dict[str, pd.DataFrame], figures: dict[str, Path], summary: dict
) -> object | None:
    """Log to the configured logger; returns the logger (None with ``logger=none``)."""
    logger_cfg = cfg.get("logger")
    if not logger_cfg:
        return None
    from hydra.utils import instantiate

    logger = instantiate(logger_cfg)
    logger.log_hyperparams(to_plain(cfg))
    logger.log_metrics(flat_numbers(summary))
    if hasattr(logger, "log_table"):
        for name, table in tables.items():
            logger.log_table(key=f"tables/{name}", dataframe=table.reset_index(drop=True))
    if hasattr(logger, "log_image"):
        for key, path in figures.items():
            logger.log_image(key=f"figures/{key}", images=[str(path)])
    logger.finalize("success")
    finish_run(logger)
    where = getattr(logger, "log_dir", None) or getattr(logger, "save_dir", None)
    log.info("results logged with %s to %s", type(logger).__name__, where)
    return logger


def finish_run(logger: object | None, failed: bool = False) -> None:
    """Close the logger's run (a W&B run stays open until it is finished).

    Without this the next run in the same process (a sweep, a test session) would silently log
    into the one before: W&B hands back the run in progress instead of starting a new one.
    """
    if not logger:  # None, or False for "no logger" as Lightning takes it
        return
    experiment = getattr(logger, "_experiment", None)  # never start a run just to close it
    finish = getattr(experiment, "finish", None)
    if callable(finish):
        finish(exit_code=1 if failed else 0)
