"""Optical flow on frames with known motion, and the flow comparison numbers."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mesynth.evaluation.flow import flow_agreement, flow_to_rgb, warp, warping_error
from mesynth.imaging import farneback
from tests.evaluation.helpers import textured_image

INNER = (slice(20, -20), slice(20, -20))  # away from the borders, where motion is undefined


@pytest.mark.parametrize(("dx", "dy"), [(3.0, 0.0), (-2.0, 1.5), (0.5, -2.5)])
def test_farneback_recovers_a_translation(dx, dy):
    first = textured_image(128, seed=1)
    # second(x) = first(x - d), so first(x) = second(x + d): the flow is d everywhere.
    matrix = np.float32([[1, 0, dx], [0, 1, dy]])
    second = cv2.warpAffine(
        first, matrix, (128, 128), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT
    )
    flow = farneback(first, second)[INNER]
    np.testing.assert_allclose(np.median(flow.reshape(-1, 2), axis=0), [dx, dy], atol=0.1)
    error = np.linalg.norm(flow - np.array([dx, dy]), axis=-1)
    assert error.mean() < 0.2


def test_farneback_recovers_a_rotation():
    size, angle = 128, 3.0
    first = textured_image(size, seed=2)
    centre = (size / 2 - 0.5, size / 2 - 0.5)
    matrix = cv2.getRotationMatrix2D(centre, angle, 1.0)  # maps first's pixels to second's
    second = cv2.warpAffine(
        first, matrix, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT
    )
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    moved_x = matrix[0, 0] * xs + matrix[0, 1] * ys + matrix[0, 2]
    moved_y = matrix[1, 0] * xs + matrix[1, 1] * ys + matrix[1, 2]
    expected = np.stack([moved_x - xs, moved_y - ys], axis=-1)
    flow = farneback(first, second)
    error = np.linalg.norm(flow - expected, axis=-1)[INNER]
    assert np.abs(expected[INNER]).max() > 2.0  # a real motion, up to a few pixels
    assert error.mean() < 0.25
    agreement = flow_agreement(expected.astype(np.float32)[INNER], flow[INNER])
    assert agreement["cosine"] > 0.97
    assert agreement["epe"] == pytest.approx(error.mean(), rel=1e-5)


def test_flow_agreement_of_known_fields():
    rng = np.random.default_rng(0)
    field = rng.normal(size=(32, 32, 2)).astype(np.float32)
    field *= (0.2 + np.linalg.norm(field, axis=-1, keepdims=True)) / np.linalg.norm(
        field, axis=-1, keepdims=True
    )
    same = flow_agreement(field, field)
    assert same["cosine"] == pytest.approx(1.0)
    assert same["epe"] == pytest.approx(0.0)
    opposite = flow_agreement(field, -field)
    assert opposite["cosine"] == pytest.approx(-1.0)
    assert opposite["epe"] == pytest.approx(2 * np.linalg.norm(field, axis=-1).mean(), rel=1e-6)
    orthogonal = np.stack([-field[..., 1], field[..., 0]], axis=-1)
    assert flow_agreement(field, orthogonal)["cosine"] == pytest.approx(0.0, abs=1e-6)
    still = flow_agreement(field, np.zeros_like(field))
    assert still["cosine"] == 0.0  # motion on one side only is not similarity
    assert still["magnitude_synthetic"] == 0.0
    half = np.zeros((32, 32), dtype=bool)
    half[:, :16] = True
    mixed = field.copy()
    mixed[:, 16:] *= -1
    assert flow_agreement(field, mixed, half)["cosine"] == pytest.approx(1.0)


def test_hsv_rendering_encodes_direction_as_hue_and_length_as_value():
    flow = np.zeros((4, 4, 2), dtype=np.float32)
    flow[0, 0] = (2.0, 0.0)  # right: hue 0, red
    flow[1, 1] = (0.0, 2.0)  # down: hue 90 deg, yellow-green... in HSV with hue 90 deg
    flow[2, 2] = (1.0, 0.0)  # half as long: half the brightness
    rgb = flow_to_rgb(flow)
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    assert tuple(rgb[0, 0]) == (255, 0, 0)
    assert hsv[1, 1, 0] == 45  # OpenCV hue = degrees / 2
    assert hsv[2, 2, 2] == pytest.approx(127, abs=1)
    assert rgb[3, 3].max() == 0  # no motion: black
    # A shared scale keeps two renderings comparable.
    assert flow_to_rgb(flow, max_magnitude=4.0)[0, 0, 0] == pytest.approx(127, abs=1)


def test_warping_with_the_true_flow_explains_the_motion():
    first = textured_image(96, seed=3)
    matrix = np.float32([[1, 0, 2.0], [0, 1, -1.0]])
    second = cv2.warpAffine(
        first, matrix, (96, 96), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT
    )
    true_flow = np.zeros((96, 96, 2), dtype=np.float32)
    true_flow[...] = (2.0, -1.0)
    warped, inside = warp(second.astype(np.float32), true_flow)
    assert not inside[:, -1].any() and not inside[0].any()  # x + 2 and y - 1 leave the frame
    assert inside[1:, :-2].all()
    assert np.abs(warped - first)[INNER].mean() < 0.5
    assert warping_error(first, second, true_flow) < 0.2 * warping_error(
        first, second, np.zeros_like(true_flow)
    )
