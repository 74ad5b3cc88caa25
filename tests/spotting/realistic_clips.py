"""Realistic generated clips for the spotter tests, and spotters built from their config files.

Three participants, two 16 s clips each at 30 fps, 128 px, expressions 1-2.5 s apart, with the
distractors of real long videos (unlabelled blinks, head drift and turns, noise)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from mesynth.config import conf_dir
from mesynth.spotting.spotters import build_spotter
from mesynth.video.demo_clip import make_demo

FPS = 30.0
SECONDS = 16.0


def make_clips(root: Path) -> Path:
    """Three participants, two 16 s clips each at 30 fps, 128 px, expressions 1-2.5 s apart,
    with the distractors of real long videos (unlabelled blinks, head drift and turns, noise)."""
    return make_demo(
        root,
        seconds=SECONDS,
        fps=FPS,
        frame_size=128,
        participants=3,
        videos=2,
        gaps=(1.0, 2.5),
        progress=False,
    )


def _spotter(name: str, seed: int = 0, **overrides):
    node = OmegaConf.load(conf_dir() / "spotter" / f"{name}.yaml")
    for key, value in overrides.items():
        OmegaConf.update(node, key, value)
    return build_spotter(node, seed)


def _leave_one_out(videos, make):
    predictions, spotters = [], []
    for held in sorted({v.participant for v in videos}):
        spotter = make()
        spotter.fit([v for v in videos if v.participant != held])
        predictions += [p for v in videos if v.participant == held for p in spotter.predict(v)]
        spotters.append(spotter)
    return predictions, spotters
