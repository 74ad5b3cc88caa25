"""Stand-ins for the spotting tests: small feature objects and spotters whose answers are known,
videos made of them, and infer.py-like outputs on disk."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from omegaconf import OmegaConf

from mesynth.faces.crop import Crop
from mesynth.spotting.types import Interval, Prediction, SpottingVideo


@dataclass
class Features:
    """Stand-in for VideoFeatures: a motion trace and the frame numbers it belongs to."""

    frame_numbers: np.ndarray
    motion: np.ndarray
    fps: float = 50.0


def video(
    video_id: str,
    events: list[Interval],
    origin: str = "original",
    name: str = "",
    length: int = 200,
    participant: str | None = None,
) -> SpottingVideo:
    """A video whose motion is 1 inside its events and 0 elsewhere (frame numbers from 1)."""
    motion = np.zeros(length)
    for event in events:
        motion[event.onset - 1 : event.offset] = 1.0
    return SpottingVideo(
        video_id=video_id,
        participant=participant or video_id.split("_")[0],
        fps=50.0,
        features=Features(np.arange(1, length + 1), motion),
        events=list(events),
        name=name or video_id,
        origin=origin,
    )


class MotionSpotter:
    """Intervals where motion exceeds a threshold learnt as half the training maximum."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.threshold: float | None = None

    def fit(self, videos):
        self.threshold = 0.5 * max(float(v.features.motion.max()) for v in videos)

    def frame_scores(self, video):
        return video.features.motion

    def predict(self, video):
        above = np.flatnonzero(video.features.motion > self.threshold)
        if self.threshold <= 0 or not len(above):
            return []
        runs = np.split(above, np.flatnonzero(np.diff(above) > 1) + 1)
        numbers = video.features.frame_numbers
        found = []
        for segment in runs:
            onset, offset = int(numbers[segment[0]]), int(numbers[segment[-1]])
            kind = "micro" if offset - onset + 1 <= 25 else "macro"
            found.append(Prediction(video.name, onset, offset, kind, 1.0))
        return found


@dataclass
class Spy:
    """Records what every spotter was fitted on and asked to predict."""

    fits: list[dict] = field(default_factory=list)
    predictions: list[tuple[int, str, str]] = field(default_factory=list)

    def make(self, seed: int):
        spy = self

        class SpySpotter(MotionSpotter):
            def fit(self, videos):
                spy.fits.append(
                    {
                        "seed": seed,
                        "videos": [(v.name, v.participant, v.origin) for v in videos],
                    }
                )
                super().fit(videos)

            def predict(self, video):
                spy.predictions.append((seed, video.name, video.origin))
                return super().predict(video)

        return SpySpotter(seed)


def dataset() -> tuple[list[SpottingVideo], dict[str, list[SpottingVideo]]]:
    """Three participants, two videos each; one synthetic set mirroring every original."""
    events = {
        "006_1": [Interval(20, 35, "micro"), Interval(100, 160, "macro")],
        "006_2": [Interval(50, 60, "micro")],
        "011_1": [Interval(30, 90, "macro")],
        "011_2": [],
        "020_1": [Interval(10, 20, "micro"), Interval(120, 140, "micro")],
        "020_2": [Interval(150, 190, "macro")],
    }
    originals = [video(v, e) for v, e in events.items()]
    synthetic = [video(v, e, "synthetic", f"{v}_syn") for v, e in events.items()]
    return originals, {"fixed": synthetic}


def _write_video(folder: Path, video_id: str, frames: int, size: int = 48, offset: int = 1):
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for index in range(frames):
        name = f"{video_id}_{index + offset:05d}"
        image = np.full((size, size), 40 + 5 * index, np.uint8)
        cv2.imwrite(str(folder / f"{name}.jpg"), image)
        names.append(name)
    return names


def manifest_record(source_video: str, frames: int, status: str = "done") -> dict:
    """One video's record in an infer.py manifest."""
    return {
        "source_video": source_video, "participant": source_video.split("_")[0],
        "source": f"originals/{source_video}", "reference": "reference.png", "domain": 0,
        "strategy": "fixed", "frames": frames, "source_frames": frames, "status": status,
    }  # fmt: skip


def _synthesis_output(root: Path, made: dict[str, tuple[str, int]], untrained=False, crop_size=32):
    """An infer.py-like output: <name>/ PNG frames, crops/<name>.json, manifest.json."""
    videos = {}
    for name, (source_video, frames) in made.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for index in range(frames):
            frame = np.full((crop_size, crop_size, 3), index, np.uint8)
            cv2.imwrite(str(root / name / f"{source_video}_{index + 1:05d}.png"), frame)
        Crop("fixed", crop_size, (48, 48), matrix=[[0.5, 0, 4], [0, 0.5, 4]]).save(
            root / "crops" / f"{name}.json"
        )
        videos[name] = manifest_record(source_video, frames)
    (root / "manifest.json").write_text(json.dumps({"untrained": untrained, "videos": videos}))
    return root


def inputs_config(tmp_path: Path, **overrides):
    """An evaluate.py config for load_inputs: originals in tmp_path/orig, no synthetic set."""
    base = {
        "original_dir": str(tmp_path / "orig"),
        "original_layout": "auto",
        "synthetic_dir": None,
        "annotations": None,
        "annotations_format": "auto",
        "participant_regex": "^([^_]+)",
        "output_dir": str(tmp_path / "out"),
        "spotting": {
            "participants": None,
            "original_crop": "auto",
            "crop_size": 32,
            "cache_dir": str(tmp_path / "cache"),
        },
    }
    base.update(overrides)
    return OmegaConf.create(base)
