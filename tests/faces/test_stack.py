"""One faces stack: synthesis crops, evaluation tracking and identity follow the same face."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mesynth.faces.descriptors import face_descriptor
from mesynth.faces.landmarks import LandmarkDetector, LazyDetector
from mesynth.faces.tracking import LandmarkTracker


@pytest.fixture(scope="module")
def two_faces(face_image) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The astronaut twice: full size on the left, at 60% on the right; and the big one's area."""
    height, width = face_image.shape[:2]
    small = cv2.resize(face_image, (int(width * 0.6), int(height * 0.6)))
    canvas = np.full((height, width * 2, 3), 128, np.uint8)
    canvas[:, :width] = face_image
    canvas[40 : 40 + small.shape[0], width + 40 : width + 40 + small.shape[1]] = small
    return canvas, (0, 0, width, height)


def _inside(landmarks: np.ndarray, area: tuple[int, int, int, int]) -> bool:
    left, top, right, bottom = area
    x, y = landmarks[:, 0], landmarks[:, 1]
    return bool(((x >= left) & (x < right) & (y >= top) & (y < bottom)).all())


def test_every_part_of_the_stack_follows_the_largest_face(two_faces, face_image):
    canvas, big = two_faces
    detector = LandmarkDetector(choose="largest")
    assert len(detector.detect_faces(canvas)) == 2
    assert _inside(detector.detect(canvas), big)  # what the synthesis crop is built on
    tracked = next(LandmarkTracker(detector, detect_every=10).track([canvas]))
    assert _inside(tracked, big)  # what the evaluation's AU proxies are built on
    # What the identity measure describes: the big face, not the small copy.
    alone = face_descriptor(face_image, detector)
    both = face_descriptor(canvas, detector)
    assert np.linalg.norm(alone - both) < 0.1
    # The lazy detector (loaded on first use) answers exactly as the detector does.
    lazy = LazyDetector(choose="largest")
    np.testing.assert_array_equal(lazy.detect(canvas), detector.detect(canvas))
