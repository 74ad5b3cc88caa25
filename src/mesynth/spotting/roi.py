"""Regions of interest on the aligned face crop: brows, eyes and mouth, and the nose as the
reference for global head motion.

Regions come from dlib's 68 landmarks found on a few frames of the crop (their median), so
landmarks cost a handful of detections per video. When no face is found (e.g. the frames of an
untrained synthesis), the regions fall back to where an aligned crop (``mesynth.faces.align``,
FFHQ-style) puts them; a warning names the video.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mesynth.faces.landmarks import EYE_LEFT, EYE_RIGHT, MOUTH

log = logging.getLogger(__name__)

ROI_NAMES = ("brow_left", "brow_right", "eye_left", "eye_right", "mouth")  # image left/right
REFERENCE = "nose"
BROW_LEFT = [17, 18, 19, 20, 21]
BROW_RIGHT = [22, 23, 24, 25, 26]
UPPER_LID_LEFT = [37, 38]
UPPER_LID_RIGHT = [43, 44]
NOSE_BRIDGE = [28, 29]  # rigid: moves with the head, not with expressions
NOSE_HALF_SIDE = 0.12  # half side of the nose box, in inter-ocular distances

# Where the regions of a face aligned by mesynth.faces.align lie, as shares of the crop side
# (x0, y0, x1, y1) with margin 0.15: measured on the astronaut photo and its mirror image.
TEMPLATE_BOXES = {
    "brow_left": (0.236, 0.359, 0.481, 0.476),
    "brow_right": (0.519, 0.359, 0.764, 0.476),
    "eye_left": (0.289, 0.420, 0.467, 0.530),
    "eye_right": (0.533, 0.420, 0.711, 0.530),
    "mouth": (0.315, 0.650, 0.685, 0.820),
    "nose": (0.470, 0.517, 0.530, 0.577),
}


@dataclass(frozen=True)
class Rois:
    """Integer boxes ``(x0, y0, x1, y1)`` (end exclusive) in working-crop pixels, by name; the
    expression regions of :data:`ROI_NAMES` and the :data:`REFERENCE` nose box."""

    boxes: dict[str, tuple[int, int, int, int]]
    source: str  # landmarks | template

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name in ROI_NAMES if name in self.boxes)

    def union(self, pad: int, size: int) -> tuple[int, int, int, int]:
        """The box holding every region (nose included), ``pad`` pixels wider, inside the crop."""
        array = np.array(list(self.boxes.values()))
        x0, y0 = np.maximum(array[:, :2].min(0) - pad, 0)
        x1, y1 = np.minimum(array[:, 2:].max(0) + pad, size)
        return int(x0), int(y0), int(x1), int(y1)

    def to_array(self) -> np.ndarray:
        """(R + 1, 4) int32: the regions in :attr:`names` order, then the nose."""
        return np.array([self.boxes[n] for n in (*self.names, REFERENCE)], dtype=np.int32)


def _box(points: np.ndarray, margin_x: float, margin_y: float, size: int) -> tuple:
    x0, y0 = points.min(0) - (margin_x, margin_y)
    x1, y1 = points.max(0) + (margin_x, margin_y)
    return _clip((x0, y0, x1, y1), size)


def _clip(box: Sequence[float], size: int) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    x0, y0 = min(max(x0, 0), size - 2), min(max(y0, 0), size - 2)
    x1, y1 = max(min(x1, size), x0 + 2), max(min(y1, size), y0 + 2)
    return x0, y0, x1, y1


def boxes_from_landmarks(landmarks: np.ndarray, size: int, margin: float) -> Rois:
    """Regions of a ``size`` x ``size`` crop from its 68 landmarks; ``margin`` in inter-ocular
    distances (the brows and the mouth corners travel that far out of their landmark boxes)."""
    points = np.asarray(landmarks, dtype=np.float64)
    iod = float(np.linalg.norm(points[EYE_RIGHT].mean(0) - points[EYE_LEFT].mean(0)))
    pad = margin * iod
    boxes = {}
    for name, brow, lid in (
        ("brow_left", BROW_LEFT, UPPER_LID_LEFT),
        ("brow_right", BROW_RIGHT, UPPER_LID_RIGHT),
    ):
        x0, y0 = points[brow].min(0) - pad
        x1 = points[brow, 0].max() + pad
        y1 = max(points[lid, 1].mean(), points[brow, 1].max() + pad)
        boxes[name] = _clip((x0, y0, x1, y1), size)
    boxes["eye_left"] = _box(points[EYE_LEFT], pad, pad, size)
    boxes["eye_right"] = _box(points[EYE_RIGHT], pad, pad, size)
    boxes["mouth"] = _box(points[MOUTH], 1.5 * pad, pad, size)
    centre = points[NOSE_BRIDGE].mean(0)
    half = max(2.0, NOSE_HALF_SIDE * iod)
    boxes[REFERENCE] = _clip((*(centre - half), *(centre + half)), size)
    return Rois(boxes, "landmarks")


def template_rois(size: int) -> Rois:
    """The regions where an aligned crop puts them (for frames in which no face is found)."""
    return Rois(
        {name: _clip(np.array(box) * size, size) for name, box in TEMPLATE_BOXES.items()},
        "template",
    )


def find_rois(
    frames: Sequence[np.ndarray],
    size: int,
    margin: float,
    detector=None,
    video: str = "<video>",
) -> Rois:
    """Regions from the median landmarks over ``frames`` (crops of any one size, RGB or grey),
    scaled to a ``size`` crop; the template when no frame shows a face."""
    from mesynth.faces.landmarks import LandmarkDetector

    detector = detector or LandmarkDetector()
    found = []
    for frame in frames:
        landmarks = detector.detect(frame)
        if landmarks is not None:
            found.append(landmarks * (size / frame.shape[1]))
    if not found:
        log.warning(
            "video %s: no face found in %d sampled frame(s) of the crop; using the regions of an "
            "aligned face crop instead (right for mesynth's aligned crops, rough otherwise)",
            video,
            len(frames),
        )
        return template_rois(size)
    return boxes_from_landmarks(np.median(np.stack(found), axis=0), size, margin)
