"""Iteration-based callbacks: progress bar, checkpoints (+ official EMA export), sample grids."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from tqdm import tqdm

from mesynth.checkpoint import export_official
from mesynth.training.module import StarGANModule
from mesynth.training.samples import captioned, latent_grid, reference_grid, save_grid

log = logging.getLogger(__name__)


def _due(iteration: int, every: int) -> bool:
    return every > 0 and iteration > 0 and iteration % every == 0


class IterationProgress(Callback):
    """A tqdm bar over iterations (rate and ETA for the whole run) with the latest losses."""

    def __init__(self, total_iters: int) -> None:
        self.total_iters = total_iters
        self.bar: tqdm | None = None

    def on_train_start(self, trainer: L.Trainer, module: StarGANModule) -> None:
        if trainer.is_global_zero:
            self.bar = tqdm(
                total=self.total_iters, initial=module.iteration, desc="training", unit="it"
            )

    def on_train_batch_end(self, trainer, module: StarGANModule, outputs, batch, batch_idx):
        if self.bar is None:
            return
        self.bar.update(module.iteration - self.bar.n)
        losses = module.last_losses
        if losses:
            self.bar.set_postfix(
                D=f"{losses['D/latent_real'] + losses['D/latent_fake']:.3f}",
                G=f"{losses['G/latent_adv']:.3f}",
                cyc=f"{losses['G/latent_cyc']:.3f}",
                refresh=False,
            )

    def on_train_end(self, trainer, module) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class IterationCheckpoint(Callback):
    """Every ``every`` iterations and at the end: a resumable Lightning checkpoint
    (``iter_<N>.ckpt`` and ``last.ckpt``) and the EMA networks in the official layout
    (``<N>_nets_ema.ckpt``). Files appear under their final names only when complete."""

    def __init__(self, dirpath: str | Path, every: int, export_ema: bool = True) -> None:
        self.dirpath = Path(dirpath)
        self.every = every
        self.export_ema = export_ema
        self.saved_at: int | None = None

    def on_train_batch_end(self, trainer, module: StarGANModule, outputs, batch, batch_idx):
        if _due(module.iteration, self.every):
            self.save(trainer, module)

    def on_train_end(self, trainer, module: StarGANModule) -> None:
        if module.iteration > 0 and self.saved_at != module.iteration:
            self.save(trainer, module)

    def save(self, trainer: L.Trainer, module: StarGANModule) -> None:
        if trainer.fast_dev_run:
            return
        iteration = module.iteration
        final = self.dirpath / f"iter_{iteration:06d}.ckpt"
        partial = final.with_name(final.name + ".partial")
        if trainer.is_global_zero:
            self.dirpath.mkdir(parents=True, exist_ok=True)
        trainer.strategy.barrier("mesynth_checkpoint_dir")
        # Every rank takes part; rank 0 writes. A full checkpoint (optimisers, loops) to resume.
        trainer.save_checkpoint(partial, weights_only=False)
        if trainer.is_global_zero:
            os.replace(partial, final)
            last = self.dirpath / "last.ckpt"
            last_partial = last.with_name(last.name + ".partial")
            if last_partial.exists():
                last_partial.unlink()
            try:
                os.link(final, last_partial)
            except OSError:  # file systems without hard links
                shutil.copyfile(final, last_partial)
            os.replace(last_partial, last)
            if self.export_ema:
                export_official(module.ema_view(), self.dirpath / f"{iteration:06d}_nets_ema.ckpt")
            log.info("iteration %d: saved %s", iteration, final)
        trainer.strategy.barrier("mesynth_checkpoint_saved")
        self.saved_at = iteration


class SampleGrids(Callback):
    """Reference- and latent-guided grids of the EMA networks from the same inputs all run long,
    written to ``<dirpath>/<N>_reference.png`` and ``<N>_latent.png`` and sent to loggers that
    take images (W&B)."""

    def __init__(
        self,
        inputs: Mapping[str, torch.Tensor],
        z_codes: torch.Tensor,
        dirpath,
        every: int,
        caption: str | None = None,
    ) -> None:
        self.caption = caption  # written across the top of every grid (``run_label``)
        self.inputs = dict(inputs)
        self.z_codes = z_codes
        self.dirpath = Path(dirpath)
        self.every = every
        self.written_at: int | None = None

    def on_train_batch_end(self, trainer, module: StarGANModule, outputs, batch, batch_idx):
        if _due(module.iteration, self.every):
            self.write(trainer, module)

    def on_train_end(self, trainer, module: StarGANModule) -> None:
        if module.iteration > 0 and self.written_at != module.iteration:
            self.write(trainer, module)

    def write(self, trainer: L.Trainer, module: StarGANModule) -> dict[str, Path]:
        self.written_at = module.iteration
        if not trainer.is_global_zero:
            return {}
        device = module.device
        nets = module.ema_view()
        x_src = self.inputs["x_src"].to(device)
        grids = {
            "reference": reference_grid(
                nets, x_src, self.inputs["x_ref"].to(device), self.inputs["y_ref"].to(device)
            ),
            "latent": latent_grid(nets, x_src, self.z_codes.to(device), len(module.domains)),
        }
        written = {}
        for kind, grid in grids.items():
            if self.caption:
                grid = captioned(grid, self.caption)
            written[kind] = save_grid(grid, self.dirpath / f"{module.iteration:06d}_{kind}.png")
            for logger in module.loggers:
                if hasattr(logger, "log_image"):
                    logger.log_image(
                        key=f"samples/{kind}", images=[grid.cpu()], step=module.iteration
                    )
        return written
