from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mesynth.faces.align import (
    FaceNotFoundError,
    alignment_params,
    estimate_crop,
    fit_similarity,
    frames_without,
    params_to_matrix,
    sample_indices,
)
from mesynth.faces.crop import Crop
from mesynth.video.layouts import open_sources

from .conftest import shifted, write_video

SIZE = 128


def _aligned_params(detector, crop: Crop, frame: np.ndarray, index: int = 0) -> np.ndarray:
    """Alignment parameters of the face found again in the cropped output."""
    landmarks = detector.detect(crop.apply(frame, index))
    assert landmarks is not None, "no face in the cropped frame"
    return alignment_params(landmarks)


def test_similarity_helpers_are_exact():
    matrix = params_to_matrix([50.0, 60.0, 20.0, np.deg2rad(30)], 100)
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=float)
    angle = np.deg2rad(30)
    axis_x = 20 * np.array([np.cos(angle), np.sin(angle)])
    axis_y = 20 * np.array([-np.sin(angle), np.cos(angle)])
    quad = np.array([50.0, 60.0]) + corners[:, :1] * axis_x + corners[:, 1:] * axis_y
    mapped = quad @ matrix[:, :2].T + matrix[:, 2]
    np.testing.assert_allclose(mapped, [[0, 0], [100, 0], [100, 100], [0, 100]], atol=1e-9)

    rng = np.random.default_rng(0)
    points = rng.uniform(0, 100, (11, 2))
    truth = np.array(
        [[0.9 * np.cos(0.2), -0.9 * np.sin(0.2), 5.0], [0.9 * np.sin(0.2), 0.9 * np.cos(0.2), -3.0]]
    )
    np.testing.assert_allclose(
        fit_similarity(points, points @ truth[:, :2].T + truth[:, 2]), truth, atol=1e-9
    )
    assert sample_indices(100, 5) == [0, 25, 50, 74, 99]
    assert sample_indices(3, 16) == [0, 1, 2]


def test_none_is_the_whole_frame(tmp_path: Path, face_image: np.ndarray):
    (source,) = open_sources(write_video(tmp_path / "clip", [face_image]))
    crop = estimate_crop(source, "none", SIZE)
    assert crop.mode == "none" and crop.source_size == (320, 320)
    assert crop.apply(face_image).shape == (SIZE, SIZE, 3)


def test_fixed_crop_centres_and_levels_the_face(tmp_path, detector, face_image):
    tilted = shifted(face_image, 10, -6, angle=12)  # head tilted by 12 degrees, off centre
    (source,) = open_sources(write_video(tmp_path / "clip", [tilted] * 3))
    crop = estimate_crop(source, "fixed", SIZE, num_samples=3, detector=detector, progress=False)
    assert crop.mode == "fixed" and crop.meta["frames_with_face"] == [0, 1, 2]
    # cv2 rotates counter-clockwise for positive angles: the eye line turns by -12 degrees.
    upright = np.rad2deg(alignment_params(detector.detect(face_image))[3])
    assert np.rad2deg(crop.meta["params"]["angle"]) == pytest.approx(upright - 12, abs=2.0)
    # In the crop the face's own alignment square is (nearly) the output square: centred,
    # level, and as large as the output.
    centre_x, centre_y, half_side, angle = _aligned_params(detector, crop, tilted)
    assert centre_x == pytest.approx(SIZE / 2, abs=3)
    assert centre_y == pytest.approx(SIZE / 2, abs=3)
    assert half_side == pytest.approx(SIZE / 2, rel=0.06)
    assert abs(np.rad2deg(angle)) < 2.5
    # A crop survives the json round trip synthesis and evaluation rely on.
    crop.save(tmp_path / "crops" / "clip.json")
    again = Crop.load(tmp_path / "crops" / "clip.json")
    np.testing.assert_allclose(again.matrix_for(0), crop.matrix_for(0))


def test_tracked_crop_is_steady_on_a_still_face(tmp_path, detector, face_image):
    (source,) = open_sources(write_video(tmp_path / "clip", [face_image] * 5))
    tracked = estimate_crop(source, "tracked", SIZE, smoothing=5, detector=detector, progress=False)
    fixed = estimate_crop(source, "fixed", SIZE, num_samples=2, detector=detector, progress=False)
    matrices = np.array(tracked.matrices)
    assert matrices.shape == (5, 2, 3)
    assert np.abs(matrices - matrices[0]).max() < 1e-6  # no jitter at all
    np.testing.assert_allclose(matrices[0], fixed.matrix_for(0), atol=1e-6)


def test_tracked_crop_follows_a_moving_head(tmp_path, detector, face_image):
    offsets = [(4.0 * i, -3.0 * i, 1.5 * i) for i in range(6)]  # drifts 20 px, turns 7.5 deg
    frames = [shifted(face_image, dx, dy, angle) for dx, dy, angle in offsets]
    (source,) = open_sources(write_video(tmp_path / "clip", frames))
    tracked = estimate_crop(source, "tracked", SIZE, smoothing=0, detector=detector, progress=False)
    fixed = estimate_crop(source, "fixed", SIZE, num_samples=6, detector=detector, progress=False)

    def motion(crop: Crop) -> float:
        outputs = [crop.apply(frame, i).astype(np.float64) for i, frame in enumerate(frames)]
        return float(np.mean([np.abs(out - outputs[0]).mean() for out in outputs[1:]]))

    # The tracked crop cancels the head motion: its outputs change by landmark jitter only
    # (a fraction of a pixel), the fixed crop's by the whole drift.
    assert motion(fixed) > 25.0
    assert motion(tracked) < 0.2 * motion(fixed)


def test_frames_without_a_face(tmp_path, detector, face_image):
    blank = np.full_like(face_image, 90)
    (source,) = open_sources(write_video(tmp_path / "s01_blank", [blank] * 3))
    for mode in ("fixed", "tracked"):
        with pytest.raises(FaceNotFoundError, match=r"s01_blank.*crop=none"):
            estimate_crop(source, mode, SIZE, num_samples=3, detector=detector, progress=False)

    frames = [face_image, blank, shifted(face_image, 8, 0)]
    (gappy,) = open_sources(write_video(tmp_path / "gappy", frames))
    tracked = estimate_crop(gappy, "tracked", SIZE, smoothing=0, detector=detector, progress=False)
    assert tracked.meta["frames_without_face"] == [1]
    matrices = np.array(tracked.matrices)
    # The missing frame's crop lies halfway between its neighbours'.
    np.testing.assert_allclose(matrices[1], (matrices[0] + matrices[2]) / 2, atol=0.05)

    with pytest.raises(ValueError, match="crop mode='wobbly' is not one of"):
        estimate_crop(gappy, "wobbly", SIZE)


def test_frames_without_a_face_on_a_long_video() -> None:
    # 20,000 frames (100 s at 200 fps) with faces in all but every 7th: linear, and exact.
    length = 20_000
    found = [i for i in range(length) if i % 7]
    missing = frames_without(found, length)
    assert missing == list(range(0, length, 7))
    assert frames_without([], 3) == [0, 1, 2] and frames_without([0, 1, 2], 3) == []
