from __future__ import annotations

import pickle

import cv2
import numpy as np
import pytest

from mesynth.faces.landmarks import (
    LandmarkDetector,
    choose_face,
    eye_aspect_ratio,
    predictor_path,
)


def test_the_shipped_model_is_found():
    path = predictor_path()
    assert path.name == "shape_predictor_68_face_landmarks.dat"
    assert path.stat().st_size > 50_000_000


def test_landmarks_on_a_real_face(detector: LandmarkDetector, face_image: np.ndarray):
    landmarks = detector.detect(face_image)
    assert landmarks.shape == (68, 2)
    # The astronaut's face spans x 110..210, y 75..180 in this crop.
    assert np.all((landmarks[:, 0] > 100) & (landmarks[:, 0] < 220))
    assert np.all((landmarks[:, 1] > 70) & (landmarks[:, 1] < 190))
    eye_left, eye_right = landmarks[36:42].mean(0), landmarks[42:48].mean(0)
    mouth = landmarks[48:68].mean(0)
    assert eye_left[0] < eye_right[0] and abs(eye_left[1] - eye_right[1]) < 8
    assert mouth[1] > eye_left[1] + 25 and landmarks[8, 1] > mouth[1]  # chin below mouth
    assert 0.2 < eye_aspect_ratio(landmarks) < 0.45  # open eyes
    # Greyscale input finds the same face.
    grey = cv2.cvtColor(face_image, cv2.COLOR_RGB2GRAY)
    assert np.abs(detector.detect(grey) - landmarks).max() < 2.0


def test_downscaled_detection_still_fits_landmarks_at_full_resolution(
    detector: LandmarkDetector, face_image: np.ndarray
):
    large = cv2.resize(face_image, (960, 960), interpolation=cv2.INTER_CUBIC)
    default_size = detector.detect_size
    try:
        detector.detect_size = 1024
        full = detector.detect(large)
        detector.detect_size = 320
        small = detector.detect(large)
    finally:
        detector.detect_size = default_size
    assert full is not None and small is not None
    # The detector box differs slightly, the landmark fit (at full resolution) barely does.
    assert np.abs(full - small).mean() < 3.0


def test_no_face_and_several_faces(detector: LandmarkDetector, face_image: np.ndarray):
    assert detector.detect(np.full((200, 200, 3), 128, dtype=np.uint8)) is None
    pair = np.hstack([face_image, face_image])
    right_face = detector.detect(pair, near=(480.0, 130.0))
    left_face = detector.detect(pair, near=(160.0, 130.0))
    assert np.abs(right_face - left_face - [320.0, 0.0]).mean() < 1.0  # same face, moved


def test_the_detector_pickles_by_configuration(detector: LandmarkDetector, face_image):
    clone = pickle.loads(pickle.dumps(detector))
    assert clone.model_path == detector.model_path
    np.testing.assert_allclose(clone.detect(face_image), detector.detect(face_image))


def test_the_face_rule_is_a_setting() -> None:
    boxes = [(np.array([0.0, 0, 100, 100]), 0.5), (np.array([200.0, 0, 250, 50]), 2.0)]
    assert choose_face(boxes, "largest")[0] == 0
    assert choose_face(boxes, "confident")[0] == 200
    with pytest.raises(ValueError, match="faces.choose='first'"):
        LandmarkDetector(choose="first")
