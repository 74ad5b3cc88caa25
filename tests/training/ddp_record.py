"""A two-process CPU DDP training run that records, on every rank, the latent codes and the
batches each iteration used (run by tests/training/test_runner.py as
``python -m tests.training.ddp_record DATA_ROOT OUTPUT_DIR [override ...]``; Lightning starts
the second process with the same command)."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from mesynth.training import run
from mesynth.training.module import StarGANModule
from tests.training.conftest import compose_train, tiny_overrides


def main(data_root: str, output_dir: str, *overrides: str) -> None:
    record: dict[str, list] = {"latents": [], "batches": []}
    draw_latents = StarGANModule.draw_latents
    training_step = StarGANModule.training_step

    def recording_draw(self, count):
        codes = draw_latents(self, count)
        record["latents"].append(tuple(code.detach().clone() for code in codes))
        return codes

    def recording_step(self, batch, batch_idx):
        record["batches"].append({key: value.detach().clone() for key, value in batch.items()})
        return training_step(self, batch, batch_idx)

    StarGANModule.draw_latents = recording_draw
    StarGANModule.training_step = recording_step
    cfg = compose_train(
        tiny_overrides(Path(data_root), Path(output_dir), "trainer.devices=2", *overrides)
    )
    result = run(cfg)
    rank = result.trainer.global_rank
    record["world_size"] = result.trainer.world_size
    torch.save(record, Path(output_dir) / f"record_rank{rank}.pt")


if __name__ == "__main__":
    main(*sys.argv[1:])
