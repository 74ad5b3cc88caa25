"""Two simulated nodes with one process each (gloo on localhost, one shared folder), started the
way a cluster starts them: the same command twice, told apart only by NODE_RANK."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mesynth.synthesis import run
from mesynth.synthesis.output import SynthesisOutput

from .conftest import compose_infer, make_samm, read_png
from .test_pipeline import REPO


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_nodes(command: list[str], cwd: Path, nodes: int = 2) -> list[subprocess.Popen]:
    """``command`` once per node, as srun or a hand-started multi-node run would."""
    port = str(free_port())
    python_path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    processes = []
    for node in range(nodes):
        env = {
            **os.environ,
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": port,
            "NODE_RANK": str(node),
            "PL_TORCH_DISTRIBUTED_BACKEND": "gloo",
            "PYTHONWARNINGS": "ignore",
            "PYTHONPATH": python_path,
        }
        for name in ("LOCAL_RANK", "RANK", "WORLD_SIZE", "SLURM_NTASKS", "SLURM_PROCID"):
            env.pop(name, None)
        processes.append(
            subprocess.Popen(
                command,
                cwd=cwd,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    return processes


def wait_all(processes: list[subprocess.Popen], timeout: float) -> list[str]:
    outputs = []
    try:
        for process in processes:
            outputs.append(process.communicate(timeout=timeout)[0])
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == 0, output[-4000:]
    return outputs


@pytest.mark.slow
def test_two_nodes_write_every_frame_once_into_one_folder(
    tiny_hpf_ckpt, reference_image, tmp_path
) -> None:
    # 7 frames over 2 nodes: 006_1 is cut between them and joined by node 0.
    source = make_samm(tmp_path / "samm", {"006_1": 5, "007_2": 2})
    line = [
        f"ckpt={tiny_hpf_ckpt}",
        f"source={source}",
        f"reference.path={reference_image}",
        "reference.domain=1",
        "crop=none",
        "num_threads=1",
        "num_workers=0",
    ]
    cluster = tmp_path / "cluster"
    cluster.mkdir()
    command = [sys.executable, str(REPO / "infer.py"), *line, "progress=false"]
    command += ["trainer.accelerator=cpu", "trainer.devices=1", "trainer.num_nodes=2"]
    command += ["trainer.strategy=ddp"]
    logs = wait_all(start_nodes(command, cluster), timeout=400)
    assert "joined 2 segments of 006_1" in logs[0]

    # No output_dir: both nodes derived the same folder, and ran in one Hydra folder.
    (folder,) = (cluster / "outputs" / "synth").iterdir()
    (hydra_dir,) = (cluster / "outputs" / "infer").iterdir()
    assert sorted(p.name for p in hydra_dir.glob("*.log")) == [
        "infer.log",
        "infer_node1-local0.log",
    ]
    output = SynthesisOutput(folder)
    manifest = output.read_manifest()
    assert {name: r.status for name, r in manifest.videos.items()} == {
        "006_1": "done",
        "007_2": "done",
    }
    assert not (folder / ".segments").exists() and not list(folder.glob("*.partial"))

    single = tmp_path / "single"
    run(compose_infer([*line, f"output_dir={single}"], tmp_path / "hydra"))
    for video, count in (("006_1", 5), ("007_2", 2)):
        names = sorted(p.name for p in (single / video).iterdir())
        assert sorted(p.name for p in (folder / video).iterdir()) == names
        assert len(names) == count
        for name in names:
            np.testing.assert_array_equal(
                read_png(single / video / name), read_png(folder / video / name), err_msg=name
            )
