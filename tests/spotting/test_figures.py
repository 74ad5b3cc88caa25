"""The spotting figures: F1 by condition side by side with the level in the title and bars of
F1 0, and score curves that show the threshold and hits and misses by type."""

from __future__ import annotations

import numpy as np
import pytest

from mesynth.spotting import figures as plots
from mesynth.spotting.experiment import assemble
from mesynth.spotting.types import Interval, Prediction
from tests.spotting.flow_videos import _cfg


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
    # flow_peaks' own threshold, from the score's median (its neutral level), not its mean.
    fits = outcome.fits
    p = fits[(fits["held_out"] == "a") & (fits["label"] == "original")]["p"].item()
    scores = curve["scores"]["original"]
    level = np.median(scores)
    assert curve["thresholds"]["original"] == pytest.approx(level + p * (scores.max() - level))
    assert curve["thresholds"]["original"] < scores.mean()
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
