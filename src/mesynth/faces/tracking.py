"""68-point landmarks through a whole video: detect now and then, track in between.

For long videos the face detector runs once every ``detect_every`` frames and the landmarks are
followed in between (the next search box follows the previous frame's landmarks), which makes
landmarking a 200 fps video affordable. Detection and the face to follow are those of
:class:`mesynth.faces.landmarks.LandmarkDetector`, as everywhere else.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import cv2
import numpy as np

from mesynth.faces.landmarks import (
    LandmarkDetector,
    LazyDetector,
    choose_face,
    inter_ocular,
)
from mesynth.imaging import to_grey


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
        detector: LandmarkDetector | LazyDetector,
        detect_every: int = 50,
        landmark_scale: int = 2,
        box_tolerance: float = 0.08,
        max_scale_change: float = 0.3,
    ):
        if detect_every < 1:
            raise ValueError(f"au.detect_every must be >= 1, got {detect_every}")
        if landmark_scale < 1:
            raise ValueError(f"au.landmark_scale must be >= 1, got {landmark_scale}")
        self.detector = detector
        self.detect_every = detect_every
        self.landmark_scale = landmark_scale
        self.box_tolerance = box_tolerance
        self.max_scale_change = max_scale_change
        self.detections = 0
        self._box: np.ndarray | None = None  # left, top, right, bottom

    def _fit(self, gray: np.ndarray, box: np.ndarray) -> np.ndarray:
        # dlib returns whole-pixel landmarks; fitting on an enlarged frame gives finer steps
        # (on 256 px faces one pixel is ~2% of the eye distance, as large as a micro-expression).
        scale = self.landmark_scale
        if scale > 1:
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
        points = self.detector.landmarks_in_box(gray, np.asarray(box, dtype=np.float64) * scale)
        return (points + 0.5) / scale - 0.5  # back through the resize's pixel-centre mapping

    def _place(self, box: np.ndarray) -> None:
        if self._box is not None:
            width = self._box[2] - self._box[0]
            if np.abs(box - self._box).max() <= self.box_tolerance * width:
                return
        self._box = box

    def _detect(self, gray: np.ndarray) -> np.ndarray | None:
        self.detections += 1
        faces = self.detector.detect_faces(gray)
        if not faces:
            return None
        box = np.round(choose_face(faces, self.detector.choose))
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
