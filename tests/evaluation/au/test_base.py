"""The AU cache: a CSV is reused only for the very frames it was made from."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from mesynth.evaluation.au.base import AUInputs, FrameBackend, cache_is_valid, mark_cached, pair_key
from mesynth.evaluation.common import EvaluationInputError
from mesynth.evaluation.frames import VideoPair
from mesynth.video.layouts import open_sources


def write_frames(folder: Path, level: int, count: int = 4) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        frame = np.full((16, 16, 3), level, np.uint8)
        frame[index : index + 4, 2:6] = 255 - level  # a moving square: real image content
        cv2.imwrite(str(folder / f"{index:03d}.png"), frame)


def open_pair(root: Path) -> VideoPair:
    original = open_sources(root / "original" / "v", layout="folder")[0]
    synthetic = open_sources(root / "synthetic" / "v", layout="folder")[0]
    return VideoPair("v", original, synthetic, None, len(synthetic))


def test_a_video_synthesised_again_at_the_same_path_does_not_reuse_its_au_csv(tmp_path):
    write_frames(tmp_path / "original" / "v", 90)
    write_frames(tmp_path / "synthetic" / "v", 100)
    csv = tmp_path / "cache" / "synthetic" / "v.csv"
    csv.parent.mkdir(parents=True)
    csv.write_text("frame,AU12_r\n1,0.5\n")
    mark_cached(csv, pair_key(open_pair(tmp_path), "synthetic"))
    assert cache_is_valid(csv, pair_key(open_pair(tmp_path), "synthetic"))  # same frames

    # Synthesis run again into the same folder: same names, count and size, other pixels.
    write_frames(tmp_path / "synthetic" / "v", 30)
    later = os.stat(tmp_path / "synthetic" / "v" / "000.png").st_mtime_ns + 10**9
    for frame in (tmp_path / "synthetic" / "v").iterdir():
        os.utime(frame, ns=(later, later))
    assert not cache_is_valid(csv, pair_key(open_pair(tmp_path), "synthetic"))
    # The original side was not touched: its own CSV stays valid.
    original_csv = tmp_path / "cache" / "original" / "v.csv"
    original_csv.parent.mkdir(parents=True)
    original_csv.write_text("frame,AU12_r\n1,0.5\n")
    mark_cached(original_csv, pair_key(open_pair(tmp_path), "original"))
    assert cache_is_valid(original_csv, pair_key(open_pair(tmp_path), "original"))


class MeanGrey(FrameBackend):
    """A frame backend whose "AU" is each frame's mean grey level; it counts its extractions."""

    name = "mean_grey"

    def __init__(self, cache_dir: Path) -> None:
        super().__init__(cache_dir)
        self.made: list[tuple[str, str]] = []

    def write_csv(self, pair: VideoPair, side: str, path: Path) -> None:
        self.made.append((pair.video_id, side))
        levels = [float(frame.mean()) for _, frame in pair.frames(side)]
        rows = [f"{i + 1},{level:.3f}" for i, level in enumerate(levels)]
        path.write_text("frame,AU12_r\n" + "\n".join(rows) + "\n")


def test_frame_backends_extract_each_side_once_and_again_only_for_new_frames(tmp_path):
    write_frames(tmp_path / "original" / "v", 90)
    write_frames(tmp_path / "synthetic" / "v", 100)
    backend = MeanGrey(tmp_path / "cache")
    inputs = AUInputs(
        tmp_path / "original", tmp_path / "synthetic", None, lambda: [open_pair(tmp_path)]
    )
    pairs = backend.csv_pairs(inputs)
    assert backend.made == [("v", "original"), ("v", "synthetic")]
    assert pairs == {"v": (tmp_path / "cache/original/v.csv", tmp_path / "cache/synthetic/v.csv")}
    backend.csv_pairs(inputs)
    assert len(backend.made) == 2  # both reused

    write_frames(tmp_path / "synthetic" / "v", 30)
    later = os.stat(tmp_path / "synthetic" / "v" / "000.png").st_mtime_ns + 10**9
    for frame in (tmp_path / "synthetic" / "v").iterdir():
        os.utime(frame, ns=(later, later))
    backend.csv_pairs(inputs)
    assert backend.made[2:] == [("v", "synthetic")]
    first_level = float(pairs["v"][1].read_text().splitlines()[1].split(",")[1])
    assert first_level < 60  # the new, darker frames (mean about 42), not the cached 104

    with pytest.raises(EvaluationInputError, match="au=mean_grey needs frames"):
        backend.csv_pairs(AUInputs(tmp_path, tmp_path, None, None))
