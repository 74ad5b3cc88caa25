"""`python evaluate.py` end to end: outputs, known answers, inputs that must fail clearly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from mesynth.evaluation import run
from mesynth.evaluation.common import EvaluationInputError
from mesynth.evaluation.frames import open_pairs
from tests.evaluation.helpers import evaluation_config, make_csv_dataset

REPO = Path(__file__).resolve().parents[2]
VIDEOS = {"006_1": 0.8, "006_2": 0.6, "011_1": 0.3, "020_1": 0.9, "020_2": 0.7}


@pytest.fixture(scope="module")
def csv_dataset(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("csvs")
    return root, make_csv_dataset(root, VIDEOS)


def _expected_summary(root: Path) -> dict:
    """The paper's aggregation, computed directly with pandas, scipy and numpy from the files."""
    z_by_participant: dict[str, list] = {}
    for video in VIDEOS:
        original = pd.read_csv(root / "original" / f"{video}.csv", skipinitialspace=True)
        synthetic = pd.read_csv(root / "synthetic" / f"{video}.csv")
        keep = (original["success"] == 1).to_numpy()
        for au in ["AU01", "AU04", "AU12", "AU45"]:
            x, y = original[f"{au}_r"].to_numpy()[keep], synthetic[f"{au}_r"].to_numpy()[keep]
            r_p, r_s = sps.pearsonr(x, y)[0], sps.spearmanr(x, y)[0]
            z_by_participant.setdefault(video.split("_")[0], []).append(
                (np.arctanh(r_p), np.arctanh(r_s))
            )
    z = np.array([np.mean(values, axis=0) for values in z_by_participant.values()])
    return {
        "pearson_mean": np.tanh(z[:, 0].mean()),
        "pearson_sd": np.tanh(z[:, 0].std()),
        "spearman_mean": np.tanh(z[:, 1].mean()),
        "spearman_sd": np.tanh(z[:, 1].std()),
    }


@pytest.mark.slow
def test_the_documented_command_line_works(csv_dataset, tmp_path):
    root, _ = csv_dataset
    output = tmp_path / "C"
    command = [
        sys.executable, str(REPO / "evaluate.py"), "au=openface_csv",
        f"original_dir={root / 'original'}", f"synthetic_dir={root / 'synthetic'}",
        f"output_dir={output}", "smooth.window=0", "logger=none",
    ]  # fmt: skip
    environment = {**os.environ, "MPLBACKEND": "Agg"}
    result = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, env=environment, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]

    per_video = pd.read_csv(output / "per_video.csv", dtype={"video": str})
    assert list(per_video.columns) == ["video", "au", "pearson", "spearman", "n_frames"]
    assert len(per_video) == 5 * 4 and (per_video["n_frames"] == 115).all()  # 5 failed frames
    by_au = pd.read_csv(output / "au_correlation_by_au.csv")
    assert list(by_au.columns) == ["au", "pearson", "spearman", "n_videos"]
    assert by_au["au"].tolist() == ["AU01", "AU04", "AU12", "AU45"]
    by_participant = pd.read_csv(
        output / "au_correlation_by_participant.csv", dtype={"participant": str}
    )
    assert list(by_participant.columns) == ["participant", "pearson", "spearman", "n_pairs"]
    assert by_participant["participant"].tolist() == ["006", "011", "020"]
    assert by_participant["n_pairs"].tolist() == [8, 4, 8]

    summary = json.loads((output / "summary.json").read_text())
    for key, value in _expected_summary(root).items():
        assert summary[key] == pytest.approx(value, abs=1e-9), key
    assert summary["n_videos"] == 5 and summary["n_excluded"] == 0
    report = (output / "report.md").read_text()
    assert "## By AU (Table 1)" in report and "figures/participant_histograms.png" in report
    for figure in ("au_curves.png", "participant_histograms.png", "au_correlation_by_au.png"):
        assert (output / "figures" / figure).stat().st_size > 1000
    # Without frames, the frame analyses say they were skipped instead of vanishing.
    assert "`flow` not run: no frames" in report
    assert not (tmp_path / "outputs").exists() or not list((tmp_path / "outputs").rglob("*.csv"))


def test_smoothing_and_subsets_change_what_they_should(csv_dataset, tmp_path):
    root, tables = csv_dataset
    config = evaluation_config(
        [
            "au=openface_csv",
            f"original_dir={root / 'original'}",
            f"synthetic_dir={root / 'synthetic'}",
            f"output_dir={tmp_path}",
            "smooth.window=5",
            "smooth.polyorder=2",
            "subsets.glasses=[011,20]",
            "logger=none",
        ]
    )
    run(config)
    per_video = pd.read_csv(tmp_path / "per_video.csv", dtype={"video": str})
    from scipy.signal import savgol_filter

    original, synthetic = tables["006_1"]
    keep = (original["success"] == 1).to_numpy()
    # Failed frames are filled by linear interpolation before smoothing.
    positions = np.arange(len(keep))
    filled = np.interp(positions, positions[keep], original["AU12_r"].to_numpy()[keep])
    expected = sps.pearsonr(
        savgol_filter(filled, 5, 2)[keep],
        savgol_filter(synthetic["AU12_r"], 5, 2)[keep],
    )[0]
    row = per_video[(per_video.video == "006_1") & (per_video.au == "AU12")].iloc[0]
    assert row["pearson"] == pytest.approx(expected, abs=1e-5)

    subset = pd.read_csv(tmp_path / "subset_glasses_by_au.csv")
    only_006 = per_video[per_video.video.str.startswith("006_")]
    for au_row in subset.itertuples():
        values = only_006[only_006.au == au_row.au]["pearson"]
        assert au_row.pearson_without == pytest.approx(np.tanh(np.arctanh(values).mean()), abs=1e-5)
        assert au_row.n_videos_without == 2 and au_row.n_videos_all == 5
    assert (tmp_path / "figures" / "subset_glasses.png").is_file()
    assert "Subset `glasses`" in (tmp_path / "report.md").read_text()


def test_bad_csv_inputs_fail_naming_the_file(csv_dataset, tmp_path):
    root, _ = csv_dataset
    original = tmp_path / "original"
    original.mkdir()
    for path in (root / "original").glob("*.csv"):
        (original / path.name).write_text(path.read_text())
    (original / "099_1.csv").write_text((root / "original" / "006_1.csv").read_text())
    overrides = [
        "au=openface_csv",
        f"original_dir={original}",
        f"synthetic_dir={root / 'synthetic'}",
        f"output_dir={tmp_path / 'out'}",
        "logger=none",
    ]
    with pytest.raises(
        EvaluationInputError, match=r"only in the originals \(e\.g\. .*099_1\.csv\)"
    ):
        run(evaluation_config(overrides))
    assert not (tmp_path / "out" / "summary.json").exists()
    (original / "099_1.csv").unlink()
    text = (original / "011_1.csv").read_text()
    (original / "011_1.csv").write_text(text[: len(text) // 2])
    with pytest.raises(EvaluationInputError, match=r"011_1\.csv.*truncated"):
        run(evaluation_config(overrides))
    with pytest.raises(EvaluationInputError, match="flow.enabled=true but no frames"):
        run(evaluation_config([*overrides, "videos=[006_1]", "flow.enabled=true"]))


def test_exact_copy_scores_perfectly(demo_run):
    output, summary = demo_run
    per_video = pd.read_csv(output / "per_video.csv")
    assert (
        len(per_video) == 9
        and np.allclose(per_video["pearson"], 1.0)
        and np.allclose(per_video["spearman"], 1.0)
    )
    assert summary["pearson_mean"] == pytest.approx(0.9999999)  # r = 1 is clipped before atanh
    assert summary["n_excluded"] == 0

    events = pd.read_csv(output / "flow_events.csv")
    assert len(events) == 6 and (events["face_region"] == "face").all()
    np.testing.assert_allclose(events["cosine"], 1.0, atol=1e-6)
    np.testing.assert_allclose(events["epe"], 0.0, atol=1e-6)
    assert (events["magnitude_original"] > 0.1).all()  # the scheduled events really move

    temporal = pd.read_csv(output / "temporal.csv")
    assert temporal["n_pairs"].tolist() == [20]
    assert temporal["warp_error_ratio"].iloc[0] == pytest.approx(1.0)

    identity = pd.read_csv(output / "identity.csv")
    assert identity["distance_original_synthetic"].iloc[0] == pytest.approx(0.0, abs=1e-6)
    assert not identity["hidden"].iloc[0]

    report = (output / "report.md").read_text()
    for figure in (
        "au_curves.png",
        "event_flow.png",
        "participant_histograms.png",
        "au_correlation_by_au.png",
    ):
        assert f"figures/{figure}" in report
        assert (output / "figures" / figure).stat().st_size > 1000
    assert "geometric proxies" in report
    assert summary["untrained_synthesis"] is False and "UNTRAINED" not in report


def test_untrained_synthesis_is_labelled_in_summary_and_report(demo_dir, demo_synthetic, tmp_path):
    import shutil

    from mesynth.evaluation import run
    from mesynth.evaluation.context import synthesis_was_untrained

    copy = tmp_path / "synthetic"
    shutil.copytree(demo_synthetic, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    assert not synthesis_was_untrained(copy)
    (copy / "manifest.json").write_text(json.dumps({**manifest, "untrained": True}))
    assert synthesis_was_untrained(None, copy)
    output = tmp_path / "evaluation"
    overrides = [
        "au=landmarks",
        f"original_dir={demo_dir / 'frames'}",
        f"synthetic_dir={copy}",
        f"output_dir={output}",
        f"paths.output_dir={output}",
        "logger=none",
        "aus=[AU12]",
        "flow.enabled=false",
        "temporal.enabled=false",
        "identity.enabled=false",
        "figures.enabled=false",
    ]
    summary = run(evaluation_config(overrides))
    assert summary["untrained_synthesis"] is True
    assert json.loads((output / "summary.json").read_text())["untrained_synthesis"] is True
    assert "UNTRAINED NETWORKS" in (output / "report.md").read_text()

    (copy / "manifest.json").write_text("{not json")
    with pytest.raises(EvaluationInputError, match="manifest.json is not a readable"):
        synthesis_was_untrained(copy)


def test_motionless_copy_is_caught_by_every_measure(frozen_run):
    output, summary = frozen_run
    excluded = pd.read_csv(output / "excluded.csv")
    assert len(excluded) == 9 and (excluded["reason"] == "constant synthetic").all()
    assert summary["n_excluded"] == 9 and summary["n_pairs"] == 0
    assert json.loads((output / "summary.json").read_text())["pearson_mean"] is None

    events = pd.read_csv(output / "flow_events.csv")
    assert (events["magnitude_synthetic"] < 1e-4).all()  # Farneback on identical frames
    assert (events["cosine"] == 0).all()  # all the original's motion is missing
    np.testing.assert_allclose(events["epe"], events["magnitude_original"], atol=1e-4)

    temporal = pd.read_csv(output / "temporal.csv").iloc[0]
    assert temporal["frame_difference_synthetic"] == 0
    assert temporal["frame_difference_original"] > 0
    assert "9 excluded (9 constant synthetic)" in (output / "report.md").read_text()


def test_originals_are_cropped_with_the_saved_crop(demo_dir, demo_synthetic, tmp_path):
    import shutil

    (pair,) = open_pairs(demo_dir / "frames", demo_synthetic)
    assert pair.size == (192, 192) and pair.crop.mode == "fixed"
    for index in (0, 93, 399):
        np.testing.assert_array_equal(pair.original_frame(index), pair.synthetic_frame(index))
    # Without the crop the whole 256 px frame is only scaled to 192 px: a different picture.
    copy = tmp_path / "synthetic"
    shutil.copytree(demo_synthetic, copy, ignore=shutil.ignore_patterns("crops"))
    (uncropped,) = open_pairs(demo_dir / "frames", copy)
    assert uncropped.crop is None
    frame = uncropped.original_frame(93)
    assert frame.shape == (192, 192, 3)
    assert np.abs(frame.astype(int) - pair.original_frame(93)).mean() > 10
    with pytest.raises(EvaluationInputError, match="crops_dir=.*not a directory"):
        open_pairs(demo_dir / "frames", demo_synthetic, crops_dir=tmp_path / "missing")


def test_unfinished_or_mismatched_synthesis_is_refused(demo_dir, demo_synthetic, tmp_path):
    import shutil

    copy = tmp_path / "synthetic"
    shutil.copytree(demo_synthetic, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["videos"]["900_1"]["status"] = "partial"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(EvaluationInputError, match=r"not finished \(e\.g\. 900_1: partial\)"):
        open_pairs(demo_dir / "frames", copy)
    manifest["videos"]["900_1"]["status"] = "done"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    for extra in sorted((copy / "900_1").glob("*.png"))[-10:]:
        extra.unlink()
    with pytest.raises(
        EvaluationInputError, match=r"400 original frames .* 390 synthetic frames.*align=truncate"
    ):
        open_pairs(demo_dir / "frames", copy)
    (pair,) = open_pairs(demo_dir / "frames", copy, align="truncate")
    assert len(pair) == 390


def test_openface_backend_runs_the_binary_once_per_side_and_caches(
    demo_dir, demo_synthetic, tmp_path
):
    log = tmp_path / "calls.txt"
    binary = tmp_path / "FeatureExtraction"
    # A stand-in for OpenFace that records its arguments and writes one CSV row per frame.
    binary.write_text(
        f"""#!{sys.executable}
import sys, pathlib
args = sys.argv[1:]
pathlib.Path({str(log)!r}).open("a").write(" ".join(args) + "\\n")
frames = sorted(pathlib.Path(args[args.index("-fdir") + 1]).glob("*.png"))
out = pathlib.Path(args[args.index("-out_dir") + 1]); out.mkdir(parents=True, exist_ok=True)
rows = ["frame, face_id, timestamp, confidence, success, AU12_r, AU45_r"]
rows += [f"{{i + 1}}, 0, {{i / 50}}, 0.9, 1, {{(i % 7) / 7}}, {{(i % 5) / 5}}" for i in range(len(frames))]
(out / (args[args.index("-of") + 1] + ".csv")).write_text("\\n".join(rows) + "\\n")
"""
    )
    binary.chmod(0o755)
    overrides = [
        "au=openface",
        f"au.binary={binary}",
        "au.mode=static",
        f"original_dir={demo_dir / 'frames'}",
        f"synthetic_dir={demo_synthetic}",
        f"output_dir={tmp_path / 'out'}",
        "logger=none",
        "flow.enabled=false",
        "temporal.enabled=false",
        "identity.enabled=false",
        "figures.enabled=false",
    ]
    summary = run(evaluation_config(overrides))
    calls = log.read_text().splitlines()
    assert len(calls) == 2 and all("-aus -au_static" in call for call in calls)
    assert summary["pearson_mean"] == pytest.approx(0.9999999)  # same stand-in values on both sides
    table = pd.read_csv(tmp_path / "out" / "au" / "original" / "900_1.csv", skipinitialspace=True)
    assert len(table) == 400
    run(evaluation_config(overrides))
    assert len(log.read_text().splitlines()) == 2  # cached

    with pytest.raises(
        EvaluationInputError, match=r"au.binary='/nonexistent/FeatureExtraction'.*au=landmarks"
    ):
        run(evaluation_config([*overrides, "au.binary=/nonexistent/FeatureExtraction"]))


def test_wandb_offline_run_holds_tables_and_figures(csv_dataset, tmp_path):
    root, _ = csv_dataset
    config = evaluation_config(
        [
            "au=openface_csv",
            f"original_dir={root / 'original'}",
            f"synthetic_dir={root / 'synthetic'}",
            f"output_dir={tmp_path}",
            f"paths.output_dir={tmp_path}",
            "logger=wandb",
        ]
    )
    run(config)
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    files = {path.name for path in runs[0].rglob("*") if path.is_file()}
    assert any(name.endswith(".wandb") for name in files)
    assert any(
        name.startswith("au_correlation_by_au") and name.endswith(".table.json") for name in files
    )
    assert any(name.startswith("au_curves") and name.endswith(".png") for name in files)
