"""Dataset presets: SOFTNet's and MEGC's k, the MEGC2020 length filters, eye masking, the known
totals next to the run's ground truth."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesynth.evaluation.common import EvaluationInputError
from mesynth.spotting.data import SpottingInputs, VideoEntry
from mesynth.spotting.experiment import ground_truth_line
from mesynth.spotting.presets import apply_preset, within_lengths
from mesynth.spotting.types import Interval, Prediction
from tests.evaluation.helpers import evaluation_config


def _cfg(*overrides: str):
    return evaluation_config(["task=spotting", "output_dir=/tmp/x", *overrides])


def test_samm_lv_fills_softnet_k_masks_the_eyes_and_types_by_megc_lengths():
    cfg = _cfg("spotter=flow_peaks", "spotting.preset=samm_lv")
    preset = apply_preset(cfg)
    assert (cfg.spotting.features.k, cfg.spotting.features.k_macro) == (37, 174)
    assert list(cfg.spotter.rois) == ["brow_left", "brow_right", "mouth"]
    assert cfg.spotter.peaks.micro_max_seconds == pytest.approx(105 / 200)
    assert preset.known_totals == {"micro": 159, "macro": 343}
    assert preset.lengths == {"micro": (47, 105), "macro": (106, None)}


def test_casme2_with_megc_k_and_a_k_set_on_the_command_line():
    cfg = _cfg(
        "spotter=flow_peaks",
        "spotting.preset=casme2",
        "spotting.preset_k=megc",
        "spotting.features.k=8",
        "spotter.rois=[mouth]",
    )
    preset = apply_preset(cfg)
    assert (cfg.spotting.features.k, cfg.spotting.features.k_macro) == (8, 39)  # k was set
    assert list(cfg.spotter.rois) == ["mouth"]
    assert preset.known_totals == {"micro": 57, "macro": 300}
    assert preset.lengths == {"micro": (7, 16), "macro": (17, None)}


def test_no_preset_changes_nothing_and_an_unknown_one_is_refused():
    cfg = _cfg("spotter=flow_peaks")
    assert apply_preset(cfg) is None and cfg.spotting.features.k is None
    with pytest.raises(EvaluationInputError, match=r"spotting.preset='samm' is not one of"):
        apply_preset(_cfg("spotting.preset=samm"))
    with pytest.raises(EvaluationInputError, match=r"spotting.preset_k='mine'"):
        apply_preset(_cfg("spotting.preset=casme2", "spotting.preset_k=mine"))


def test_the_megc_length_filters_drop_what_the_baseline_drops():
    lengths = {"micro": (7, 16), "macro": (17, None)}
    predictions = [
        Prediction("v", 1, 6, "micro"),  # 6 frames: too short
        Prediction("v", 1, 7, "micro"),
        Prediction("v", 1, 16, "micro"),
        Prediction("v", 1, 17, "micro"),  # too long for a micro-expression
        Prediction("v", 1, 16, "macro"),  # too short for a macro-expression
        Prediction("v", 1, 900, "macro"),
    ]
    kept = within_lengths(predictions, lengths)
    assert [(p.offset, p.kind) for p in kept] == [(7, "micro"), (16, "micro"), (900, "macro")]
    assert within_lengths(predictions, None) == predictions


def test_the_report_prints_n_gt_next_to_the_known_totals():
    cfg = _cfg("spotting.preset=samm_lv")
    preset = apply_preset(cfg)
    entries = [VideoEntry("006_1", "006_1", "006", "original", None, None)]
    truth = {"006_1": [Interval(1, 60, "micro"), Interval(100, 400, "macro")], "007_1": []}
    inputs = SpottingInputs(entries, {}, truth, Path("ann.csv"))
    line = ground_truth_line(inputs, preset)
    assert "SAMM-LV's known totals" in line
    assert "micro 1 of 159 (**differs**), macro 1 of 343 (**differs**)" in line
    assert "micro 47-105 frames, macro 106-any frames" in line
    assert ground_truth_line(inputs, None) == "Ground truth scored: 1 micro, 1 macro."
