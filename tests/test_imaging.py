"""The shared greyscale conversion and Farneback call."""

from __future__ import annotations

import numpy as np
import pytest

from mesynth.imaging import FarnebackParams, farneback, to_grey


def test_to_grey_weights_rgb_like_itu_601_and_passes_grey_through():
    rgb = np.zeros((2, 3, 3), dtype=np.uint8)
    rgb[..., 0], rgb[0, 0] = 200, (0, 255, 0)
    grey = to_grey(rgb)
    assert grey.dtype == np.uint8 and grey.shape == (2, 3)
    assert grey[0, 0] == 150 and grey[1, 2] == 60  # 0.587 * 255, 0.299 * 200
    rgba = np.concatenate([rgb, np.full((2, 3, 1), 7, np.uint8)], axis=2)
    assert np.array_equal(to_grey(rgba), grey)
    single = rgb[..., :1]
    assert np.array_equal(to_grey(single), single[..., 0])
    assert to_grey(single).flags["C_CONTIGUOUS"]
    plain = np.arange(6, dtype=np.uint8).reshape(2, 3)
    assert np.array_equal(to_grey(plain), plain)


def test_to_grey_refuses_other_dtypes_and_shapes():
    with pytest.raises(ValueError, match="uint8, got float32"):
        to_grey(np.zeros((2, 2, 3), np.float32))
    with pytest.raises(ValueError, match="got shape"):
        to_grey(np.zeros((2, 2, 2), np.uint8))


def test_farneback_finds_a_two_pixel_shift_on_grey_and_rgb_alike():
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 255, (24, 24), dtype=np.uint8)
    texture = np.kron(texture, np.ones((4, 4), np.uint8))  # 96x96, blocks of 4 px
    first, second = texture[:, 4:84], texture[:, 2:82]  # second = first moved 2 px right
    flow = farneback(first, second, FarnebackParams(winsize=21))
    inner = flow[20:-20, 20:-20]
    assert np.median(inner[..., 0]) == pytest.approx(2.0, abs=0.3)
    assert np.median(inner[..., 1]) == pytest.approx(0.0, abs=0.3)
    rgb = np.repeat(first[..., None], 3, axis=2), np.repeat(second[..., None], 3, axis=2)
    assert np.array_equal(farneback(*rgb, FarnebackParams(winsize=21)), flow)
    with pytest.raises(ValueError, match="one size"):
        farneback(first, second[:10])
