"""SOFTNet's released folds on the real SAMM-LV and CAS(ME)^2 give the counts its training.py
states for them (run only where the datasets and the weights are: MESYNTH_SAMMLV_DIR,
MESYNTH_CASME2_DIR, weights under checkpoints/softnet or MESYNTH_SOFTNET_WEIGHTS).

SAMM-LV: ``$MESYNTH_SAMMLV_DIR/SAMM_longvideos/`` and ``SAMM_LongVideos_V2_Release.xlsx``;
CAS(ME)^2: ``$MESYNTH_CASME2_DIR/rawpic/`` and ``code_final.xlsx`` (the names its code
reads). TV-L1 on every frame: hours on a many-core machine (see the README)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mesynth.cli import evaluate as run

ROOT = Path(__file__).resolve().parents[2]
WEIGHTS = Path(os.environ.get("MESYNTH_SOFTNET_WEIGHTS", ROOT / "checkpoints" / "softnet"))
# Its training.py, "Result if Pre-trained weights are used": (TP, FP, FN) per type.
EXPECTED = {
    "samm_lv": {"micro": (41, 323, 118), "macro": (60, 231, 273)},
    "casme2": {"micro": (18, 327, 39), "macro": (91, 348, 209)},
}
# Its load_gt leaves out SAMM-LV macro-expressions whose onset is 0 (343 - 333 = 10 events);
# mesynth keeps them as ground truth no prediction finds, so they may add to FN.
LEFT_OUT = {("samm_lv", "macro"): 10}
DATASETS = {
    "samm_lv": (
        "MESYNTH_SAMMLV_DIR",
        "SAMMLV",
        "SAMM_longvideos",
        "SAMM_LongVideos_V2_Release.xlsx",
    ),
    "casme2": ("MESYNTH_CASME2_DIR", "CASME_sq", "rawpic", "code_final.xlsx"),
}


@pytest.mark.slow
@pytest.mark.parametrize("preset", sorted(DATASETS))
def test_released_folds_reproduce_its_published_counts(preset, tmp_path):
    variable, weight_set, frames, sheet = DATASETS[preset]
    if not os.environ.get(variable):
        pytest.skip(f"set {variable} to the {preset} dataset folder to run this check")
    if not (WEIGHTS / weight_set).is_dir():
        pytest.skip(f"no released SOFTNet weights in {WEIGHTS}: mesynth download softnet")
    from tests.evaluation.helpers import evaluation_config

    root = Path(os.environ[variable])
    out = tmp_path / "out"
    cfg = evaluation_config(
        [
            "task=spotting",
            f"original_dir={root / frames}",
            f"annotations={root / sheet}",
            "synthetic_dir=null",
            "spotting.conditions=[original]",
            f"spotting.preset={preset}",
            "spotting.matching=softnet",
            "spotter=softnet",
            "spotter.weights=released",
            f"spotter.checkpoint_dir={WEIGHTS}",
            f"output_dir={out}",
            f"paths.output_dir={out}",
            "logger=none",
        ]
    )
    summary = run(cfg)["spotting"]["conditions"]["original"]
    assert json.loads((out / "summary.json").read_text())["spotting"]["matching"] == "softnet"
    for kind, (tp, fp, fn) in EXPECTED[preset].items():
        counts = summary[kind]
        assert (counts["n_tp"], counts["n_pred"] - counts["n_tp"]) == (tp, fp), kind
        extra = counts["n_gt"] - counts["n_tp"] - fn
        assert extra in {0, LEFT_OUT.get((preset, kind), 0)}, (kind, extra)
