"""What every AU backend receives and returns, and the cache of extracted CSVs."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mesynth.evaluation.common import write_text
from mesynth.evaluation.frames import VideoPair

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
        return json.loads(sidecar.read_text()) == json.loads(json.dumps(key))
    except json.JSONDecodeError:
        return False


def mark_cached(csv_path: Path, key: dict) -> None:
    """Record how a CSV was made, after the CSV itself is complete."""
    write_text(csv_path.with_suffix(".json"), json.dumps(key, indent=2) + "\n")


def _crop_hash(pair: VideoPair) -> str | None:
    # A tracked crop holds one matrix per frame: record a digest, not the matrices.
    if pair.crop is None:
        return None
    text = json.dumps(pair.crop.to_dict(), sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()


def pair_key(pair: VideoPair, side: str) -> dict:
    """What determines a side's frames: source path, frame count, size and crop."""
    source = pair.original if side == "original" else pair.synthetic
    return {
        "video": pair.video_id,
        "side": side,
        "source": str(Path(source.path).resolve()),
        "frames": len(pair),
        "size": list(pair.size),
        "crop": _crop_hash(pair) if side == "original" else None,
    }
