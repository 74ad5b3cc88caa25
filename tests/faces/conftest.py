"""A real face (scikit-image's astronaut) and one landmark detector for the whole session."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage.data import astronaut

from mesynth.faces.landmarks import LandmarkDetector


@pytest.fixture(scope="session")
def detector() -> LandmarkDetector:
    return LandmarkDetector()  # loading dlib's model takes ~1 s: once per session


@pytest.fixture(scope="session")
def face_image() -> np.ndarray:
    """320x320 RGB around the astronaut's face (the face is ~90 px wide)."""
    return np.ascontiguousarray(astronaut()[0:320, 64:384])


def write_video(folder: Path, frames: list[np.ndarray]) -> Path:
    """A frame-folder video of RGB frames (PNG, lossless)."""
    folder.mkdir(parents=True, exist_ok=True)
    for index, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"frame{index:03d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    return folder


def shifted(image: np.ndarray, dx: float, dy: float, angle: float = 0.0) -> np.ndarray:
    """``image`` moved by (dx, dy) pixels and rotated by ``angle`` degrees about its centre."""
    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
    matrix[:, 2] += (dx, dy)
    return cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REFLECT)
