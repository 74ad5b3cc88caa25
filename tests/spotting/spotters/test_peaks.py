"""The threshold (Moilanen's, from the mean, or from the median) and the intervals of peaks above
it, on hand-made curves."""

from __future__ import annotations

import numpy as np
import pytest

from mesynth.spotting.spotters.peaks import PeakSettings, peak_intervals, threshold


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


def test_long_plateaus_lift_the_mean_above_a_weak_peak_but_not_the_median():
    """Two long macro plateaus fill 40% of the curve: the mean (0.40) lies above a weak micro
    peak (0.3), so no p finds it from the mean; from the median (0, the neutral level) it is
    found, and a threshold of p=0.2 still keeps the flat stretches out."""
    curve = np.zeros(200)
    curve[20:60] = curve[120:160] = 1.0
    curve[90:97] = np.hanning(7) * 0.3  # 0.3 at row 93
    mean = curve.mean()
    assert 0.40 < mean < 0.41
    assert threshold(curve, 0.02) == pytest.approx(mean + 0.02 * (1 - mean))
    assert threshold(curve, 0.2, "median") == pytest.approx(0.2)
    for p in (0.02, 0.1, 0.2):
        found = peak_intervals(curve, p, 0.5, 5)
        assert sorted((start, end) for start, end, _ in found) == [(20, 59), (120, 159)]
    found = peak_intervals(curve, 0.2, 0.5, 5, threshold_base="median")
    assert sorted((start, end) for start, end, _ in found) == [(20, 59), (92, 94), (120, 159)]
    assert 93 in [peak for *_, peak in found]
    with pytest.raises(ValueError, match="threshold base 'max' is not one of"):
        threshold(curve, 0.2, "max")
    with pytest.raises(ValueError, match="threshold_base='mode' must be one of"):
        PeakSettings(threshold_base="mode")
