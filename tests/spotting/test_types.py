"""The vocabulary of spotting: type spellings, intervals and predictions as typed values, videos
named after their ground truth, and the spotter protocol."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mesynth.spotting.types import (
    EXPRESSION_TYPES,
    Interval,
    Prediction,
    Spotter,
    SpottingVideo,
    normalise_type,
)


def test_every_spelling_of_the_two_types_is_read_and_others_are_refused():
    assert EXPRESSION_TYPES == ("micro", "macro")
    for spelling in ("me", "Micro", " MICRO-EXPRESSION ", "micro_expression", "micro expression"):
        assert normalise_type(spelling) == "micro"
    for spelling in ("mae", "MACRO", "Macro-Expression", "macroexpression"):
        assert normalise_type(spelling) == "macro"
    with pytest.raises(ValueError, match="'blink' is neither micro nor macro; write one of"):
        normalise_type("blink")


def test_intervals_hold_ints_and_a_normalised_type_and_count_both_ends():
    interval = Interval(np.int64(10), 14.0, "ME")
    assert (interval.onset, interval.offset, interval.kind) == (10, 14, "micro")
    assert type(interval.onset) is int and type(interval.offset) is int
    assert interval.length == 5
    assert Interval(7, 7, "mae").length == 1 and Interval(8, 7, "macro").length == 0
    assert interval == Interval(10, 14, "micro")
    with pytest.raises(AttributeError):
        interval.onset = 3  # frozen


def test_a_prediction_is_typed_and_gives_its_interval():
    prediction = Prediction(6, np.int32(20), 31, "mae", np.float32(0.25))
    assert prediction.video == "6" and prediction.score == 0.25
    assert type(prediction.score) is float
    assert prediction.interval == Interval(20, 31, "macro")
    assert math.isnan(Prediction("v", 1, 2, "micro").score)


def test_a_video_is_named_after_its_ground_truth_id_unless_named():
    original = SpottingVideo("006_1", "006", 200.0, None)
    assert (original.name, original.origin, original.events) == ("006_1", "original", [])
    synthetic = SpottingVideo("006_1", "006", 200.0, None, name="006_1_syn", origin="synthetic")
    assert synthetic.name == "006_1_syn" and synthetic.video_id == "006_1"
    assert SpottingVideo("a", "a", 1.0, None).events is not original.events  # not shared


def test_the_spotter_protocol_asks_for_fit_frame_scores_and_predict():
    class Complete:
        def fit(self, videos):
            pass

        def frame_scores(self, video):
            return np.zeros(3)

        def predict(self, video):
            return []

    class NoScores:
        def fit(self, videos):
            pass

        def predict(self, video):
            return []

    assert isinstance(Complete(), Spotter)
    assert not isinstance(NoScores(), Spotter)
