"""One faces stack: synthesis crops, evaluation tracking and identity follow the same face."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mesynth.faces.align import frames_without
from mesynth.faces.descriptors import face_descriptor
from mesynth.faces.landmarks import LandmarkDetector, LazyDetector, choose_face
from mesynth.faces.sampling import sample_indices
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


def test_the_face_rule_is_a_setting() -> None:
    boxes = [(np.array([0.0, 0, 100, 100]), 0.5), (np.array([200.0, 0, 250, 50]), 2.0)]
    assert choose_face(boxes, "largest")[0] == 0
    assert choose_face(boxes, "confident")[0] == 200
    with pytest.raises(ValueError, match="faces.choose='first'"):
        LandmarkDetector(choose="first")


def test_frames_without_a_face_on_a_long_video() -> None:
    # 20,000 frames (100 s at 200 fps) with faces in all but every 7th: linear, and exact.
    length = 20_000
    found = [i for i in range(length) if i % 7]
    missing = frames_without(found, length)
    assert missing == list(range(0, length, 7))
    assert frames_without([], 3) == [0, 1, 2] and frames_without([0, 1, 2], 3) == []


def test_sample_indices_spread_over_the_video() -> None:
    assert sample_indices(100, 5) == [0, 25, 50, 74, 99]
    assert sample_indices(3, 16) == [0, 1, 2]
    assert sample_indices(0, 4) == [] and sample_indices(10, 0) == []
