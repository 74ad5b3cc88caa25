"""The shared context: an untrained synthesis is told apart, and labelled in the results."""

from __future__ import annotations

import json

import pytest

from mesynth.evaluation.common import EvaluationInputError
from tests.evaluation.helpers import evaluation_config


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
