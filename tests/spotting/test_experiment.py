"""The whole leave-one-subject-out experiment: the report and tables assembled from an outcome
of stand-in spotters and of flow_peaks (scored MEGC predictions, F1 against p per condition,
published results, the training-free caveat and the frozen control), and runs through Hydra on
generated clips (no held-out video reaches training, wandb, the documented command line,
SOFTNet in every fold). The folds, summary and inputs on their own: test_folds.py,
test_summary.py, test_data.py."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pandas as pd
import pytest
from omegaconf import OmegaConf

from mesynth.cli import evaluate as run
from mesynth.faces.crop import Crop
from mesynth.spotting.experiment import assemble, predictions_name
from mesynth.spotting.folds import P_STEPS, run_folds
from mesynth.spotting.types import Prediction
from tests.spotting.flow_videos import _cfg
from tests.spotting.helpers import MotionSpotter, dataset, manifest_record


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
