"""The OpenFace backend: the binary runs once per side, its CSVs are cached, a missing one is named."""

from __future__ import annotations

import sys

import pandas as pd
import pytest

from mesynth.evaluation import run
from mesynth.evaluation.common import EvaluationInputError
from tests.evaluation.helpers import evaluation_config


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
