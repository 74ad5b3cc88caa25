"""Dense optical flow: its HSV rendering, and how alike two flow fields are (the flow itself:
:func:`mesynth.imaging.farneback`).

Flow ``F`` from ``first`` to ``second`` means ``first(x) ~ second(x + F(x))``; in pixels, x
then y.
"""

from __future__ import annotations

import cv2
import numpy as np

from mesynth.imaging import to_grey


def magnitude(flow: np.ndarray) -> np.ndarray:
    return np.linalg.norm(flow, axis=-1)


def flow_to_rgb(flow: np.ndarray, max_magnitude: float | None = None) -> np.ndarray:
    """HSV rendering as RGB uint8: hue = direction, value = magnitude (scaled to ``max_magnitude``).

    Hue follows the angle of (dx, dy) in image coordinates: 0 deg (red) = rightwards, 90 deg =
    downwards. Pass the same ``max_magnitude`` to compare two renderings side by side.
    """
    flow = np.asarray(flow, dtype=np.float32)
    mag, angle = cv2.cartToPolar(flow[..., 0], flow[..., 1], angleInDegrees=True)
    top = float(max_magnitude) if max_magnitude else float(mag.max())
    hsv = np.zeros(flow.shape[:2] + (3,), dtype=np.uint8)
    hsv[..., 0] = np.round(angle / 2).astype(np.uint16) % 180  # OpenCV hue spans 0-179
    hsv[..., 1] = 255
    hsv[..., 2] = np.clip(mag / top * 255 if top > 0 else 0, 0, 255).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def flow_agreement(
    reference: np.ndarray,
    candidate: np.ndarray,
    mask: np.ndarray | None = None,
    min_magnitude: float = 0.05,
) -> dict[str, float]:
    """How alike two flow fields are inside ``mask``.

    - ``cosine``: magnitude-weighted cosine similarity, sum(w cos) / sum(w) with w the mean of
      the two vectors' lengths. A vector shorter than ``min_magnitude`` is no motion: where
      one side moves and the other does not the cosine counts as 0 (missing motion lowers the
      score); where neither moves the pixel is left out. 1 = same directions, 0 = unrelated or
      missing motion, -1 = opposite; NaN when nothing moves at all.
    - ``epe``: mean end-point error, the length of the difference vector, in pixels.
    - ``magnitude_original`` / ``magnitude_synthetic``: mean vector lengths.
    """
    if reference.shape != candidate.shape:
        raise ValueError(f"flow fields differ in shape: {reference.shape} vs {candidate.shape}")
    if mask is None:
        mask = np.ones(reference.shape[:2], dtype=bool)
    a = reference[mask].astype(np.float64)
    b = candidate[mask].astype(np.float64)
    if a.size == 0:
        raise ValueError("flow_agreement got an empty mask")
    length_a, length_b = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    moving_a, moving_b = length_a > min_magnitude, length_b > min_magnitude
    both = moving_a & moving_b
    cosine = np.zeros(len(a))
    cosine[both] = np.sum(a[both] * b[both], axis=1) / (length_a[both] * length_b[both])
    # Where neither side moves there is nothing to compare; those pixels carry no weight.
    weight = np.where(moving_a | moving_b, (length_a + length_b) / 2, 0.0)
    total = weight.sum()
    return {
        "cosine": float((weight * cosine).sum() / total) if total > 0 else float("nan"),
        "epe": float(np.linalg.norm(a - b, axis=1).mean()),
        "magnitude_original": float(length_a.mean()),
        "magnitude_synthetic": float(length_b.mean()),
    }


def warp(image: np.ndarray, flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``image`` sampled at x + flow(x) (backward warp), and the mask of in-frame samples."""
    height, width = flow.shape[:2]
    grid_x, grid_y = np.meshgrid(
        np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32)
    )
    map_x, map_y = grid_x + flow[..., 0], grid_y + flow[..., 1]
    warped = cv2.remap(
        image, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    inside = (map_x >= 0) & (map_x <= width - 1) & (map_y >= 0) & (map_y <= height - 1)
    return warped, inside


def warping_error(first: np.ndarray, second: np.ndarray, flow: np.ndarray) -> float:
    """Mean |first - warp(second, flow)| in greyscale, 0-1 scale, over in-frame pixels."""
    first_gray = to_grey(first).astype(np.float32) / 255.0
    second_gray = to_grey(second).astype(np.float32) / 255.0
    warped, inside = warp(second_gray, flow)
    if not inside.any():
        return float("nan")
    return float(np.abs(first_gray - warped)[inside].mean())


def colour_wheel(size: int = 101) -> np.ndarray:
    """The key of :func:`flow_to_rgb` as an RGBA image: the flow at each pixel of a disk is the
    pixel's offset from the centre, so hue shows direction and brightness length (centre black,
    rim full); outside the disk is transparent."""
    centre = (size - 1) / 2
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    field = np.stack([xs - centre, ys - centre], axis=-1)
    radius = np.linalg.norm(field, axis=-1)
    rgb = flow_to_rgb(field, max_magnitude=centre)
    alpha = np.where(radius <= centre + 0.5, 255, 0).astype(np.uint8)
    return np.dstack([rgb, alpha])
