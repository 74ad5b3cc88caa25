"""Made-up flow features for the flow_peaks tests: a brow that moves away and back during each
event over flow noise, in videos of 600 frames at 50 fps."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from mesynth.spotting.spotters.flow_peaks import FlowPeaksSettings
from mesynth.spotting.spotters.peaks import PeakSettings
from mesynth.spotting.types import Interval, SpottingVideo

FPS, K, LENGTH = 50.0, 10, 600


@dataclass
class Features:
    """Stand-in for VideoFeatures with the fields flow_peaks reads."""

    name: str
    frame_numbers: np.ndarray
    vectors: np.ndarray  # (T, R, cells, 2)
    fps: float = FPS
    k: int = K
    stride: int = 1
    roi_names: tuple[str, ...] = ("brow_left", "mouth")


def _video(
    video_id: str,
    events: list[Interval],
    amplitude: float = 0.5,
    noise: float = 1e-4,
    seed: int = 0,
    origin: str = "original",
) -> SpottingVideo:
    """A brow that moves ``amplitude`` px (summed over k-frame flow) away and back during each
    event, over flow noise of ``noise`` px."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(0.0, noise, size=(LENGTH, 2, 4, 2))
    for event in events:
        half = (event.offset - event.onset + 1) // 2
        rise = slice(event.onset - 1, event.onset - 1 + half)
        fall = slice(event.onset - 1 + half, event.onset - 1 + 2 * half)
        vectors[rise, 0, :, 1] += amplitude * K / half
        vectors[fall, 0, :, 1] -= amplitude * K / half
    features = Features(video_id, np.arange(1, LENGTH + 1), vectors)
    return SpottingVideo(
        video_id, video_id.split("_")[0], FPS, features, list(events), origin=origin
    )


EVENTS = {
    "a_1": [Interval(100, 119, "micro"), Interval(300, 359, "macro")],
    "b_1": [Interval(150, 169, "micro"), Interval(420, 479, "macro")],
    "c_1": [Interval(200, 219, "micro"), Interval(80, 139, "macro")],
}


def video_sets() -> tuple[list, list, list]:
    """The originals, synthetic copies and a frozen control (no motion) of EVENTS' videos."""
    items = list(EVENTS.items())
    originals = [_video(v, e, seed=i) for i, (v, e) in enumerate(items)]
    copies = [_video(v, e, seed=10 + i, origin="synthetic") for i, (v, e) in enumerate(items)]
    frozen = [
        _video(v, e, amplitude=0.0, seed=20 + i, origin="synthetic")
        for i, (v, e) in enumerate(items)
    ]
    return originals, copies, frozen


def _settings(**peaks) -> FlowPeaksSettings:
    # The made-up features hold a brow and the mouth only: use every region they have, and the
    # brow as it is (no eye to tell a blink by).
    return FlowPeaksSettings(
        baseline_seconds=4.0, rois=None, blink_ratio=None, peaks=PeakSettings(**peaks)
    )


def _cfg(tmp_path: Path, confidence: float = 0.9):
    return OmegaConf.create(
        {
            "output_dir": str(tmp_path),
            "spotter": {"name": "flow_peaks"},
            "spotting": {
                "iou": 0.5,
                "matching": "megc",
                "bootstrap": {"n_resamples": 50, "confidence": confidence, "seed": 0},
                "figures": {"enabled": True, "dpi": 30},
            },
        }
    )
