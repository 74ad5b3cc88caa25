"""The demo's summary lines: spotting F1 and the false positives on the clip's distractors."""

from __future__ import annotations

from mesynth.demo import clip_seconds, spotting_lines


def _side(n_tp, n_gt, n_pred, f1, blinks=None, turns=None):
    side = {"overall": {"n_tp": n_tp, "n_gt": n_gt, "n_pred": n_pred, "f1": f1}}
    if blinks is not None:
        side["distractors"] = {
            "blink": dict(zip(("false_positives", "marked", "n"), blinks, strict=True)),
            "head_turn": dict(zip(("false_positives", "marked", "n"), turns, strict=True)),
        }
    return side


def test_spotting_lines_count_false_positives_on_blinks_and_head_turns_apart():
    spotting = {
        "original": _side(2, 2, 3, 0.8, blinks=(1, 1, 2), turns=(0, 0, 1)),
        "synthetic[synthetic]": _side(0, 2, 0, 0.0, blinks=(0, 0, 2), turns=(0, 0, 1)),
    }
    assert spotting_lines(spotting, untrained=True) == [
        "  spotting F1, original: 0.800 (2 of 2 expressions found, 3 predicted); false positives "
        "on blinks 1 (1 of 2 blinks), on head turns 0 (0 of 1 turns)",
        "  spotting F1, synthetic (UNTRAINED synthesis): 0.000 (0 of 2 expressions found, 0 "
        "predicted); false positives on blinks 0 (0 of 2 blinks), on head turns 0 (0 of 1 turns)",
    ]
    # A clean clip has no distractor counts: the line stops after the F1.
    clean = spotting_lines({"original": _side(1, 1, 1, 1.0)}, untrained=False)
    assert clean == ["  spotting F1, original: 1.000 (1 of 1 expressions found, 1 predicted)"]


def test_the_clip_length_asked_for_wins():
    assert clip_seconds(4.0) == 4.0
