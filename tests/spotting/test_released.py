"""preservation_released: the released SOFTNet fold of each held-out participant scores their
originals and synthetic versions without training. Weights are Keras-layout HDF5 files made here
(no real weights); the TV-L1 features are replaced by a frame-difference stand-in and the
network's scores by that stand-in scaled by the fold's output bias, so that which fold scored
which video can be read back."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from mesynth.evaluation.common import EvaluationInputError
from mesynth.spotting import released, softnet
from mesynth.spotting.data import FrozenSource, SpottingInputs, VideoEntry
from mesynth.spotting.experiment import released_lines
from mesynth.spotting.folds import make_arms
from mesynth.spotting.summary import fold_table, summary_table
from mesynth.spotting.types import Interval
from mesynth.video.layouts import open_sources

LENGTH = 48
EVENTS = [Interval(10, 14, "micro"), Interval(28, 36, "macro")]  # 1-based frame numbers


def _frames(folder: Path, video_id: str, events) -> None:
    folder.mkdir(parents=True)
    values = np.full(LENGTH, 60.0)
    for event in events:
        half = (event.offset - event.onset) / 2
        for frame in range(event.onset, event.offset + 1):
            values[frame - 1] += 120 * (1 - abs(frame - event.onset - half) / (half + 1))
    for index, value in enumerate(values):
        image = np.full((16, 16, 3), int(value), np.uint8)
        cv2.imwrite(str(folder / f"{video_id}_{index + 1:05d}.png"), image)


@pytest.fixture
def weights(tmp_path) -> Path:
    """Two released folds per type in SOFTNet's layout; fold sN's output bias is N."""
    root = tmp_path / "softnet"
    for kind in ("micro", "macro"):
        for fold in (1, 2):
            torch.manual_seed(fold)
            model = softnet.SoftNetModel()
            with torch.no_grad():
                model.output.bias.fill_(float(fold))
            path = root / "SAMMLV" / f"{kind}-expression" / f"s{fold}.hdf5"
            path.parent.mkdir(parents=True, exist_ok=True)
            softnet.save_keras_weights(model, path)
    return root


@pytest.fixture
def scored_by(monkeypatch):
    """Stand-ins for the TV-L1 features and the network; records the fold of every call."""
    calls: list[int] = []

    def features(jobs, cache_dir, workers, progress):
        made = []
        for job in jobs:
            grey = np.array([frame.mean() for _, frame in job.source.iter_frames()])
            motion = np.abs(grey[job.k :] - grey[: -job.k])
            made.append(np.broadcast_to(motion[:, None, None, None], (len(motion), 42, 42, 3)))
        return made

    def predict_scores(model, batch):
        fold = int(round(float(model.output.bias.detach())))
        calls.append(fold)
        return batch[:, 0, 0, 0].astype(np.float32) * fold

    monkeypatch.setattr(released, "video_features", features)
    monkeypatch.setattr(softnet, "predict_scores", predict_scores)
    return calls


def _inputs(tmp_path: Path) -> SpottingInputs:
    for video_id in ("006_1", "011_1"):
        _frames(tmp_path / "orig" / video_id, video_id, EVENTS)
        _frames(tmp_path / "copy" / f"{video_id}_c", video_id, EVENTS)
    originals = {s.video_id: s for s in open_sources(tmp_path / "orig")}
    copies = {s.path.name: s for s in open_sources(tmp_path / "copy")}
    entries = [VideoEntry(v, v, v.split("_")[0], "original", s, None) for v, s in originals.items()]
    synthetic = {
        "copy": [
            VideoEntry(f"{v}_c", v, v.split("_")[0], "synthetic", copies[f"{v}_c"], None, "copy")
            for v in originals
        ],
        "frozen": [
            VideoEntry(f"{v}_f", v, v.split("_")[0], "synthetic", FrozenSource(s), None, "frozen")
            for v, s in originals.items()
        ],
    }
    truth = {v: list(EVENTS) for v in originals}
    return SpottingInputs(entries, synthetic, truth, tmp_path / "ann.csv")


def _cfg(tmp_path: Path, weights: Path, dataset: str | None = "SAMMLV"):
    return OmegaConf.create(
        {
            "spotting": {
                "preset": None,
                "iou": 0.5,
                "matching": "megc",
                "workers": 1,
                "progress": False,
                "cache_dir": str(tmp_path / "cache"),
                "released": {
                    "weights_dir": str(weights),
                    "dataset": dataset,
                    "k": {"micro": 2, "macro": 4},
                    "p": 0.55,
                },
            }
        }
    )


def test_each_participant_is_scored_by_its_own_fold_on_both_sides(tmp_path, weights, scored_by):
    inputs = _inputs(tmp_path)
    outcome = released.run_released(
        inputs, _cfg(tmp_path, weights), {"006": 0, "011": 1}, curve_videos=["006_1"]
    )
    # SOFTNet's subject order: 006 held out by s1, 011 by s2, for each type; 2 sets x 2 sides.
    assert outcome.folds == {
        "micro": {"006": "s1", "011": "s2"},
        "macro": {"006": "s1", "011": "s2"},
    }
    # Pairs in order (copy 006, copy 011, frozen 006, frozen 011), each 2 sides x 2 types.
    assert scored_by == [1] * 4 + [2] * 4 + [1] * 4 + [2] * 4
    counts = outcome.counts
    assert set(counts["label"]) == {"preservation_released[copy]", "preservation_released[frozen]"}
    assert set(counts["test_side"]) == {"original", "synthetic"}
    folds = fold_table(counts)
    arms = make_arms(["original", "preservation_released"], ["copy", "frozen"])
    summary = summary_table(folds, arms[1:], n_resamples=100)
    overall = summary[summary["type"] == "overall"].set_index("label")
    copy, frozen = (
        overall.loc["preservation_released[copy]"],
        overall.loc["preservation_released[frozen]"],
    )
    assert copy["f1_reference"] > 0.3  # the originals' F1 under the released folds
    assert copy["f1"] == copy["f1_reference"] and copy["f1_diff"] == 0.0  # the same frames
    assert frozen["f1"] == 0.0 and frozen["n_pred"] == 0  # no motion: no peak
    assert frozen["f1_diff"] == -frozen["f1_reference"] < 0
    assert frozen["f1_diff_high"] <= 0.0  # the paired interval lies below 0
    # Curves: identical for the copy (correlation 1), flat for the frozen set (undefined).
    curves = outcome.curves.set_index(["synthetic_set", "video", "type"])
    assert curves.loc[("copy", "006_1_c", "micro"), "correlation"] == pytest.approx(1.0)
    assert np.isnan(curves.loc[("frozen", "011_1_f", "macro"), "correlation"])
    assert set(outcome.traces) == {"copy/006_1", "frozen/006_1"}
    # Predictions are in source frame numbers, typed, scored, keyed by the synthetic names.
    found = outcome.predictions["preservation_released[copy]"]
    assert {p.video for p in found} == {"006_1_c", "011_1_c"}
    assert all(1 <= p.onset <= p.offset <= LENGTH for p in found)
    lines = "\n".join(released_lines(summary, outcome, 95))
    assert "fold sN of SAMMLV held out participant N" in lines
    assert "`preservation_released[frozen]`: originals" in lines and "synthetic 0.000" in lines
    assert "median correlation per video (`copy`): micro 1.000, macro 1.000" in lines


def test_another_dataset_is_scored_by_the_mean_of_all_folds(tmp_path, weights, scored_by):
    inputs = _inputs(tmp_path)
    outcome = released.run_released(inputs, _cfg(tmp_path, weights, None), {"006": 0, "011": 1})
    assert outcome.dataset is None and outcome.folds == {}
    assert sorted(set(scored_by)) == [1, 2] and scored_by.count(1) == scored_by.count(2)


def test_released_folds_that_do_not_fit_the_participants_are_refused(tmp_path, weights, scored_by):
    inputs = _inputs(tmp_path)
    softnet.save_keras_weights(
        softnet.SoftNetModel(), weights / "SAMMLV" / "micro-expression" / "s3.hdf5"
    )
    with pytest.raises(EvaluationInputError, match=r"3 files .* but 2 participants"):
        released.run_released(inputs, _cfg(tmp_path, weights), {"006": 0, "011": 1})
    with pytest.raises(EvaluationInputError, match=r"mesynth download softnet"):
        released.run_released(inputs, _cfg(tmp_path, tmp_path / "none"), {"006": 0, "011": 1})


def test_k_is_softnets_cal_k_of_the_annotations_unless_set():
    settings = released.ReleasedSettings(Path("."), None, {"micro": None, "macro": 7}, 0.55)
    events = [Interval(10, 14, "micro"), Interval(20, 30, "micro"), Interval(5, 60, "macro")]
    # cal_k: int((mean(offset - onset) + 1) / 2) over 0-based intervals: (4 + 10) / 2 = 7 -> 4.
    assert released.released_k(settings, events, "micro") == 4
    assert released.released_k(settings, events, "macro") == 7
    with pytest.raises(EvaluationInputError, match=r"spotting.released.k.micro"):
        released.released_k(settings, [Interval(5, 60, "macro")], "micro")


def test_the_experiment_reports_the_released_condition_beside_the_others(
    tmp_path, weights, scored_by
):
    from mesynth.spotting.experiment import assemble
    from mesynth.spotting.folds import run_folds
    from tests.spotting.helpers import MotionSpotter, video

    inputs = _inputs(tmp_path)
    originals = [video(e.video_id, EVENTS, length=LENGTH) for e in inputs.originals]
    synthetic = {
        name: [video(e.video_id, EVENTS, "synthetic", e.name, LENGTH) for e in entries]
        for name, entries in inputs.synthetic.items()
    }
    conditions = ["original", "preservation", "preservation_released"]
    outcome = run_folds(originals, synthetic, MotionSpotter, conditions=conditions, progress=False)
    assert "preservation_released[copy]" not in set(outcome.counts["label"])  # not fitted there
    folds_of = {fold.held_out: fold.index for fold in outcome.folds}
    outcome.add_released(
        released.run_released(inputs, _cfg(tmp_path, weights), folds_of, ["006_1"])
    )
    cfg = OmegaConf.merge(
        _cfg(tmp_path, weights),
        {
            "output_dir": str(tmp_path / "out"),
            "spotter": {"name": "motion"},
            "spotting": {
                "bootstrap": {"n_resamples": 50, "confidence": 0.95, "seed": 0},
                "figures": {"enabled": True, "dpi": 30},
            },
        },
    )
    results = assemble(cfg, inputs, outcome)
    summary = results.tables["spotting_summary"]
    labels = list(dict.fromkeys(summary["label"]))
    assert labels == [
        "original", "preservation[copy]", "preservation_released[copy]",
        "preservation[frozen]", "preservation_released[frozen]",
    ]  # fmt: skip
    row = summary[
        (summary["label"] == "preservation_released[frozen]") & (summary["type"] == "overall")
    ]
    assert row["reference"].item() == "same spotter on the originals" and row["f1"].item() == 0.0
    assert "spotting_released_curves" in results.tables
    assert "spotting_predictions_preservation_released_copy" in results.tables
    assert "| preservation_released[copy] (tested on synthetic) | overall |" in results.report
    assert "**Preservation judged by SOFTNet's released models**" in results.report
    assert results.figures["spotting_released_curves"].stat().st_size > 1000
    entry = results.summary["preservation_released"]
    assert entry["k"] == {"micro": 2, "macro": 4} and entry["dataset"] == "SAMMLV"
    assert entry["median_correlation"]["copy"]["micro"] == pytest.approx(1.0)


def test_features_are_named_and_keyed_as_spotter_softnet_caches_them(tmp_path):
    from mesynth.spotting.spotters.softnet import SoftNetJob

    jobs = released._feature_jobs(released._pairs(_inputs(tmp_path)), {"micro": 2, "macro": 4})
    names = sorted(job.name for job in jobs.values())
    # Each original once, each synthetic video of both sets, both types.
    assert len(names) == (2 + 2 * 2) * 2
    assert {"006_1@micro", "011_1@macro", "copy/006_1_c@macro", "frozen/011_1_f@micro"} <= set(
        names
    )
    assert all(isinstance(job, SoftNetJob) for job in jobs.values())
    assert {job.k for job in jobs.values() if job.kind == "macro"} == {4}
