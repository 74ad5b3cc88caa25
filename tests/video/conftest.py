"""Tiny frame folders and videos written on the fly."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest


def gradient_frame(index: int, size: tuple[int, int] = (24, 32), grey: bool = True) -> np.ndarray:
    """A smooth frame that differs per index (JPEG keeps it close to exact)."""
    height, width = size
    ys, xs = np.mgrid[0:height, 0:width]
    base = (xs * 4 + ys * 3 + index * 7) % 256
    if grey:
        return base.astype(np.uint8)
    return np.stack([base, (base + 85) % 256, (255 - base)], axis=-1).astype(np.uint8)


def write_frames(
    folder: Path, names: list[str], suffix: str = ".jpg", grey: bool = True, size=(24, 32)
) -> list[Path]:
    """Write one image per name into ``folder``; colour frames are given as RGB."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, name in enumerate(names):
        frame = gradient_frame(index, size, grey)
        if not grey:
            frame = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        path = folder / f"{name}{suffix}"
        assert cv2.imwrite(str(path), frame)
        paths.append(path)
    return paths


@pytest.fixture
def samm_root(tmp_path: Path) -> Path:
    """Two SAMM-LV videos: 4-digit (006_1, frames 1..6) and 5-digit (011_2, frames 0..4)."""
    root = tmp_path / "SAMM_longvideos"
    write_frames(root / "006_1", [f"006_1_{n:04d}" for n in range(1, 7)])
    write_frames(root / "011_2", [f"011_2_{n:05d}" for n in range(0, 5)])
    return root
