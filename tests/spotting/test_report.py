"""What the spotting experiment writes: scored MEGC predictions, F1 against p per condition, the
report's published results, the training-free caveat and the frozen control, and figures that
show the threshold, hits and misses by type, conditions side by side and bars of F1 0."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from mesynth.spotting import figures as plots
from mesynth.spotting.data import SpottingInputs, VideoEntry
from mesynth.spotting.experiment import assemble
from mesynth.spotting.folds import P_STEPS, frozen_set, run_folds
from mesynth.spotting.spotters.flow_peaks import FlowPeaks, FlowPeaksSettings
from mesynth.spotting.spotters.peaks import PeakSettings
from mesynth.spotting.types import Interval, Prediction
from tests.spotting.test_flow_peaks import EVENTS, _video


@pytest.fixture
def captured(monkeypatch):
    """The matplotlib figures the spotting figures module saves, by file name."""
    figures = {}

    def keep(figure, path, dpi):
        figures[Path(path).name] = figure
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(b"png")
        return Path(path)

    monkeypatch.setattr(plots, "save_figure", keep)
    return figures


@pytest.fixture(scope="module")
def computed():
    """One run of the folds for every test of this file (each gets its own copy)."""
    return _run()


@pytest.fixture
def outcome_inputs(computed):
    return copy.deepcopy(computed)


def _run():
    originals = [_video(v, e, seed=i) for i, (v, e) in enumerate(EVENTS.items())]
    copies = [
        _video(v, e, seed=10 + i, origin="synthetic") for i, (v, e) in enumerate(EVENTS.items())
    ]
    frozen = [
        _video(v, e, amplitude=0.0, seed=20 + i, origin="synthetic")
        for i, (v, e) in enumerate(EVENTS.items())
    ]
    settings = FlowPeaksSettings(baseline_seconds=4.0, rois=None, peaks=PeakSettings())
    outcome = run_folds(
        originals,
        {"copy": copies, frozen_set("copy"): frozen},
        lambda seed: FlowPeaks(settings),
        conditions=["original", "synthetic", "preservation", "frozen"],
        curve_videos=["a_1"],
        progress=False,
    )
    entries = [VideoEntry(v.name, v.name, v.participant, "original", None, None) for v in originals]
    inputs = SpottingInputs(entries, {"copy": []}, {v.name: v.events for v in originals}, Path("a"))
    return outcome, inputs


def _cfg(tmp_path: Path, confidence: float = 0.9):
    return OmegaConf.create(
        {
            "output_dir": str(tmp_path),
            "spotter": {"name": "flow_peaks"},
            "spotting": {
                "iou": 0.5,
                "matching": "megc",
                "bootstrap": {"n_resamples": 50, "confidence": confidence, "seed": 0},
                "figures": {"enabled": True, "dpi": 30},
            },
        }
    )


def test_tables_hold_scores_and_f1_against_p_for_every_condition(
    tmp_path, captured, outcome_inputs
):
    outcome, inputs = outcome_inputs
    results = assemble(_cfg(tmp_path), inputs, outcome)
    for label in ("original", "synthetic", "preservation", "frozen"):
        predictions = results.tables[f"spotting_predictions_{label}"]
        assert list(predictions.columns) == ["vid", "pred_onset", "pred_offset", "type", "score"]
    scored = results.tables["spotting_predictions_original"]["score"]
    assert len(scored) > 0 and scored.notna().all() and (scored > 0).all()

    by_p = results.tables["spotting_f1_by_p"]
    assert P_STEPS == tuple(round(0.05 * i, 2) for i in range(20))
    for label in ("original", "synthetic", "preservation", "frozen"):
        for kind in ("micro", "macro", "overall"):
            rows = by_p[(by_p["label"] == label) & (by_p["type"] == kind)]
            assert rows["p"].tolist() == list(P_STEPS)
    original = by_p[(by_p["label"] == "original") & (by_p["type"] == "overall")]
    assert original["f1"].max() >= 0.8 and original["n_gt"].eq(6).all()
    assert (by_p[by_p["label"] == "frozen"]["n_pred"] == 0).all()  # learnt nothing, at any p
    # Same numbers in summary.json: one F1 per p step.
    assert results.summary["f1_by_p"]["original"]["overall"] == original["f1"].tolist()
    assert results.summary["p_steps"] == list(P_STEPS)
    assert len(results.summary["fits"]) == 3 * 4


def test_the_report_shows_published_results_the_caveat_and_the_control(
    tmp_path, captured, outcome_inputs
):
    outcome, inputs = outcome_inputs
    report = assemble(_cfg(tmp_path), inputs, outcome).report
    assert "| MEGC2020 baseline (MDMD, He et al. 2020) | 0.0445 | 0.0376 |" in report
    assert "| SOFTNet (Liong et al. 2021) | 0.1881 | 0.2022 |" in report
    assert "IoU >= 0.5, counts pooled over all videos" in report
    assert "is training-free" in report and "measures whether synthesis preserved" in report
    assert "| frozen (control: frozen frames) | overall | 0 | 0 | 6 |" in report
    assert "Calibrated per fold (`p`, `extent` in `spotting_folds.csv`" in report
    assert "- `frozen`: " in report and "3 found no training event and predict nothing" in report
    assert "Ground truth scored: 3 micro, 3 macro." in report
    assert "![F1 against p](figures/spotting_f1_by_p.png)" in report


def test_f1_figure_sets_conditions_side_by_side_titles_the_level_and_shows_zero_bars(
    tmp_path, captured, outcome_inputs
):
    outcome, inputs = outcome_inputs
    assemble(_cfg(tmp_path, confidence=0.9), inputs, outcome)
    figure = captured["spotting_f1_by_condition.png"]
    assert "90% bootstrap interval" in figure._suptitle.get_text()
    axes = [axis for axis in figure.axes if axis.patches]
    assert [axis.get_title() for axis in axes] == ["micro", "macro", "overall"]
    for axis in axes:
        ticks = [tick.get_text() for tick in axis.get_xticklabels()]
        assert ticks == ["original", "synthetic", "preservation\n(on synthetic)", "frozen"]
        frozen_bar = axis.patches[3]
        assert frozen_bar.get_height() == plots.ZERO_HEIGHT > 0 and frozen_bar.get_hatch()
        assert "0.00" in [text.get_text() for text in axis.texts]


def test_score_curves_show_the_threshold_and_hits_and_misses_by_type(
    tmp_path, captured, outcome_inputs
):
    outcome, _ = outcome_inputs
    curve = outcome.curves["a_1"]
    assert set(curve["thresholds"]) == {"original", "synthetic", "frozen"}
    assert curve["thresholds"]["frozen"] is None  # it learnt nothing: no threshold applies
    video = curve["video"]
    curve["predictions"]["original"] = [
        Prediction("a_1", 100, 119, "micro", 1.0),  # hit
        Prediction("a_1", 500, 560, "macro", 0.5),  # miss
    ]
    plots.score_curves(outcome.curves, tmp_path / "curves.png", 30, iou_threshold=0.5)
    figure = captured["curves.png"]
    panels = [axis for axis in figure.axes if axis.lines]
    assert [axis.get_title() for axis in panels] == ["original", "synthetic", "frozen"]
    original = panels[0]
    scale = np.nanmax(np.abs(curve["scores"]["original"]))
    threshold = [line for line in original.lines if line.get_color() == plots.THRESHOLD_COLOUR]
    assert len(threshold) == 1
    assert threshold[0].get_ydata()[0] == pytest.approx(curve["thresholds"]["original"] / scale)
    bars = [line for line in original.lines if line.get_color() in plots.EVENT_COLOURS.values()]
    by_start = {int(line.get_xdata()[0]): line for line in bars}
    assert by_start[100].get_color() == plots.EVENT_COLOURS["micro"]
    assert by_start[100].get_linewidth() == 4  # hit
    assert by_start[500].get_color() == plots.EVENT_COLOURS["macro"]
    assert by_start[500].get_linewidth() == 2  # miss
    assert plots.is_hit(Prediction("a_1", 100, 119, "micro"), video.events, 0.5)
    assert not plots.is_hit(Prediction("a_1", 100, 119, "macro"), video.events, 0.5)
    assert not plots.is_hit(
        Prediction("a_1", 100, 119, "micro"), [Interval(100, 200, "micro")], 0.5
    )
