"""Temporal consistency: consecutive-frame pairs spread over the video."""

from __future__ import annotations

import numpy as np
import pytest

from mesynth.evaluation.temporal import sample_starts, temporal_consistency
from mesynth.imaging import FarnebackParams
from tests.evaluation.helpers import textured_image, write_frame_pair


def test_temporal_pairs_are_spread_over_the_video():
    np.testing.assert_array_equal(sample_starts(5, 10), [0, 1, 2, 3])
    starts = sample_starts(1001, 5)
    assert len(starts) == 5 and starts[0] == 0 and starts[-1] == 999  # the last pair is (999, 1000)
    assert np.all(np.abs(np.diff(starts) - 249.75) <= 1)
    assert len(sample_starts(1, 5)) == 0


def moving_texture(count: int) -> list[np.ndarray]:
    texture = textured_image(64)
    return [np.roll(texture, shift, axis=1) for shift in range(count)]


def test_an_exact_copy_flickers_as_much_as_the_original(tmp_path):
    frames = moving_texture(6)
    pair = write_frame_pair(tmp_path, frames, frames)
    row = temporal_consistency(pair, max_pairs=3, params=FarnebackParams())
    assert row["video"] == "v" and row["n_pairs"] == 3
    assert row["warp_error_ratio"] == pytest.approx(1.0)
    assert row["frame_difference_original"] == pytest.approx(row["frame_difference_synthetic"])
    assert row["frame_difference_original"] > 0.01


def test_a_motionless_copy_has_no_frame_difference(tmp_path):
    frames = moving_texture(5)
    pair = write_frame_pair(tmp_path, frames, [frames[0]] * 5)
    row = temporal_consistency(pair, max_pairs=10, params=FarnebackParams())
    assert row["n_pairs"] == 4
    assert row["frame_difference_synthetic"] == 0.0
    assert row["warp_error_synthetic"] > row["warp_error_original"]
    single = write_frame_pair(tmp_path / "one", frames[:1], frames[:1])
    assert temporal_consistency(single, 5, FarnebackParams())["n_pairs"] == 0
