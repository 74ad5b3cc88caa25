"""Who is rank zero of a launch, and how the other tasks learn rank zero's run folder."""

from __future__ import annotations

import json
import os
import time

import pytest

from mesynth import launch

LAUNCH_VARIABLES = (
    *launch.RANK_VARIABLES,
    "WORLD_SIZE",
    "SLURM_NTASKS",
    "SLURM_JOB_ID",
    "SLURM_STEP_ID",
    "TORCHELASTIC_RUN_ID",
    "TORCHELASTIC_RESTART_COUNT",
    "MASTER_ADDR",
    "MASTER_PORT",
)


@pytest.fixture
def env(monkeypatch):
    for name in LAUNCH_VARIABLES:
        monkeypatch.delenv(name, raising=False)

    def set_env(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return set_env


def test_a_plain_process_is_rank_zero_of_no_launch(env) -> None:
    assert not launch.is_multi_task() and launch.launch_rank() == 0


@pytest.mark.parametrize(
    ("values", "rank"),
    [
        ({"SLURM_NTASKS": "4", "SLURM_PROCID": "0", "SLURM_JOB_ID": "77"}, 0),
        ({"SLURM_NTASKS": "4", "SLURM_PROCID": "3", "SLURM_JOB_ID": "77"}, 3),
        ({"WORLD_SIZE": "8", "RANK": "5", "LOCAL_RANK": "1", "GROUP_RANK": "2"}, 5),
        ({"WORLD_SIZE": "8", "RANK": "0", "LOCAL_RANK": "0", "GROUP_RANK": "0"}, 0),
        ({"NODE_RANK": "1", "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29400"}, 1000),
        ({"NODE_RANK": "0", "LOCAL_RANK": "1", "WORLD_SIZE": "2"}, 1),
        ({"NODE_RANK": "0", "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29400"}, 0),
    ],
)
def test_the_launchers_ranks(env, values, rank) -> None:
    env(**values)
    assert launch.is_multi_task()
    assert launch.launch_rank() == rank


def test_every_task_of_a_launch_has_one_key_and_another_launch_another(env) -> None:
    env(SLURM_NTASKS="2", SLURM_JOB_ID="1234", SLURM_STEP_ID="0", SLURM_PROCID="1")
    assert launch.launch_key() == "slurm-1234.0"
    os.environ["SLURM_STEP_ID"] = "1"
    assert launch.launch_key() == "slurm-1234.1"
    for name in ("SLURM_NTASKS", "SLURM_JOB_ID", "SLURM_STEP_ID", "SLURM_PROCID"):
        del os.environ[name]
    env(TORCHELASTIC_RUN_ID="job9", TORCHELASTIC_RESTART_COUNT="2", RANK="1", WORLD_SIZE="2")
    assert launch.launch_key() == "torchrun-job9.2"
    env(TORCHELASTIC_RUN_ID="none", MASTER_ADDR="node01", MASTER_PORT="29500")
    assert launch.launch_key() == "node01-29500.2"


def test_the_other_tasks_take_rank_zeros_folder_and_not_an_old_one(env, tmp_path) -> None:
    env(WORLD_SIZE="2", RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT="29911")
    handshake = tmp_path / "handshake"
    note = launch.publish_run_dir(tmp_path / "outputs" / "train" / "run-a", handshake)
    assert json.loads(note.read_text())["run_dir"] == str(tmp_path / "outputs/train/run-a")
    os.environ["RANK"] = "1"
    assert launch.await_run_dir(1.0, handshake) == str(tmp_path / "outputs/train/run-a")

    # A note an earlier launch with the same key left an hour before this task started.
    stale = json.loads(note.read_text()) | {"time": time.time() - 3600}
    note.write_text(json.dumps(stale))
    with pytest.raises(launch.LaunchError, match="rank 1 waited 0 s.*hydra.run.dir=DIR"):
        launch.await_run_dir(0.3, handshake)


def test_labels_name_the_task_as_its_launcher_counts(env) -> None:
    env(NODE_RANK="1", LOCAL_RANK="2")
    assert launch.launch_label() == "node1-local2"
    env(RANK="7", WORLD_SIZE="8")
    assert launch.launch_label() == "rank7"
