"""flow_peaks cannot find expressions in noise: its absolute motion floor, what its calibration
records, and the grid-edge warning."""

from __future__ import annotations

from mesynth.spotting.spotters.flow_peaks import FlowPeaks, FlowPeaksSettings, displacement_pixels
from mesynth.spotting.spotters.peaks import PeakSettings
from tests.spotting.flow_videos import EVENTS, _settings, _video


def test_a_video_without_motion_yields_no_intervals():
    noise_only = _video("n_1", [], amplitude=0.0, noise=2e-4, seed=3)
    assert displacement_pixels(noise_only.features, _settings()).max() < 0.05
    spotter = FlowPeaks(_settings(calibrate=False))
    assert spotter.predict(noise_only) == []
    # The relative threshold alone turns noise into "expressions": the floor is what stops it.
    without_floor = FlowPeaks(
        FlowPeaksSettings(
            baseline_seconds=4.0,
            motion_floor=0.0,
            rois=None,
            peaks=PeakSettings(calibrate=False),
        )
    )
    assert len(without_floor.predict(noise_only)) > 0
    moving = _video("m_1", EVENTS["a_1"])
    assert len(spotter.predict(moving)) >= 2


def test_calibration_records_p_and_extent_and_warns_on_a_grid_edge(caplog):
    training = [_video(v, e, seed=i) for i, (v, e) in enumerate(EVENTS.items())]
    spotter = FlowPeaks(_settings(p_grid=(0.3, 0.5), extent_grid=(0.1, 0.3, 0.5)))
    with caplog.at_level("WARNING"):
        spotter.fit(training)
    fitted = spotter.fitted()
    assert fitted["p"] in (0.3, 0.5) and fitted["extent"] in (0.1, 0.3, 0.5)
    assert fitted["training_f1"] > 0.5 and fitted["learnt_nothing"] is False
    # A two-value grid: whatever p is chosen lies on its edge, and the log says so.
    assert f"p={fitted['p']:g}" in fitted["grid_edge"]
    assert "landed on the edge of its grid" in caplog.text
    assert "spotter.peaks.p_grid" in caplog.text


def test_a_spotter_calibrated_on_motionless_videos_learns_nothing(caplog):
    frozen = [_video(v, e, amplitude=0.0, seed=i) for i, (v, e) in enumerate(EVENTS.items())]
    spotter = FlowPeaks(_settings())
    with caplog.at_level("WARNING"):
        spotter.fit(frozen)
    assert spotter.fitted()["learnt_nothing"] is True
    assert "has learnt nothing and predicts nothing" in caplog.text
    assert spotter.predict(_video("a_1", EVENTS["a_1"])) == []
