"""``python train.py`` as one task of a multi-node launch, saving what this rank holds after the
run (run by tests/training/test_nodes.py as ``python -m tests.training.node_state [override ...]``
once per simulated node): every tensor of the module and of the optimisers, in the run folder."""

from __future__ import annotations

import torch

import mesynth.training
from mesynth.cli import train_main
from mesynth.launch import launch_label

train = mesynth.training.run


def run_and_save(cfg):
    result = train(cfg)
    state = {
        "module": result.module.state_dict(),
        "optimizers": [optimizer.state_dict() for optimizer in result.trainer.optimizers],
        "global_rank": result.trainer.global_rank,
        "world_size": result.trainer.world_size,
    }
    torch.save(state, result.output_dir / f"state_{launch_label()}.pt")
    return result


if __name__ == "__main__":
    mesynth.training.run = run_and_save
    train_main()
