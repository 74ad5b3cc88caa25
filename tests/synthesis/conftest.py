"""Tiny networks, checkpoints and frame folders for the synthesis tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from skimage.data import astronaut

from mesynth.checkpoint import save_official
from mesynth.nets import build_nets

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
TINY = {"img_size": 64, "max_conv_dim": 64}
FRAME_SIZE = (72, 96)  # (height, width) of the source frames: scaled, not just copied


def tiny_nets(w_hpf: float = 0.0, seed: int = 0):
    torch.manual_seed(seed)
    nets = build_nets(w_hpf=w_hpf, **TINY)
    for name in ("generator", "style_encoder", "mapping_network"):
        nets[name].eval()
    return nets


def save_tiny_checkpoint(path: Path, w_hpf: float) -> Path:
    nets = tiny_nets(w_hpf)
    names = ("generator", "mapping_network", "style_encoder") + (("fan",) if w_hpf else ())
    save_official(nets, path, names=names)
    return path


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory) -> Path:
    return save_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny_nets_ema.ckpt", 0.0)


@pytest.fixture(scope="session")
def tiny_hpf_ckpt(tmp_path_factory) -> Path:
    return save_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny_hpf_nets_ema.ckpt", 1.0)


def face_frame(index: int, size: tuple[int, int] = FRAME_SIZE) -> np.ndarray:
    """A greyscale face (the astronaut photo) that moves a little from frame to frame."""
    grey = cv2.cvtColor(astronaut()[:300, 80:380], cv2.COLOR_RGB2GRAY)
    grey = np.roll(grey, 3 * index, axis=1)
    return cv2.resize(grey, (size[1], size[0]), interpolation=cv2.INTER_AREA)


def make_samm(root: Path, videos: dict[str, int]) -> Path:
    """SAMM-LV layout: ``root/<subject>_<video>/<subject>_<video>_<NNNN>.jpg``, frames from 1."""
    for video, count in videos.items():
        folder = root / video
        folder.mkdir(parents=True, exist_ok=True)
        for number in range(1, count + 1):
            path = folder / f"{video}_{number:04d}.jpg"
            assert cv2.imwrite(str(path), face_frame(number), [cv2.IMWRITE_JPEG_QUALITY, 95])
    return root


@pytest.fixture
def samm(tmp_path: Path) -> Path:
    return make_samm(tmp_path / "samm", {"006_1": 5, "007_2": 3})


@pytest.fixture
def reference_image(tmp_path: Path) -> Path:
    path = tmp_path / "reference.png"
    image = cv2.resize(astronaut()[20:260, 160:400], (80, 80), interpolation=cv2.INTER_AREA)
    assert cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return path


def compose_infer(overrides: list[str], output_dir: Path):
    """The real ``conf/infer.yaml`` with command-line overrides, as ``python infer.py`` sees it."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(
            config_name="infer",
            overrides=[*overrides, f"paths.output_dir={output_dir}", "progress=false"],
        )


def read_png(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, path
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
