"""flow_peaks cannot find expressions in noise: its absolute motion floor, what its calibration
records per fold, the grid-edge warning, and the frozen control through the folds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from mesynth.spotting.folds import frozen_set, make_arms, run_folds
from mesynth.spotting.spotters.flow_peaks import (
    FlowPeaks,
    FlowPeaksSettings,
    displacement_pixels,
)
from mesynth.spotting.spotters.peaks import PeakSettings
from mesynth.spotting.summary import fold_table, summary_table
from mesynth.spotting.types import Interval, SpottingVideo

FPS, K, LENGTH = 50.0, 10, 600


@dataclass
class Features:
    """Stand-in for VideoFeatures with the fields flow_peaks reads."""

    name: str
    frame_numbers: np.ndarray
    vectors: np.ndarray  # (T, R, cells, 2)
    fps: float = FPS
    k: int = K
    stride: int = 1
    roi_names: tuple[str, ...] = ("brow_left", "mouth")


def _video(
    video_id: str,
    events: list[Interval],
    amplitude: float = 0.5,
    noise: float = 1e-4,
    seed: int = 0,
    origin: str = "original",
) -> SpottingVideo:
    """A brow that moves ``amplitude`` px (summed over k-frame flow) away and back during each
    event, over flow noise of ``noise`` px."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(0.0, noise, size=(LENGTH, 2, 4, 2))
    for event in events:
        half = (event.offset - event.onset + 1) // 2
        rise = slice(event.onset - 1, event.onset - 1 + half)
        fall = slice(event.onset - 1 + half, event.onset - 1 + 2 * half)
        vectors[rise, 0, :, 1] += amplitude * K / half
        vectors[fall, 0, :, 1] -= amplitude * K / half
    features = Features(video_id, np.arange(1, LENGTH + 1), vectors)
    return SpottingVideo(
        video_id, video_id.split("_")[0], FPS, features, list(events), origin=origin
    )


EVENTS = {
    "a_1": [Interval(100, 119, "micro"), Interval(300, 359, "macro")],
    "b_1": [Interval(150, 169, "micro"), Interval(420, 479, "macro")],
    "c_1": [Interval(200, 219, "micro"), Interval(80, 139, "macro")],
}


def _settings(**peaks) -> FlowPeaksSettings:
    # The made-up features hold a brow and the mouth only: use every region they have.
    return FlowPeaksSettings(baseline_seconds=4.0, rois=None, peaks=PeakSettings(**peaks))


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


def test_folds_record_each_fits_choice_and_the_frozen_control_scores_zero():
    originals = [_video(v, e, seed=i) for i, (v, e) in enumerate(EVENTS.items())]
    copies = [
        _video(v, e, seed=10 + i, origin="synthetic") for i, (v, e) in enumerate(EVENTS.items())
    ]
    frozen = [
        _video(v, e, amplitude=0.0, seed=20 + i, origin="synthetic")
        for i, (v, e) in enumerate(EVENTS.items())
    ]
    synthetic = {"copy": copies, frozen_set("copy"): frozen}
    conditions = ["original", "synthetic", "preservation", "frozen"]
    assert [a.label for a in make_arms(conditions, ["copy"])] == conditions
    outcome = run_folds(
        originals,
        synthetic,
        lambda seed: FlowPeaks(_settings()),
        conditions=conditions,
        progress=False,
    )
    # One fit per fold and fitted arm, and the preservation arm reuses the original's.
    fits = outcome.fits
    assert sorted(set(fits["label"])) == ["frozen", "original", "preservation", "synthetic"]
    assert len(fits) == 3 * 4
    original = fits[fits["label"] == "original"].set_index("fold")
    preservation = fits[fits["label"] == "preservation"].set_index("fold")
    assert original[["p", "extent"]].equals(preservation[["p", "extent"]])
    assert fits[fits["label"] == "frozen"]["learnt_nothing"].all()

    folds = fold_table(outcome.counts, outcome.fits)
    assert {"p", "extent", "training_f1", "grid_edge", "learnt_nothing"} <= set(folds.columns)
    row = folds[(folds["label"] == "original") & (folds["type"] == "overall")].iloc[0]
    assert row["p"] == original.loc[row["fold"], "p"]

    summary = summary_table(folds, outcome.arms, n_resamples=50)
    overall = summary[summary["type"] == "overall"].set_index("label")
    assert overall.loc["original", "f1"] >= 0.8
    assert overall.loc["frozen", "f1"] == 0.0 and overall.loc["frozen", "n_pred"] == 0
    assert overall.loc["frozen", "f1_diff"] == pytest.approx(-overall.loc["original", "f1"])
