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
import torch
import torch.nn.functional as F

from mesynth.checkpoint import load_nets, save_official
from mesynth.faces.crop import Crop
from mesynth.nets.masks import NOSE, TRUNCATE_BELOW
from mesynth.synthesis import run
from mesynth.synthesis.networks import images_to_tensor
from mesynth.synthesis.output import SynthesisOutput
from mesynth.video.layouts import open_sources

from .conftest import TINY, compose_infer, make_samm, read_png, tiny_nets
from .test_pipeline import REPO

VIDEOS = {"006_1": 5, "007_2": 2}
# The heatmap put at the cut-off: the nose tip, which reaches the mask unshifted and unpowered.
CHANNEL = NOSE[0]
# float32 spacing at 0.1 is 7.5e-9: a few of these is what another summation order moves.
NEAR = 4 * 7.5e-9


def network_input(source: Path) -> torch.Tensor:
    """The frames of every video as the synthesis pipeline hands them to the networks."""
    frames = []
    for video in open_sources(source, layout="samm_lv"):
        crop = Crop.full_frame(video.frame_size, TINY["img_size"])
        frames += [crop.apply(frame, i) for i, frame in video.iter_frames(0, len(video))]
    return images_to_tensor(torch.from_numpy(np.stack(frames)))


def heatmaps(fan, x: torch.Tensor) -> torch.Tensor:
    """The 98 heatmaps at 256 px that the 0.1 cut-off is applied to (as in get_heatmap)."""
    maps = fan.landmark_heatmaps(x)
    return F.interpolate(maps, size=(256, 256), mode="bilinear", align_corners=True)


@pytest.fixture(scope="module")
def threshold_ckpt(tmp_path_factory) -> tuple[Path, Path]:
    """Networks whose nose-tip heatmap sits within about 1e-6 of the 0.1 cut-off on the test
    frames (the others far below it), so that rounding in another order flips the cut-off, and
    with it the high-pass mask, at many pixels."""
    root = tmp_path_factory.mktemp("threshold")
    source = make_samm(root / "samm", VIDEOS)
    nets = tiny_nets(w_hpf=1.0)
    last = nets.fan.l0
    with torch.no_grad():
        raw = nets.fan.landmark_heatmaps(network_input(source))  # (N, 98, 64, 64)
        centred = raw - last.bias[:-1].view(1, -1, 1, 1)
        scale = 1e-6 / centred.std().item()
        last.weight.mul_(scale)
        last.bias.mul_(0)
        last.bias[:-1] = -1.0  # every heatmap far below the cut-off but one
        last.bias[CHANNEL] = TRUNCATE_BELOW - scale * centred[:, CHANNEL].mean()
    names = ("generator", "mapping_network", "style_encoder", "fan")
    return save_official(nets, root / "threshold_nets_ema.ckpt", names=names), source


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
    threshold_ckpt, reference_image, tmp_path
) -> None:
    # 7 frames over 2 nodes: 006_1 is cut between them and joined by node 0. The landmark
    # heatmaps sit at the mask's 0.1 cut-off, so equal frames need equal rounding on each node.
    ckpt, source = threshold_ckpt
    line = [
        f"ckpt={ckpt}",
        f"source={source}",
        f"reference.path={reference_image}",
        "reference.domain=1",
        "crop=none",
        "num_threads=1",
        "num_workers=0",
    ]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    maps = heatmaps(load_nets(ckpt).fan, network_input(source))[:, CHANNEL]
    torch.set_num_threads(threads)
    near = (maps - TRUNCATE_BELOW).abs() < NEAR
    assert near.sum() > 5_000, int(near.sum())  # of 7 x 256 x 256
    above = maps >= TRUNCATE_BELOW
    assert 0.2 < above.float().mean() < 0.8
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
    for video, count in VIDEOS.items():
        names = sorted(p.name for p in (single / video).iterdir())
        assert sorted(p.name for p in (folder / video).iterdir()) == names
        assert len(names) == count
        for name in names:
            np.testing.assert_array_equal(
                read_png(single / video / name), read_png(folder / video / name), err_msg=name
            )
