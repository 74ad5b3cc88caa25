"""Tiny face-like datasets and tiny configs for the training tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig
from PIL import Image, ImageDraw
from skimage import data as skdata

from mesynth.training import run

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
FACE_BOX = (135, 25, 315, 205)  # the astronaut's face in skimage.data.astronaut()
EYES = ((195, 105), (255, 105))


def face_image(rng: np.random.Generator, size: int, glasses: bool) -> Image.Image:
    """A jittered, re-lit crop of a real face photo; ``glasses`` draws dark spectacles."""
    photo = Image.fromarray(skdata.astronaut())
    if glasses:
        draw = ImageDraw.Draw(photo)
        for x, y in EYES:
            draw.ellipse((x - 20, y - 14, x + 20, y + 14), fill=(20, 20, 25), outline=(0, 0, 0))
        draw.line((EYES[0][0] + 20, 105, EYES[1][0] - 20, 105), fill=(0, 0, 0), width=4)
    dx, dy = rng.integers(-12, 13, size=2)
    left, top, right, bottom = FACE_BOX
    crop = photo.crop((left + dx, top + dy, right + dx, bottom + dy)).resize((size, size))
    pixels = np.asarray(crop).astype(np.float32) * rng.uniform(0.8, 1.2)
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8))


def make_face_folder(
    root: Path,
    domains: Sequence[str] = ("plain", "glasses"),
    per_domain: int = 3,
    size: int = 64,
    seed: int = 0,
) -> Path:
    """``root/<domain>/<n>.jpg``; domains whose name contains 'glasses' wear them."""
    rng = np.random.default_rng(seed)
    for domain in domains:
        (root / domain).mkdir(parents=True, exist_ok=True)
        for index in range(per_domain):
            image = face_image(rng, size, glasses="glasses" in domain)
            image.save(root / domain / f"{index:03d}.jpg", quality=90)
    return root


@pytest.fixture(scope="session")
def face_folder(tmp_path_factory) -> Path:
    return make_face_folder(tmp_path_factory.mktemp("faces"))


def tiny_overrides(data_root: Path, output_dir: Path, *extra: str) -> list[str]:
    """A CPU run of the smallest networks on ``data_root`` (layout folder), logging to CSV."""
    return [
        "experiment=smoke",
        f"data.root={data_root}",
        f"paths.output_dir={output_dir}",
        "data.batch_size=1",
        "samples.num_sources=2",
        "samples.num_latents=1",
        *extra,
    ]


def compose_train(overrides: Sequence[str]) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides))


RUN_SETTINGS = ("schedule.save_every=2", "schedule.sample_every=4", "model.loss.ds_iter=4")


@pytest.fixture(scope="session")
def trained_run(face_folder, tmp_path_factory):
    """Four uninterrupted iterations with checkpoints after 2 and 4 (shared by the output,
    resume and fine-tuning tests)."""
    output_dir = tmp_path_factory.mktemp("trained")
    cfg = compose_train(
        tiny_overrides(face_folder, output_dir, "schedule.total_iters=4", *RUN_SETTINGS)
    )
    return run(cfg)
