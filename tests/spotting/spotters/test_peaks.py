"""Moilanen's threshold and the intervals of peaks above it, on hand-made curves."""

from __future__ import annotations

import numpy as np
import pytest

from mesynth.spotting.spotters.peaks import peak_intervals, threshold


def test_peak_intervals_follow_the_moilanen_threshold():
    curve = np.zeros(100)
    curve[10:21] = np.hanning(11) * 1.0  # a peak of 1 at row 15
    curve[60:81] = np.hanning(21) * 0.5  # a peak of 0.5 at row 70
    assert threshold(curve, 0.5) == pytest.approx(curve.mean() + 0.5 * (1 - curve.mean()))
    assert [peak for _, _, peak in peak_intervals(curve, 0.5, 0.5, 5)] == [15]
    found = peak_intervals(curve, 0.3, 0.5, 5)
    assert [peak for _, _, peak in found] == [15, 70]
    # Half-height extents of the two Hann windows: 5 and 10 rows wide around their peaks.
    assert found[0][:2] == (13, 17) and found[1][:2] == (65, 75)


def test_a_shoulder_of_higher_peaks_is_no_interval_of_its_own():
    """A lower bump between two plateaus whose curve never falls to the bump's own level before
    it reaches them: no motion of its own, so no third interval spanning both plateaus."""
    curve = np.zeros(120)
    curve[10:40] = curve[80:110] = 1.0
    curve[40:80] = 0.18  # below the plateaus' level (0.2), above the bump's (0.16)
    curve[50:71] = 0.18 + np.hanning(21) * (0.8 - 0.18)  # the bump: 0.8 at row 60
    found = peak_intervals(curve, 0.1, 0.2, 5)
    assert [(start, end) for start, end, _ in found] == [(10, 39), (80, 109)]
    # Alone, the same bump is a motion of its own.
    assert [peak for _, _, peak in peak_intervals(curve[45:76], 0.1, 0.2, 5)] == [15]
