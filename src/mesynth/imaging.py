"""Image operations several areas share: the one greyscale conversion and the one Farneback
optical-flow call (faces, evaluation and spotting all read frames through these)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np


def to_grey(frame: np.ndarray) -> np.ndarray:
    """uint8 greyscale view of an RGB (HxWx3), RGBA or grey frame, C-contiguous for dlib."""
    if frame.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {frame.dtype}")
    if frame.ndim == 2:
        return np.ascontiguousarray(frame)
    if frame.ndim == 3 and frame.shape[2] == 1:
        return np.ascontiguousarray(frame[:, :, 0])
    if frame.ndim == 3 and frame.shape[2] in (3, 4):
        code = cv2.COLOR_RGB2GRAY if frame.shape[2] == 3 else cv2.COLOR_RGBA2GRAY
        return cv2.cvtColor(frame, code)
    raise ValueError(f"expected an HxW or HxWx3 frame, got shape {frame.shape}")


@dataclass(frozen=True)
class FarnebackParams:
    """OpenCV's ``calcOpticalFlowFarneback`` settings (``flow.farneback`` in the config)."""

    pyr_scale: float = 0.5
    levels: int = 3
    winsize: int = 15
    iterations: int = 3
    poly_n: int = 5
    poly_sigma: float = 1.2


def farneback(
    first: np.ndarray, second: np.ndarray, params: FarnebackParams | None = None
) -> np.ndarray:
    """Flow (H, W, 2) float32 from ``first`` to ``second`` (RGB or greyscale uint8)."""
    params = params or FarnebackParams()
    if first.shape[:2] != second.shape[:2]:
        raise ValueError(
            f"flow needs frames of one size, got {first.shape[:2]} and {second.shape[:2]}"
        )
    return cv2.calcOpticalFlowFarneback(
        to_grey(first), to_grey(second), None, flags=0, **asdict(params)
    )
