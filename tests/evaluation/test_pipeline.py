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
from tests.evaluation.conftest import VIDEOS
from tests.evaluation.helpers import evaluation_config

REPO = Path(__file__).resolve().parents[2]


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
