"""The leave-one-subject-out experiment: folds, conditions, leakage, tables, bootstrap, inputs.

The fold logic is tested on SpottingVideo lists with small stand-in feature objects and
stand-in spotters whose answers are known; the run through Hydra on generated clips is at the
end of the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from mesynth.cli import evaluate as run
from mesynth.evaluation.common import EvaluationInputError
from mesynth.faces.crop import Crop
from mesynth.spotting.data import (
    _crop_path,
    load_inputs,
    read_spotting_ground_truth,
    synthetic_sets,
)
from mesynth.spotting.experiment import assemble, predictions_name
from mesynth.spotting.folds import (
    Arm,
    Fold,
    make_arms,
    make_folds,
    run_folds,
    training_videos,
)
from mesynth.spotting.scoring import Counts
from mesynth.spotting.summary import f1_of, fold_table, summary_table
from mesynth.spotting.types import Interval, Prediction, SpottingVideo

# ----------------------------------------------------------------------------- stand-ins


@dataclass
class Features:
    """Stand-in for VideoFeatures: a motion trace and the frame numbers it belongs to."""

    frame_numbers: np.ndarray
    motion: np.ndarray
    fps: float = 50.0


def video(
    video_id: str,
    events: list[Interval],
    origin: str = "original",
    name: str = "",
    length: int = 200,
    participant: str | None = None,
) -> SpottingVideo:
    """A video whose motion is 1 inside its events and 0 elsewhere (frame numbers from 1)."""
    motion = np.zeros(length)
    for event in events:
        motion[event.onset - 1 : event.offset] = 1.0
    return SpottingVideo(
        video_id=video_id,
        participant=participant or video_id.split("_")[0],
        fps=50.0,
        features=Features(np.arange(1, length + 1), motion),
        events=list(events),
        name=name or video_id,
        origin=origin,
    )


class MotionSpotter:
    """Intervals where motion exceeds a threshold learnt as half the training maximum."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.threshold: float | None = None

    def fit(self, videos):
        self.threshold = 0.5 * max(float(v.features.motion.max()) for v in videos)

    def frame_scores(self, video):
        return video.features.motion

    def predict(self, video):
        above = np.flatnonzero(video.features.motion > self.threshold)
        if self.threshold <= 0 or not len(above):
            return []
        runs = np.split(above, np.flatnonzero(np.diff(above) > 1) + 1)
        numbers = video.features.frame_numbers
        found = []
        for segment in runs:
            onset, offset = int(numbers[segment[0]]), int(numbers[segment[-1]])
            kind = "micro" if offset - onset + 1 <= 25 else "macro"
            found.append(Prediction(video.name, onset, offset, kind, 1.0))
        return found


@dataclass
class Spy:
    """Records what every spotter was fitted on and asked to predict."""

    fits: list[dict] = field(default_factory=list)
    predictions: list[tuple[int, str, str]] = field(default_factory=list)

    def make(self, seed: int):
        spy = self

        class SpySpotter(MotionSpotter):
            def fit(self, videos):
                spy.fits.append(
                    {
                        "seed": seed,
                        "videos": [(v.name, v.participant, v.origin) for v in videos],
                    }
                )
                super().fit(videos)

            def predict(self, video):
                spy.predictions.append((seed, video.name, video.origin))
                return super().predict(video)

        return SpySpotter(seed)


def dataset() -> tuple[list[SpottingVideo], dict[str, list[SpottingVideo]]]:
    """Three participants, two videos each; one synthetic set mirroring every original."""
    events = {
        "006_1": [Interval(20, 35, "micro"), Interval(100, 160, "macro")],
        "006_2": [Interval(50, 60, "micro")],
        "011_1": [Interval(30, 90, "macro")],
        "011_2": [],
        "020_1": [Interval(10, 20, "micro"), Interval(120, 140, "micro")],
        "020_2": [Interval(150, 190, "macro")],
    }
    originals = [video(v, e) for v, e in events.items()]
    synthetic = [video(v, e, "synthetic", f"{v}_syn") for v, e in events.items()]
    return originals, {"fixed": synthetic}


# ----------------------------------------------------------------------------- folds and arms


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


# ----------------------------------------------------------------------------- summary


def _folds(rows: list[tuple[int, str, str, str, int, int, int]]) -> pd.DataFrame:
    counts = pd.DataFrame(
        [
            {
                "fold": fold,
                "held_out": held,
                "condition": label.split("[")[0],
                "synthetic_set": "",
                "label": label,
                "test_side": side,
                "video": f"{held}_1",
                "type": "micro",
                "n_pred": n_pred,
                "n_tp": n_tp,
                "n_gt": n_gt,
            }  # fmt: skip
            for fold, held, label, side, n_pred, n_tp, n_gt in rows
        ]
    )
    return fold_table(counts)


def test_summary_pools_counts_and_bootstraps_over_subjects():
    rows = [
        (0, "a", "original", "original", 4, 2, 4),
        (1, "b", "original", "original", 2, 0, 2),
        (2, "c", "original", "original", 4, 4, 4),
        (0, "a", "synthetic", "original", 4, 3, 4),
        (1, "b", "synthetic", "original", 2, 1, 2),
        (2, "c", "synthetic", "original", 4, 4, 4),
    ]
    folds = _folds(rows)
    arms = [Arm("original", "", "original"), Arm("synthetic", "x", "synthetic")]
    summary = summary_table(folds, arms, n_resamples=2000, seed=11)
    micro = summary[summary["type"] == "micro"].set_index("label")
    assert micro.loc["original", ["n_pred", "n_tp", "n_gt"]].tolist() == [10, 6, 10]
    assert micro.loc["original", "f1"] == pytest.approx(0.6)  # pooled, not mean of 0.5, 0, 1
    assert micro.loc["synthetic", "f1"] == pytest.approx(0.8)
    assert micro.loc["synthetic", "f1_diff"] == pytest.approx(0.2)
    assert micro.loc["original", "f1_diff"] == 0.0
    assert (micro.loc["original", "f1_diff_low"], micro.loc["original", "f1_diff_high"]) == (0, 0)

    # The interval by hand: the same draws, the same percentiles.
    rng = np.random.default_rng(11)
    picks = rng.integers(0, 3, size=(2000, 3))
    original = np.array([[4, 2, 4], [2, 0, 2], [4, 4, 4]])
    synthetic = np.array([[4, 3, 4], [2, 1, 2], [4, 4, 4]])
    boot = f1_of(synthetic[picks].sum(axis=1))
    diff = boot - f1_of(original[picks].sum(axis=1))
    assert micro.loc["synthetic", "f1_low"] == pytest.approx(np.quantile(boot, 0.025))
    assert micro.loc["synthetic", "f1_high"] == pytest.approx(np.quantile(boot, 0.975))
    assert micro.loc["synthetic", "f1_diff_low"] == pytest.approx(np.quantile(diff, 0.025))
    assert micro.loc["synthetic", "f1_diff_high"] == pytest.approx(np.quantile(diff, 0.975))
    # Every resample improves or keeps F1 here (subject by subject, synthetic >= original).
    assert micro.loc["synthetic", "f1_diff_low"] >= 0.0
    assert micro.loc["synthetic", "f1_low"] <= 0.8 <= micro.loc["synthetic", "f1_high"]
    # Seeded: the same table again.
    again = summary_table(folds, arms, n_resamples=2000, seed=11)
    pd.testing.assert_frame_equal(summary, again)


def test_f1_of_follows_the_zero_convention():
    sums = np.array([[0, 0, 5], [4, 2, 0], [4, 2, 8], [0, 0, 0]])
    expected = [Counts(*row).f1 for row in sums.tolist()]
    assert f1_of(sums).tolist() == pytest.approx(expected)
    assert expected == [0.0, 0.0, pytest.approx(1 / 3), 0.0]


# ----------------------------------------------------------------------------- inputs


def test_synthetic_dir_as_one_path_a_list_or_named_entries(tmp_path):
    assert synthetic_sets(str(tmp_path / "out_fixed")) == [("out_fixed", tmp_path / "out_fixed")]
    listed = OmegaConf.create(
        {"s": [str(tmp_path / "a"), {"name": "rnd", "path": str(tmp_path / "b")}]}
    ).s
    assert synthetic_sets(listed) == [("a", tmp_path / "a"), ("rnd", tmp_path / "b")]
    assert synthetic_sets(None) == []
    with pytest.raises(EvaluationInputError, match="more than once"):
        synthetic_sets([str(tmp_path / "x" / "out"), str(tmp_path / "y" / "out")])
    with pytest.raises(EvaluationInputError, match="no 'path'"):
        synthetic_sets([{"name": "a"}])


def _write_video(folder: Path, video_id: str, frames: int, size: int = 48, offset: int = 1):
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for index in range(frames):
        name = f"{video_id}_{index + offset:05d}"
        image = np.full((size, size), 40 + 5 * index, np.uint8)
        cv2.imwrite(str(folder / f"{name}.jpg"), image)
        names.append(name)
    return names


def manifest_record(source_video: str, frames: int, status: str = "done") -> dict:
    """One video's record in an infer.py manifest."""
    return {
        "source_video": source_video, "participant": source_video.split("_")[0],
        "source": f"originals/{source_video}", "reference": "reference.png", "domain": 0,
        "strategy": "fixed", "frames": frames, "source_frames": frames, "status": status,
    }  # fmt: skip


def _synthesis_output(root: Path, made: dict[str, tuple[str, int]], untrained=False, crop_size=32):
    """An infer.py-like output: <name>/ PNG frames, crops/<name>.json, manifest.json."""
    videos = {}
    for name, (source_video, frames) in made.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for index in range(frames):
            frame = np.full((crop_size, crop_size, 3), index, np.uint8)
            cv2.imwrite(str(root / name / f"{source_video}_{index + 1:05d}.png"), frame)
        Crop("fixed", crop_size, (48, 48), matrix=[[0.5, 0, 4], [0, 0.5, 4]]).save(
            root / "crops" / f"{name}.json"
        )
        videos[name] = manifest_record(source_video, frames)
    (root / "manifest.json").write_text(json.dumps({"untrained": untrained, "videos": videos}))
    return root


def _config(tmp_path: Path, **overrides):
    base = {
        "original_dir": str(tmp_path / "orig"),
        "original_layout": "auto",
        "synthetic_dir": None,
        "annotations": None,
        "annotations_format": "auto",
        "participant_regex": "^([^_]+)",
        "output_dir": str(tmp_path / "out"),
        "spotting": {
            "participants": None,
            "original_crop": "auto",
            "crop_size": 32,
            "cache_dir": str(tmp_path / "cache"),
        },
    }
    base.update(overrides)
    return OmegaConf.create(base)


def test_inputs_pair_synthetic_videos_with_originals_crops_and_labels(tmp_path):
    for video_id in ("006_1", "006_2", "011_1"):
        _write_video(tmp_path / "orig" / video_id, video_id, 6)
    out = _synthesis_output(
        tmp_path / "synth", {"006_1_a": ("006_1", 6), "011_1_a": ("011_1", 6)}, untrained=True
    )
    annotations = pd.DataFrame(
        {
            "video": ["006_1_a", "011_1_a"], "subject": ["006", "011"], "onset": [2, 1],
            "apex": [3, 2], "offset": [4, 5], "type": ["micro", "macro"], "action_units": ["", ""],
            "source_video": ["006_1", "011_1"],
        }
    )  # fmt: skip
    annotations.to_csv(out / "annotations.csv", index=False)
    # Originals have crops of their own, estimated once and saved in the cache (here: saved
    # estimates are reused; the flat frames hold no face to estimate from).
    from mesynth.video.layouts import open_sources

    estimated = {}
    for rank, source in enumerate(open_sources(tmp_path / "orig")):
        crop = Crop("fixed", 32, (48, 48), matrix=[[0.6, 0, rank], [0, 0.6, 2]])
        crop.save(_crop_path(tmp_path / "cache", source, 32))
        estimated[source.video_id] = crop

    inputs = load_inputs(_config(tmp_path, synthetic_dir=str(out)))
    assert [e.name for e in inputs.originals] == ["006_1", "006_2", "011_1"]
    assert [e.participant for e in inputs.originals] == ["006", "006", "011"]
    # Not synthesis' crop: the baseline must not depend on the synthetic set given.
    assert [e.crop.matrix for e in inputs.originals] == [
        estimated[v].matrix for v in ("006_1", "006_2", "011_1")
    ]
    synthetic = inputs.synthetic["synth"]
    assert [(e.name, e.video_id, e.participant, e.crop) for e in synthetic] == [
        ("006_1_a", "006_1", "006", None), ("011_1_a", "011_1", "011", None),
    ]  # fmt: skip
    # No annotations= given: the synthesis output's labels, taken back to the original ids.
    assert inputs.ground_truth == {
        "006_1": [Interval(2, 4, "micro")], "011_1": [Interval(1, 5, "macro")],
    }  # fmt: skip
    assert inputs.untrained == {"synth": True}

    only = load_inputs(
        _config(tmp_path, synthetic_dir=str(out), spotting={
            "participants": ["006", "011"], "original_crop": "none", "crop_size": 32,
        })
    )  # fmt: skip
    assert all(e.crop is None for e in only.originals)
    with pytest.raises(EvaluationInputError, match="at least 2 participants"):
        load_inputs(
            _config(tmp_path, synthetic_dir=str(out), spotting={
                "participants": ["006"], "original_crop": "auto", "crop_size": 32,
            })
        )  # fmt: skip
    with pytest.raises(EvaluationInputError, match=r"names \['999'\]"):
        load_inputs(
            _config(tmp_path, synthetic_dir=str(out), spotting={
                "participants": ["999"], "original_crop": "auto", "crop_size": 32,
            })
        )  # fmt: skip


def test_inputs_refuse_shortened_synthetic_videos_and_missing_ground_truth(tmp_path):
    for video_id in ("006_1", "011_1"):
        _write_video(tmp_path / "orig" / video_id, video_id, 6)
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "video,subject,onset,apex,offset,type,action_units\n006_1,006,2,3,4,micro,12\n"
    )
    short = _synthesis_output(tmp_path / "short", {"006_1": ("006_1", 4)})
    with pytest.raises(EvaluationInputError, match="4 frames but its original 006_1"):
        load_inputs(_config(tmp_path, synthetic_dir=str(short), annotations=str(labels)))
    whole = _synthesis_output(tmp_path / "whole", {"006_1": ("006_1", 6)})
    with pytest.raises(EvaluationInputError, match="set annotations=FILE"):
        load_inputs(_config(tmp_path, synthetic_dir=str(whole)))
    with pytest.raises(EvaluationInputError, match="not found"):
        read_spotting_ground_truth(tmp_path / "nope.csv", "auto", [])


def test_unfinished_synthetic_videos_are_left_out_and_noted(tmp_path, caplog):
    for video_id in ("006_1", "011_1"):
        _write_video(tmp_path / "orig" / video_id, video_id, 6)
    out = _synthesis_output(tmp_path / "synth", {"006_1_a": ("006_1", 6)})
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["videos"]["011_1_a"] = manifest_record("011_1", 6, status="partial")
    (out / "manifest.json").write_text(json.dumps(manifest))
    labels = tmp_path / "labels.csv"
    labels.write_text("video,subject,onset,apex,offset,type,action_units\n006_1,006,2,3,4,me,\n")
    # 011_1's synthesis never finished, so it has no saved crop; its flat frames hold no face.
    with pytest.raises(EvaluationInputError, match="spotting.original_crop=none"):
        load_inputs(_config(tmp_path, synthetic_dir=str(out), annotations=str(labels)))
    uncropped = {"participants": None, "original_crop": "none", "crop_size": 32}
    with caplog.at_level("WARNING"):
        inputs = load_inputs(
            _config(tmp_path, synthetic_dir=str(out), annotations=str(labels), spotting=uncropped)
        )
    assert [e.name for e in inputs.synthetic["synth"]] == ["006_1_a"]
    assert "1 synthetic video(s) are unfinished and left out (e.g. 011_1_a)" in caplog.text
    assert inputs.notes == ["Synthetic set `synth`: 1 unfinished video(s) left out."]


def test_report_and_tables_from_an_outcome(tmp_path):
    originals, synthetic = dataset()
    outcome = run_folds(originals, synthetic, MotionSpotter, progress=False, curve_videos=["006_1"])
    cfg = OmegaConf.create(
        {
            "output_dir": str(tmp_path),
            "spotter": {"name": "motion"},
            "spotting": {
                "iou": 0.5, "matching": "megc",
                "bootstrap": {"n_resamples": 100, "confidence": 0.95, "seed": 0},
                "figures": {"enabled": True, "dpi": 40},
            },
        }
    )  # fmt: skip
    from mesynth.spotting.data import SpottingInputs

    inputs = SpottingInputs([], synthetic, {}, tmp_path / "ann.csv", {"fixed": True}, ["a note"])
    results = assemble(cfg, inputs, outcome)
    assert set(results.tables) == {
        "spotting_folds", "spotting_summary", "spotting_predictions_original",
        "spotting_predictions_original+synthetic", "spotting_predictions_synthetic",
        "spotting_predictions_preservation",
    }  # fmt: skip
    predictions = results.tables["spotting_predictions_original"]
    assert list(predictions.columns) == ["vid", "pred_onset", "pred_offset", "type", "score"]
    assert (predictions["score"] == 1.0).all()  # the stand-in spotter's confidence
    assert set(predictions["type"]) == {"me", "mae"}
    assert results.summary["conditions"]["original"]["overall"]["f1"] == 1.0
    assert results.summary["untrained_synthesis"] == ["fixed"]
    assert "UNTRAINED" in results.report
    assert "| original | overall | 7 | 7 | 7 | 1.000 | 1.000 | 1.000" in results.report
    assert "![F1 by condition](figures/spotting_f1_by_condition.png)" in results.report
    assert "![Score curves](figures/spotting_score_curves.png)" in results.report
    for path in results.figures.values():
        assert path.is_file() and path.stat().st_size > 1000
    assert set(outcome.curves["006_1"]["scores"]) == {"original", "original+synthetic", "synthetic"}


# ----------------------------------------------------------------------------- through Hydra

DEMO_FPS, DEMO_SECONDS, DEMO_SIZE, CROP_SIZE = 200.0, 2.0, 128, 112


def _synthesise_by_copy(demo: Path, out: Path, frozen: bool = False) -> Path:
    """A synthesis output made without networks: each video's frames through its face crop
    (``frozen``: the first of them, repeated), with crops, manifest and annotations.csv."""
    from mesynth.video.layouts import open_sources

    scale = CROP_SIZE / (DEMO_SIZE - 16)
    crop = Crop(
        "fixed", CROP_SIZE, (DEMO_SIZE, DEMO_SIZE), [[scale, 0, -8 * scale], [0, scale, -8 * scale]]
    )
    annotations = pd.read_csv(demo / "annotations.csv", dtype={"video": str, "subject": str})
    records, tables = {}, []
    for source in open_sources(demo / "frames"):
        name = f"{source.video_id}_syn"
        (out / name).mkdir(parents=True)
        first = None
        for index, frame in source.iter_frames():
            image = crop.apply(frame, index)
            first = image if first is None else first
            image = first if frozen else image
            path = out / name / f"{source.frame_names[index]}.png"
            cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        crop.save(out / "crops" / f"{name}.json")
        records[name] = manifest_record(source.video_id, len(source))
        rows = annotations[annotations["video"] == source.video_id]
        tables.append(rows.assign(source_video=source.video_id, video=name))
    (out / "manifest.json").write_text(json.dumps({"untrained": False, "videos": records}))
    pd.concat(tables).to_csv(out / "annotations.csv", index=False)
    return out


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """Three demo participants (one 2 s, 200 fps clip each, SAMM-LV layout), a synthesis
    output that kept all motion and one that lost it, and a shared feature cache."""
    from mesynth.video.demo_clip import make_demo

    root = tmp_path_factory.mktemp("spotting_clips")
    demo = make_demo(
        root / "demo", seconds=DEMO_SECONDS, fps=DEMO_FPS, frame_size=DEMO_SIZE,
        participants=3, videos=1, progress=False, distractors=False, label_blinks=False,
    )  # fmt: skip
    return {
        "root": root,
        "frames": demo / "frames",
        "annotations": demo / "annotations.csv",
        "copy": _synthesise_by_copy(demo, root / "copy"),
        "frozen": _synthesise_by_copy(demo, root / "frozen", frozen=True),
    }


def _compose(overrides: list[str]):
    from tests.evaluation.helpers import evaluation_config

    return evaluation_config(overrides)


def _overrides(clips: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return [
        "task=spotting",
        f"original_dir={clips['frames']}",
        f"synthetic_dir={clips['copy']}",
        f"annotations={clips['annotations']}",
        f"output_dir={out}",
        f"paths.output_dir={out}",
        f"paths.root_dir={clips['root']}",  # the feature cache lives under it
        "logger=none",
        "spotting.workers=1",
        "spotting.bootstrap.n_resamples=200",
        *extra,
    ]


@pytest.mark.slow
def test_task_spotting_runs_through_hydra_on_generated_clips(clips, tmp_path):
    out = tmp_path / "out"
    sets = f"synthetic_dir=[{clips['copy']},{clips['frozen']}]"
    cfg = _compose([*_overrides(clips, out, "spotter=flow_peaks"), sets])
    assert cfg.task == "spotting" and cfg.spotting.features.fps is None
    summary_json = run(cfg)

    arms = [
        "original", "original+synthetic[copy]", "synthetic[copy]", "preservation[copy]",
        "frozen[copy]", "original+synthetic[frozen]", "synthetic[frozen]",
        "preservation[frozen]", "frozen[frozen]",
    ]  # fmt: skip
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(
        [
            "figures",
            "report.md",
            "spotting_folds.csv",
            "spotting_summary.csv",
            "summary.json",
            "spotting_f1_by_p.csv",
        ]
        + [f"{predictions_name(arm)}.csv" for arm in arms]
    )
    assert not (out / "wandb").exists()  # logger=none logs nothing
    folds = pd.read_csv(out / "spotting_folds.csv", dtype={"held_out": str})
    assert sorted(set(folds["held_out"])) == ["900", "901", "902"]
    # 3 folds x (7 trained arms + 2 preservation arms on 2 sides) x 3 types.
    assert len(folds) == 3 * 11 * 3
    # flow_peaks' calibration of every fold is recorded next to its counts.
    fitted = folds[folds["label"] == "original"]
    assert fitted["p"].notna().all() and fitted["extent"].notna().all()
    assert len(summary_json["spotting"]["fits"]) == 3 * 9
    summary = pd.read_csv(out / "spotting_summary.csv")
    overall = summary[summary["type"] == "overall"].set_index("label")
    assert overall.index.tolist() == arms
    # flow_peaks finds the clean clips' events; the copy kept all their motion, the frozen
    # synthesis none: the original-trained spotter finds nothing there.
    original_f1 = overall.loc["original", "f1"]
    assert original_f1 >= 0.8
    assert overall.loc["preservation[copy]", "f1"] >= 0.8
    assert overall.loc["preservation[frozen]", "f1"] == 0.0
    assert overall.loc["preservation[frozen]", "f1_diff"] == -original_f1
    # The frozen controls: calibrated on motionless videos, flow_peaks learns nothing.
    assert overall.loc["frozen[copy]", "f1"] == 0.0 == overall.loc["frozen[frozen]", "f1"]
    assert overall.loc["synthetic[frozen]", "f1"] == 0.0
    # Each synthetic video stands next to its own original, so the reference of preservation
    # is exactly the original condition's score.
    assert (
        overall.loc[["preservation[copy]", "preservation[frozen]"], "f1_reference"] == original_f1
    ).all()
    assert (overall["n_gt"] == overall.loc["original", "n_gt"]).all()
    assert summary_json["task"] == "spotting"
    assert summary_json["spotting"]["conditions"]["original"]["overall"]["f1"] == pytest.approx(
        overall.loc["original", "f1"]
    )

    # The written predictions are a MEGC submission: the scorer gives the summary's counts.
    scores = tmp_path / "scores.json"
    assert main_score(out / "spotting_predictions_original.csv", clips["annotations"], scores) == 0
    scored = json.loads(scores.read_text())
    for kind in ("micro", "macro", "overall"):
        row = summary[(summary["label"] == "original") & (summary["type"] == kind)].iloc[0]
        assert [scored[kind][c] for c in ("n_pred", "n_tp", "n_gt")] == [
            row["n_pred"], row["n_tp"], row["n_gt"],
        ]  # fmt: skip

    report = (out / "report.md").read_text()
    assert "## Spotting: does synthetic data help?" in report
    assert "leave-one-subject-out over 3 participants" in report
    assert "![Score curves](figures/spotting_score_curves.png)" in report
    assert json.loads((out / "summary.json").read_text())["task"] == "spotting"
    for figure in ("spotting_f1_by_condition.png", "spotting_score_curves.png"):
        assert (out / "figures" / figure).stat().st_size > 5000


def main_score(predictions: Path, annotations: Path, json_path: Path) -> int:
    from mesynth.__main__ import main

    return main(
        ["score-spotting", "--predictions", str(predictions), "--annotations", str(annotations),
         "--json", str(json_path)]
    )  # fmt: skip


@pytest.mark.slow
def test_no_held_out_video_reaches_training_through_the_whole_experiment(
    clips, tmp_path, monkeypatch
):
    """A spy spotter records what fit() receives on real features of two synthesis outputs."""
    from mesynth.spotting import experiment

    class MotionOfFeatures(MotionSpotter):
        def fit(self, videos):
            self.threshold = 0.5 * max(float(v.features.motion.max()) for v in videos)

        def frame_scores(self, video):
            return video.features.motion.max(axis=1)

        def predict(self, video):
            return []

    fitted: list[tuple[int, list[tuple[str, str, str]]]] = []

    def spy(node, seed):
        spotter = MotionOfFeatures(seed)
        original_fit = spotter.fit

        def fit(videos):
            fitted.append((seed, [(v.name, v.participant, v.origin) for v in videos]))
            original_fit(videos)

        spotter.fit = fit
        return spotter

    monkeypatch.setattr(experiment, "_build_spotter", spy)
    out = tmp_path / "out"
    sets = f"synthetic_dir=[{clips['copy']},{{name: lost, path: {clips['frozen']}}}]"
    cfg = _compose([*_overrides(clips, out, "spotter=flow_peaks"), sets, "spotting.seed=5"])
    run(cfg)

    # 3 folds x (original + 2 sets x (original+synthetic, synthetic, frozen)).
    assert len(fitted) == 21
    held_out_by_seed = {5: "900", 6: "901", 7: "902"}
    for seed, videos in fitted:
        held_out = held_out_by_seed[seed]
        assert all(participant != held_out for _, participant, _ in videos)
        assert {participant for _, participant, _ in videos} == set(held_out_by_seed.values()) - {
            held_out
        }
    names = sorted(
        {name for _, videos in fitted for name, _, origin in videos if origin == "synthetic"}
    )
    assert names == ["900_1_syn", "901_1_syn", "902_1_syn"]
    summary = pd.read_csv(out / "spotting_summary.csv")
    assert list(dict.fromkeys(summary["label"])) == [
        "original", "original+synthetic[copy]", "synthetic[copy]", "preservation[copy]",
        "frozen[copy]", "original+synthetic[lost]", "synthetic[lost]", "preservation[lost]",
        "frozen[lost]",
    ]  # fmt: skip


@pytest.mark.slow
def test_wandb_offline_run_holds_the_spotting_tables_and_figures(clips, tmp_path, monkeypatch):
    from mesynth.spotting import experiment

    class Quiet(MotionSpotter):
        def fit(self, videos):
            self.threshold = 1.0

        def frame_scores(self, video):
            return video.features.motion.max(axis=1)

        def predict(self, video):
            return [Prediction(video.name, 10, 60, "me")]

    monkeypatch.setattr(experiment, "_build_spotter", lambda node, seed: Quiet(seed))
    cfg = _compose(
        [
            *_overrides(clips, tmp_path, "spotter=flow_peaks"),
            "logger=wandb",
            "spotting.conditions=[original,synthetic]",
        ]
    )
    run(cfg)
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    files = {path.name for path in runs[0].rglob("*") if path.is_file()}
    for table in ("spotting_folds", "spotting_summary"):
        assert any(n.startswith(table) and n.endswith(".table.json") for n in files), table
    assert not any(n.startswith("spotting_predictions") for n in files)
    for figure in ("spotting_f1", "spotting_curves"):
        assert any(n.startswith(figure) and n.endswith(".png") for n in files), figure


@pytest.mark.slow
def test_the_documented_command_line_works(clips, tmp_path):
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    out = tmp_path / "OUT"
    command = [
        sys.executable, str(repo / "evaluate.py"), "task=spotting",
        f"original_dir={clips['frames']}", f"synthetic_dir={clips['copy']}",
        f"annotations={clips['annotations']}", "spotter=flow_peaks", f"output_dir={out}",
        "logger=none",
    ]  # fmt: skip
    # MESYNTH_ROOT puts the feature cache (outputs/cache/...) where the other tests left it.
    environment = {**os.environ, "MPLBACKEND": "Agg", "MESYNTH_ROOT": str(clips["root"])}
    result = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, env=environment, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["task"] == "spotting" and summary["spotting"]["spotter"] == "flow_peaks"
    assert set(summary["spotting"]["conditions"]) == {
        "original", "original+synthetic", "synthetic", "preservation", "frozen",
    }  # fmt: skip
    assert (out / "spotting_predictions_original.csv").is_file()
    assert "Spotter `flow_peaks`" in (out / "report.md").read_text()


@pytest.mark.slow
def test_softnet_trains_in_every_fold_through_hydra(clips, tmp_path):
    out = tmp_path / "out"
    cfg = _compose(
        [
            *_overrides(clips, out, "spotter=softnet"),
            "spotting.conditions=[original,synthetic]",
            "spotter.epochs=1",
            "spotter.device=cpu",
            "spotter.weights=train",
            "spotter.flow=fast",  # DIS: the plumbing is tested here, TV-L1 in test_softnet
            "spotting.matching=softnet",
            "spotting.figures.enabled=false",
        ]
    )
    summary_json = run(cfg)
    spotting = summary_json["spotting"]
    assert spotting["spotter"] == "softnet" and spotting["n_folds"] == 3
    assert spotting["matching"] == "softnet"
    ap = spotting["coco_ap"]["original"]
    assert set(ap) == {"micro", "macro"} and all(0 <= value <= 1 for value in ap.values())
    assert set(spotting["conditions"]) == {"original", "synthetic"}
    folds = pd.read_csv(out / "spotting_folds.csv", dtype={"held_out": str})
    assert len(folds) == 3 * 2 * 3
    # Every fold tested the held-out participant's originals with all their events.
    truth = pd.read_csv(clips["annotations"], dtype={"video": str})
    overall = folds[(folds["type"] == "overall") & (folds["label"] == "original")]
    assert overall["n_gt"].sum() == len(truth)
    assert not (out / "figures").exists()


@pytest.mark.slow
def test_a_configured_spotter_is_scored_without_fitting_on_one_participant(clips, tmp_path):
    """What `make demo` prints: flow_peaks as configured (nothing fitted) on one participant's
    original and synthetic videos, scored against the annotations."""
    from mesynth.spotting import experiment

    fitted = []
    overrides = _overrides(clips, tmp_path / "out", "spotter=flow_peaks")
    cfg = _compose([*overrides, "spotting.participants=['900']"])
    with pytest.MonkeyPatch.context() as patch:
        build = experiment._build_spotter

        def spy(node, seed):
            spotter = build(node, seed)
            spotter.fit = lambda videos: fitted.append(videos)
            return spotter

        patch.setattr(experiment, "_build_spotter", spy)
        scores = experiment.score_as_configured(cfg)
    assert fitted == []
    assert set(scores) == {"original", "synthetic[copy]"}
    annotations = pd.read_csv(clips["annotations"], dtype={"video": str, "subject": str})
    events = int((annotations["video"].str.split("_").str[0] == "900").sum())
    for side in scores.values():
        assert side["overall"]["n_gt"] == events > 0
        assert side["overall"]["n_tp"] <= side["overall"]["n_gt"]
    # The copied synthesis kept every motion: the same spotter finds the same events in it.
    assert scores["synthetic[copy]"]["overall"] == scores["original"]["overall"]
    assert scores["original"]["overall"]["f1"] >= 0.5
