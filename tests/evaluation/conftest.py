"""Shared fixtures: the demo clip, a synthesis-like output made from it, and evaluation runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mesynth.faces.crop import Crop
from tests.evaluation.helpers import evaluation_config, make_csv_dataset, write_synthesis_output

DEMO_SECONDS, DEMO_FPS, DEMO_SIZE, CROP_SIZE = 8.0, 50.0, 256, 192


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    """The demo clip (SAMM-LV layout, 400 frames, scheduled AU12 / AU4 / AU45 events)."""
    from mesynth.video.demo_clip import make_demo

    root = tmp_path_factory.mktemp("demo")
    return make_demo(root, seconds=DEMO_SECONDS, fps=DEMO_FPS, frame_size=DEMO_SIZE, progress=False)


def demo_crop() -> Crop:
    """A fixed crop (scale and shift), as synthesis would save for the demo clip."""
    scale = CROP_SIZE / 216
    return Crop(
        "fixed",
        CROP_SIZE,
        (DEMO_SIZE, DEMO_SIZE),
        matrix=[[scale, 0, -20 * scale], [0, scale, -20 * scale]],
    )


@pytest.fixture(scope="session")
def demo_synthetic(demo_dir, tmp_path_factory) -> Path:
    """A synthesis output whose frames are the demo's own frames through the saved crop.

    With the motion copied exactly, every answer is known: correlations 1, identical flow,
    no extra flicker, the same identity.
    """
    from mesynth.video.layouts import open_sources

    source = open_sources(demo_dir / "frames")[0]
    crop = demo_crop()
    frames = [crop.apply(frame, index) for index, frame in source.iter_frames()]
    annotations = pd.read_csv(demo_dir / "annotations.csv")
    root = tmp_path_factory.mktemp("synthetic")
    return write_synthesis_output(
        root, source.video_id, frames, source.frame_names, crop, annotations
    )


@pytest.fixture(scope="session")
def demo_frozen(demo_dir, tmp_path_factory) -> Path:
    """A synthesis output that lost all motion: every frame is the first one."""
    from mesynth.video.layouts import open_sources

    source = open_sources(demo_dir / "frames")[0]
    crop = demo_crop()
    first = crop.apply(source.read_frame(0), 0)
    frames = [first] * len(source)
    annotations = pd.read_csv(demo_dir / "annotations.csv")
    root = tmp_path_factory.mktemp("frozen")
    return write_synthesis_output(
        root, source.video_id, frames, source.frame_names, crop, annotations
    )


def landmark_overrides(demo_dir: Path, synthetic: Path, output: Path, cache: Path) -> list[str]:
    return [
        "au=landmarks",
        f"original_dir={demo_dir / 'frames'}",
        f"synthetic_dir={synthetic}",
        f"output_dir={output}",
        f"paths.output_dir={output}",
        f"au.cache_dir={cache}",
        "logger=none",
        "temporal.max_pairs=20",
        "identity.frames_per_video=3",
        "flow.max_figures=3",
    ]


@pytest.fixture(scope="session")
def shared_au_cache(tmp_path_factory) -> Path:
    # Both runs share the originals' landmark CSVs (same source, same crop: a cache hit).
    return tmp_path_factory.mktemp("au_cache")


@pytest.fixture(scope="session")
def demo_run(demo_dir, demo_synthetic, shared_au_cache, tmp_path_factory) -> tuple[Path, dict]:
    """`evaluate.py au=landmarks` on the demo against its exact copy."""
    from mesynth.evaluation import run

    output = tmp_path_factory.mktemp("evaluation")
    summary = run(
        evaluation_config(landmark_overrides(demo_dir, demo_synthetic, output, shared_au_cache))
    )
    return output, summary


@pytest.fixture(scope="session")
def frozen_run(
    demo_dir, demo_frozen, shared_au_cache, demo_run, tmp_path_factory
) -> tuple[Path, dict]:
    """`evaluate.py au=landmarks` on the demo against a motionless copy."""
    from mesynth.evaluation import run

    output = tmp_path_factory.mktemp("evaluation_frozen")
    summary = run(
        evaluation_config(landmark_overrides(demo_dir, demo_frozen, output, shared_au_cache))
    )
    return output, summary


VIDEOS = {"006_1": 0.8, "006_2": 0.6, "011_1": 0.3, "020_1": 0.9, "020_2": 0.7}


@pytest.fixture(scope="module")
def csv_dataset(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("csvs")
    return root, make_csv_dataset(root, VIDEOS)
