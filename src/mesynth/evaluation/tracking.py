"""Sending the results to the configured logger (Hydra group ``logger``).

``logger=wandb`` logs to Weights & Biases through the ``wandb`` package (offline unless the
config says ``offline: false``; the run lands in ``<output_dir>/wandb``, ``wandb sync`` uploads
it later): one table per CSV, every figure, and the summary numbers, so runs that differ only in
the reference strategy compare in one dashboard. ``logger=csv`` and ``logger=none`` add nothing
to the files every evaluation writes anyway.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from mesynth.evaluation.common import EvaluationInputError
from mesynth.evaluation.report import Results

log = logging.getLogger(__name__)


def _flat_numbers(data: dict, prefix: str = "") -> dict[str, float | int | bool | str]:
    flat: dict = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flat_numbers(value, f"{name}/"))
        elif isinstance(value, (int, float, bool, str)) or value is None:
            flat[name] = value
    return flat


def log_results(
    logger_cfg: DictConfig | None, output_dir: Path, results: Results, cfg: DictConfig
) -> Path | None:
    """Log to the configured logger; returns the W&B run directory when one was written."""
    target = str(logger_cfg.get("_target_", "")) if logger_cfg else ""
    if not target:
        return None
    if target.endswith("WandbLogger"):
        return log_wandb(logger_cfg, output_dir, results, OmegaConf.to_container(cfg, resolve=True))
    if target.endswith("CSVLogger"):
        log.info("logger=csv: the results are the CSV files in %s", output_dir)
        return None
    raise EvaluationInputError(
        f"logger._target_={target} is not something evaluate.py can log to; use logger=wandb, "
        "logger=csv or logger=none"
    )


def log_wandb(logger_cfg: DictConfig, output_dir: Path, results: Results, config: dict) -> Path:
    """One W&B run with every table, figure and summary number of ``results``."""
    import wandb

    offline = bool(logger_cfg.get("offline", True))
    if offline:
        # Belt and braces: nothing in an offline run may reach the network.
        os.environ["WANDB_MODE"] = "offline"
    run = wandb.init(
        project=logger_cfg.get("project") or "mesynth",
        name=logger_cfg.get("name"),
        group=logger_cfg.get("group"),
        tags=list(logger_cfg.get("tags") or []) or None,
        dir=str(output_dir),
        mode="offline" if offline else "online",
        job_type="evaluate",
        config=config,
        settings=wandb.Settings(console="off", silent=True),
    )
    try:
        run.log(
            {
                f"tables/{name}": wandb.Table(dataframe=table.reset_index(drop=True))
                for name, table in results.tables().items()
            }
        )
        run.log({f"figures/{key}": wandb.Image(str(path)) for key, path in results.figures.items()})
        run.summary.update(_flat_numbers(results.summary))
    finally:
        run.finish()
    run_dir = Path(run.dir).parent
    log.info(
        "W&B run written to %s%s",
        run_dir,
        " (offline; `wandb sync` it to upload)" if offline else "",
    )
    return run_dir
