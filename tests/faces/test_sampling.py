"""Frames to look at: indices spread evenly over a video."""

from __future__ import annotations

from mesynth.faces.sampling import sample_indices


def test_sample_indices_spread_over_the_video() -> None:
    assert sample_indices(100, 5) == [0, 25, 50, 74, 99]
    assert sample_indices(3, 16) == [0, 1, 2]
    assert sample_indices(0, 4) == [] and sample_indices(10, 0) == []
