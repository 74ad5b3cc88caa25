"""Leave-one-subject-out folds: their order, the arms, what each fold trains and tests on, and
the counts per fold, with stand-in spotters whose answers are known; each fit's choice of
flow_peaks recorded per fold, and the frozen control scoring zero."""

from __future__ import annotations

import pytest

from mesynth.spotting.experiment import predictions_name
from mesynth.spotting.folds import (
    Arm,
    Fold,
    frozen_set,
    make_arms,
    make_folds,
    run_folds,
    training_videos,
)
from mesynth.spotting.spotters.flow_peaks import FlowPeaks
from mesynth.spotting.summary import fold_table, summary_table
from tests.spotting.flow_videos import _settings, video_sets
from tests.spotting.helpers import MotionSpotter, Spy, dataset, video


def test_folds_follow_participants_in_natural_order():
    assert make_folds(["s15", "020", "006", "s2", "006"]) == [
        Fold(0, "006"), Fold(1, "020"), Fold(2, "s2"), Fold(3, "s15"),
    ]  # fmt: skip


def test_arms_are_named_after_the_set_only_when_there_are_several():
    one = make_arms(["original", "original+synthetic", "synthetic", "preservation"], ["synth"])
    assert [a.label for a in one] == [
        "original", "original+synthetic", "synthetic", "preservation",
    ]  # fmt: skip
    two = make_arms(["original", "synthetic"], ["fixed", "random"])
    assert [(a.label, a.synthetic_set) for a in two] == [
        ("original", ""), ("synthetic[fixed]", "fixed"), ("synthetic[random]", "random"),
    ]  # fmt: skip
    assert predictions_name("original+synthetic[fixed]") == (
        "spotting_predictions_original+synthetic_fixed"
    )
    with pytest.raises(ValueError, match="choose among"):
        make_arms(["original", "augmented"], ["x"])
    with pytest.raises(ValueError, match="set synthetic_dir"):
        make_arms(["original", "synthetic"], [])


def test_training_videos_never_hold_the_held_out_participant():
    originals, synthetic = dataset()
    fold = Fold(1, "011")
    chosen = {
        arm.condition: training_videos(arm, fold, originals, synthetic)
        for arm in make_arms(["original", "original+synthetic", "synthetic"], ["fixed"])
    }
    assert [v.name for v in chosen["original"]] == ["006_1", "006_2", "020_1", "020_2"]
    assert [v.name for v in chosen["synthetic"]] == [
        "006_1_syn", "006_2_syn", "020_1_syn", "020_2_syn",
    ]  # fmt: skip
    assert [v.name for v in chosen["original+synthetic"]] == (
        [v.name for v in chosen["original"]] + [v.name for v in chosen["synthetic"]]
    )
    lonely = {"fixed": [v for v in synthetic["fixed"] if v.participant == "011"]}
    with pytest.raises(ValueError, match="no training video"):
        training_videos(Arm("synthetic", "fixed", "synthetic"), fold, originals, lonely)


def test_held_out_synthetic_videos_never_reach_training():
    originals, synthetic = dataset()
    spy = Spy()
    outcome = run_folds(originals, synthetic, spy.make, seed=7, progress=False)
    assert len(outcome.folds) == 3
    # 3 folds x 3 fitted arms (preservation reuses the original spotter).
    assert len(spy.fits) == 9
    for fold, fits in zip(
        outcome.folds, (spy.fits[0:3], spy.fits[3:6], spy.fits[6:9]), strict=True
    ):
        for fit in fits:
            assert fit["seed"] == 7 + fold.index  # same seed for every condition of a fold
            participants = {participant for _, participant, _ in fit["videos"]}
            assert fold.held_out not in participants
            assert participants == {"006", "011", "020"} - {fold.held_out}
        original, mixed, synthetic_only = ({o for *_, o in fit["videos"]} for fit in fits)
        assert (original, mixed, synthetic_only) == (
            {"original"}, {"original", "synthetic"}, {"synthetic"},
        )  # fmt: skip
    # Tests: the held-out participant's originals, and (preservation) its synthetic videos.
    synthetic_tests = [
        (seed, name) for seed, name, origin in spy.predictions if origin == "synthetic"
    ]
    assert synthetic_tests == [
        (7, "006_1_syn"), (7, "006_2_syn"), (8, "011_1_syn"), (8, "011_2_syn"),
        (9, "020_1_syn"), (9, "020_2_syn"),
    ]  # fmt: skip


def test_fold_counts_with_a_spotter_that_finds_everything():
    originals, synthetic = dataset()
    outcome = run_folds(originals, synthetic, MotionSpotter, progress=False)
    table = fold_table(outcome.counts)
    original = table[(table["label"] == "original") & (table["type"] == "overall")]
    assert original["held_out"].tolist() == ["006", "011", "020"]
    assert original["n_gt"].tolist() == [3, 1, 3]
    assert original["n_tp"].tolist() == [3, 1, 3]
    assert original["n_pred"].tolist() == [3, 1, 3]
    assert (original["f1"] == 1.0).all()
    micro = table[(table["label"] == "original") & (table["type"] == "micro")]
    assert micro["n_gt"].tolist() == [2, 0, 2]
    # Predictions keep the video ids of what was tested: originals, then synthetic names.
    assert {p.video for p in outcome.predictions["original"]} == {
        "006_1",
        "006_2",
        "011_1",
        "020_1",
        "020_2",
    }
    assert {p.video for p in outcome.predictions["preservation"]} == {
        "006_1_syn", "006_2_syn", "011_1_syn", "020_1_syn", "020_2_syn",
    }  # fmt: skip
    preservation = table[(table["label"] == "preservation") & (table["type"] == "overall")]
    assert preservation["test_side"].tolist() == ["synthetic", "original"] * 3
    assert list(table.columns) == [
        "fold", "held_out", "condition", "synthetic_set", "label", "test_side", "type",
        "n_pred", "n_tp", "n_gt", "precision", "recall", "f1",
    ]  # fmt: skip


def test_synthetic_videos_that_lost_the_motion_show_in_preservation_and_training():
    originals, synthetic = dataset()
    frozen = [video(v.video_id, v.events, "synthetic", v.name) for v in synthetic["fixed"]]
    for v in frozen:
        v.features.motion[:] = 0.0  # no motion survived
    outcome = run_folds(originals, {"frozen": frozen}, MotionSpotter, progress=False)
    folds = fold_table(outcome.counts)
    summary = summary_table(folds, outcome.arms, n_resamples=200, seed=3)
    overall = summary[summary["type"] == "overall"].set_index("label")
    assert overall.loc["original", "f1"] == 1.0
    assert overall.loc["original+synthetic", "f1"] == 1.0  # the originals still teach it
    # Trained on motionless videos the threshold is 0: nothing is predicted.
    assert overall.loc["synthetic", "n_pred"] == 0 and overall.loc["synthetic", "f1"] == 0.0
    assert overall.loc["synthetic", "f1_diff"] == -1.0
    assert overall.loc["preservation", "f1"] == 0.0
    assert overall.loc["preservation", "f1_reference"] == 1.0
    assert overall.loc["preservation", "reference"] == "same spotter on the originals"


def test_folds_record_each_fits_choice_and_the_frozen_control_scores_zero():
    originals, copies, frozen = video_sets()
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
