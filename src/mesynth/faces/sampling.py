"""Which frames to look at: ``count`` frames spread evenly over a video (crop estimation,
identity descriptors, spotting ROIs alike)."""

from __future__ import annotations

import numpy as np


def sample_indices(length: int, count: int) -> list[int]:
    """``count`` frame indices spread evenly over a video of ``length`` frames (fewer, all
    distinct, for a short one)."""
    if length <= 0 or count <= 0:
        return []
    count = min(int(count), length)
    return sorted({int(round(v)) for v in np.linspace(0, length - 1, count)})
