"""Training on two simulated nodes with one process each (gloo on localhost, one shared
folder), started the way a cluster starts them: the same command twice, told apart only by
NODE_RANK. One run folder, and every rank ends the run holding the same tensors."""

from __future__ import annotations

import sys

import pytest
import torch

from tests.synthesis.test_nodes import start_nodes, wait_all
from tests.training.test_runner import assert_identical


@pytest.mark.slow
def test_two_nodes_train_into_one_run_folder_and_end_in_sync(face_folder, tmp_path) -> None:
    command = [sys.executable, "-m", "tests.training.node_state", "experiment=smoke"]
    command += [
        f"data.root={face_folder}",
        "data.batch_size=1",
        "samples.num_sources=2",
        "samples.num_latents=1",
        "schedule.total_iters=2",
        "schedule.save_every=2",
        "trainer.accelerator=cpu",
        "trainer.devices=1",
        "trainer.num_nodes=2",
        "trainer.strategy=ddp",
    ]
    wait_all(start_nodes(command, tmp_path), timeout=500)

    # One run folder (the timestamp rank zero chose), holding what both ranks wrote.
    (run_dir,) = (tmp_path / "outputs" / "train").iterdir()
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert (run_dir / ".hydra" / "config.yaml").is_file()
    assert sorted(p.name for p in run_dir.glob("*.log")) == ["train.log", "train_node1-local0.log"]
    states = [torch.load(run_dir / f"state_node{n}-local0.pt") for n in (0, 1)]
    assert [(s["global_rank"], s["world_size"]) for s in states] == [(0, 2), (1, 2)]
    assert len(states[0]["module"]) > 100 and states[0]["optimizers"][0]["state"]
    assert_identical(states[0]["module"], states[1]["module"], "module")
    assert_identical(states[0]["optimizers"], states[1]["optimizers"], "optimizers")
