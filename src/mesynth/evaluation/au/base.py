"""What every AU backend receives and returns, and the extract-and-cache loop of the backends
that read frames (one CSV per side of each video, reused while its frames are the same)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from mesynth.caching import digest, same_key, source_identity
from mesynth.evaluation.common import EvaluationInputError, write_text
from mesynth.evaluation.frames import VideoPair

log = logging.getLogger(__name__)

# video id -> (original CSV, synthetic CSV), both in OpenFace's column layout.
CSVPairs = dict[str, tuple[Path, Path]]
SIDES = ("original", "synthetic")


@dataclass
class AUInputs:
    """The evaluation inputs an AU backend may use."""

    original_dir: Path
    synthetic_dir: Path
    videos: list[str] | None
    # Opens the frame pairs (frame backends only); None when no frames are available.
    open_pairs: Callable[[], list[VideoPair]] | None = None


def cache_is_valid(csv_path: Path, key: dict) -> bool:
    """A cached CSV is reused only if its sidecar records exactly the same extraction ``key``."""
    sidecar = csv_path.with_suffix(".json")
    if not (csv_path.is_file() and sidecar.is_file()):
        return False
    try:
        return same_key(json.loads(sidecar.read_text()), key)
    except json.JSONDecodeError:
        return False


def mark_cached(csv_path: Path, key: dict) -> None:
    """Record how a CSV was made, after the CSV itself is complete."""
    write_text(csv_path.with_suffix(".json"), json.dumps(key, indent=2) + "\n")


def pair_key(pair: VideoPair, side: str) -> dict:
    """What determines a side's frames: the source's files (sizes and modification times, so a
    video synthesised again at the same path is extracted again), frame count, size and crop."""
    source = pair.original if side == "original" else pair.synthetic
    # A tracked crop holds one matrix per frame: record a digest, not the matrices.
    crop = pair.crop.to_dict() if side == "original" and pair.crop is not None else None
    return {
        "video": pair.video_id,
        "side": side,
        "source": source_identity(source),
        "frames": len(pair),
        "size": list(pair.size),
        "crop": digest(crop) if crop is not None else None,
    }


class FrameBackend:
    """An AU backend that reads the frame pairs: one CSV per side of each video, cached in
    ``cache_dir/<side>/<video>.csv`` next to the key it was made with, so a re-run reuses it.

    A backend says how it makes one CSV (:meth:`write_csv`) and what else its CSVs depend on
    (:meth:`settings`); :meth:`prepare` runs once before any extraction."""

    name = ""
    needs_frames = True
    progress = "AU"  # the label of the per-video progress bar

    def __init__(self, cache_dir: str | Path) -> None:
        self.cache_dir = Path(cache_dir)

    def prepare(self) -> None:
        """Check what extraction needs (an executable, a model) before the first video."""

    def settings(self) -> dict:
        """The backend's settings its CSVs depend on (part of the cache key)."""
        return {}

    def write_csv(self, pair: VideoPair, side: str, path: Path) -> None:
        """Extract one side of one video into ``path`` (an OpenFace-style CSV)."""
        raise NotImplementedError

    def key(self, pair: VideoPair, side: str) -> dict:
        return {"backend": self.name, **self.settings(), **pair_key(pair, side)}

    def extract(self, pair: VideoPair, side: str) -> Path:
        """The CSV of one side of one video (made unless cached)."""
        path = self.cache_dir / side / f"{pair.video_id}.csv"
        key = self.key(pair, side)
        if cache_is_valid(path, key):
            log.info("%s %s: reusing %s", pair.video_id, side, path)
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.write_csv(pair, side, path)
        mark_cached(path, key)
        return path

    def csv_pairs(self, inputs: AUInputs) -> CSVPairs:
        self.prepare()
        if inputs.open_pairs is None:
            raise EvaluationInputError(
                f"au={self.name} needs frames; set original_dir and synthetic_dir"
            )
        result: CSVPairs = {}
        for pair in tqdm(inputs.open_pairs(), desc=self.progress, unit="video"):
            original, synthetic = (self.extract(pair, side) for side in SIDES)
            result[pair.video_id] = (original, synthetic)
        return result
