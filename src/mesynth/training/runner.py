"""``python train.py``: compose the pieces from the Hydra config and fit."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import hydra
import lightning as L
import torch
from lightning.pytorch.strategies import DDPStrategy
from munch import Munch
from omegaconf import DictConfig

from mesynth.checkpoint import CheckpointError, detect_format, read_checkpoint
from mesynth.config import to_plain
from mesynth.tracking import finish_run
from mesynth.training.callbacks import IterationCheckpoint, IterationProgress, SampleGrids
from mesynth.training.finetune import (
    apply_start_weights,
    freeze,
    load_landmark_weights,
    read_start_weights,
)
from mesynth.training.module import CHECKPOINT_KEY, StarGANModule

log = logging.getLogger(__name__)

DDP_START_METHODS = {
    "ddp": "popen",
    "ddp_spawn": "spawn",
    "ddp_fork": "fork",
    "ddp_notebook": "fork",
    "ddp_forkserver": "forkserver",
}


def requested_devices(trainer_cfg: DictConfig) -> int:
    """How many processes the trainer settings ask for on this node (best effort)."""
    devices = trainer_cfg.get("devices", 1)
    accelerator = str(trainer_cfg.get("accelerator", "auto"))
    if isinstance(devices, str) and devices.strip().lstrip("-").isdigit():
        devices = int(devices)
    if isinstance(devices, str) and "," in devices:
        return len([d for d in devices.split(",") if d.strip()])
    if devices in ("auto", -1):
        if accelerator == "cpu" or not torch.cuda.is_available():
            return 1
        return torch.cuda.device_count()
    if isinstance(devices, int):
        return devices
    return len(list(devices))


def resolve_strategy(trainer_cfg: DictConfig):
    """DDP needs ``find_unused_parameters``: each of the four updates uses a different subset
    of the networks (e.g. the reference-guided ones never touch the mapping network)."""
    strategy = trainer_cfg.get("strategy", "auto")
    if not isinstance(strategy, str):
        return hydra.utils.instantiate(strategy)
    name = strategy.lower()
    several = requested_devices(trainer_cfg) > 1 or int(trainer_cfg.get("num_nodes", 1)) > 1
    if name == "auto" and several:
        name = "ddp"
    if name.startswith("ddp"):
        base = name.removesuffix("_find_unused_parameters_true")
        if base not in DDP_START_METHODS:
            raise ValueError(
                f"trainer.strategy={strategy} is not supported for training; use one of "
                f"{sorted(DDP_START_METHODS)} (mesynth adds find_unused_parameters=True)"
            )
        # Buffers are constants (landmark-net statistics, the high-pass kernel): no broadcasts.
        return DDPStrategy(
            start_method=DDP_START_METHODS[base],
            find_unused_parameters=True,
            broadcast_buffers=False,
        )
    return strategy


def build_logger(cfg: DictConfig):
    """The configured logger; none for `logger=none` and for fast_dev_run (as Lightning)."""
    if cfg.get("logger") is None or "_target_" not in cfg.logger:
        return False
    if cfg.trainer.get("fast_dev_run"):
        return False
    return hydra.utils.instantiate(cfg.logger)


def build_module(cfg: DictConfig, domains: list[str]) -> StarGANModule:
    """The module with its starting weights: from scratch (He init) or a checkpoint."""
    model = cfg.model
    module = StarGANModule(
        net=to_plain(model.net),
        domains=domains,
        optim=to_plain(model.optim),
        loss=to_plain(model.loss),
        ema_beta=float(model.ema_beta),
        total_iters=int(cfg.schedule.total_iters),
        log_every=int(cfg.schedule.log_every),
        seed=int(cfg.seed),
    )
    finetune = cfg.finetune
    resuming = cfg.get("ckpt_path") is not None
    landmarks_loaded = False
    if finetune.checkpoint and not resuming:
        start = read_start_weights(finetune.checkpoint, model.wing_path, finetune.discriminator)
        landmarks_loaded = apply_start_weights(
            module,
            start,
            checkpoint_domains=finetune.checkpoint_domains,
            domain_map=finetune.domain_map,
            new_domains=finetune.new_domains,
        )
    if module.fan is not None and not landmarks_loaded and not resuming:
        load_landmark_weights(module, model.wing_path)
    freeze(module, finetune.freeze)
    return module


def check_resume_checkpoint(path: str | Path) -> None:
    """Read ``ckpt_path`` with mesynth's restricted reader before Lightning sees it, so that a
    damaged, foreign or tampered file stops with a clear message (and runs no code)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"ckpt_path={path} does not exist; give a Lightning checkpoint of a previous run, "
            "e.g. outputs/train/<run>/checkpoints/last.ckpt"
        )
    data = read_checkpoint(path)
    if detect_format(data) != "lightning" or CHECKPOINT_KEY not in data:
        raise CheckpointError(
            f"ckpt_path={path} is not a checkpoint of a mesynth training run (found keys "
            f"{sorted(data)[:6]}); ckpt_path resumes runs of `python train.py` "
            "(outputs/train/<run>/checkpoints/last.ckpt). To start from official StarGAN v2 "
            "weights use finetune.checkpoint=... instead"
        )


def _callbacks(cfg: DictConfig, datamodule, module, output_dir: Path, label) -> list:
    """Progress, checkpoints, sample grids (fixed sources and latent codes) and, when
    ``schedule.eval_every`` is set, the metrics."""
    samples = cfg.samples
    inputs = datamodule.sample_batch(int(samples.num_sources))
    generator = torch.Generator().manual_seed(int(samples.seed))
    z_codes = torch.randn(
        int(samples.num_latents), 1, module.net_config.latent_dim, generator=generator
    )
    schedule = cfg.schedule
    callbacks = [
        IterationProgress(int(schedule.total_iters)),
        IterationCheckpoint(output_dir / "checkpoints", int(schedule.save_every)),
        SampleGrids(
            inputs, z_codes, output_dir / "samples", int(schedule.sample_every), caption=label
        ),
    ]
    if int(schedule.eval_every) > 0:
        from mesynth.training.metrics import MetricsCallback

        callbacks.append(
            MetricsCallback(
                to_plain(cfg.metrics), datamodule, output_dir / "metrics", schedule.eval_every
            )
        )
    return callbacks


def run(cfg: DictConfig) -> Munch:
    """Train (or fine-tune, or resume) as configured; returns the trainer, module, data."""
    L.seed_everything(int(cfg.seed), workers=True)
    output_dir = Path(cfg.paths.output_dir)
    if cfg.get("ckpt_path") is not None:
        check_resume_checkpoint(cfg.ckpt_path)
    datamodule = hydra.utils.instantiate(
        cfg.data, img_size=int(cfg.model.net.img_size), seed=int(cfg.seed)
    )
    datamodule.setup("fit")
    module = build_module(cfg, datamodule.domains)
    label = cfg.get("run_label")
    if label:
        module.run_label = str(label)
        log.warning("%s", label)

    callbacks = _callbacks(cfg, datamodule, module, output_dir, label)
    logger = build_logger(cfg)
    if logger:
        logger.log_hyperparams(to_plain(cfg))
    trainer = hydra.utils.instantiate(
        cfg.trainer,
        logger=logger,
        callbacks=callbacks,
        strategy=resolve_strategy(cfg.trainer),
        # The sampler draws each process's share itself (see BalancedBatchSampler).
        use_distributed_sampler=False,
    )
    log.info("output directory: %s", output_dir)
    with warnings.catch_warnings():
        # The EMA copies and the landmark network are in eval mode on purpose.
        warnings.filterwarnings("ignore", r"Found \d+ module\(s\) in eval mode", UserWarning)
        # Our checkpoints hold only tensors and plain containers: nothing else may be unpickled.
        try:
            trainer.fit(
                module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"), weights_only=True
            )
        except BaseException:
            finish_run(logger, failed=True)
            raise
    finish_run(logger)
    if label:
        log.warning("%s", label)
    return Munch(trainer=trainer, module=module, datamodule=datamodule, output_dir=output_dir)
