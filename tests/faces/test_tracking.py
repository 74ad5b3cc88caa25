"""Landmark tracking: detect every few frames, follow in between, as detection would."""

from __future__ import annotations

import numpy as np
import pytest

from mesynth.faces.tracking import LandmarkTracker

from .conftest import shifted


def test_tracking_detects_every_n_frames_and_follows_a_moving_face(detector, face_image):
    frames = [shifted(face_image, 1.5 * index, 0.5 * index) for index in range(12)]
    tracker = LandmarkTracker(detector, detect_every=5)
    tracked = list(tracker.track(frames))
    assert tracker.detections == 3  # frames 0, 5 and 10
    assert all(points.shape == (68, 2) for points in tracked)
    for index in (3, 9, 11):
        assert np.abs(tracked[index] - detector.detect(frames[index])).mean() < 1.5
    drift = tracked[11].mean(axis=0) - tracked[0].mean(axis=0)
    np.testing.assert_allclose(drift, (16.5, 5.5), atol=1.5)


def test_a_frame_without_a_face_is_none(detector, face_image):
    blank = np.full_like(face_image, 90)
    tracked = list(LandmarkTracker(detector, detect_every=10).track([blank, face_image]))
    assert tracked[0] is None and tracked[1].shape == (68, 2)


def test_settings_are_checked():
    with pytest.raises(ValueError, match="au.detect_every must be >= 1, got 0"):
        LandmarkTracker(None, detect_every=0)
    with pytest.raises(ValueError, match="au.landmark_scale must be >= 1, got 0"):
        LandmarkTracker(None, landmark_scale=0)
