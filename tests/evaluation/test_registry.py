"""The analyses registry: tasks in rank order, declared outputs, and what the pipeline does with
a registered analysis (the way spotting plugs in without evaluation importing it)."""

from __future__ import annotations

import json
import logging

import pandas as pd
import pytest

import mesynth.evaluation.analyses  # noqa: F401  (registers the analyses of task=au)
from mesynth.evaluation.common import EvaluationInputError
from mesynth.evaluation.pipeline import run
from mesynth.evaluation.registry import (
    REGISTRY,
    Analysis,
    AnalysisResult,
    declared_outputs,
    register,
    tasks,
)
from tests.evaluation.helpers import evaluation_config


class Untrained(Analysis):
    """Stand-in for an analysis whose inputs were made untrained, and which says so itself."""

    name = "stand_in"
    task = "stand_in_task"
    outputs = ("stand_in.csv", "figures/stand_in_*.png")
    key = "stand_in"

    def run(self, ctx):
        logging.getLogger("stand_in").warning("stand-in inputs are UNTRAINED")
        result = AnalysisResult({"stand_in": pd.DataFrame({"value": [1.0, 2.0]})}, {"n": 2})
        result.section = lambda figures, out: "## Stand-in\n\n**UNTRAINED inputs.**\n"
        result.untrained = True
        return result


@pytest.fixture
def stand_in():
    register(Untrained)
    yield REGISTRY["stand_in"]
    del REGISTRY["stand_in"]


def test_the_au_task_runs_its_analyses_in_rank_order_and_declares_their_files():
    assert tasks()["au"] == ("statistics", "figures", "flow", "temporal", "identity")
    declared = declared_outputs()
    assert "figures/event_flow.png" in declared["flow"] and declared["temporal"] == (
        "temporal.csv",
    )


def test_a_registered_analysis_runs_as_its_own_task_and_says_untrained_once(
    stand_in, tmp_path, caplog
):
    output = tmp_path / "out"
    output.mkdir()
    (output / "stand_in_old.csv").write_text("not declared: kept")
    (output / "figures").mkdir()
    (output / "figures" / "stand_in_old.png").write_text("declared, not written: removed")
    cfg = evaluation_config(["task=stand_in_task", f"output_dir={output}", "logger=none"])
    with caplog.at_level(logging.WARNING):
        summary = run(cfg)
    assert summary == {"task": "stand_in_task", "stand_in": {"n": 2}, "untrained_synthesis": True}
    assert json.loads((output / "summary.json").read_text()) == summary
    assert pd.read_csv(output / "stand_in.csv")["value"].tolist() == [1.0, 2.0]
    assert not (output / "figures" / "stand_in_old.png").exists()
    assert (output / "stand_in_old.csv").is_file()
    report = (output / "report.md").read_text()
    # The analysis said it in its section; the pipeline adds no second banner nor warning.
    assert report.count("UNTRAINED") == 1 and "## Stand-in" in report
    assert [r.getMessage() for r in caplog.records if "UNTRAINED" in r.getMessage()] == [
        "stand-in inputs are UNTRAINED"
    ]


def test_an_unknown_task_names_the_registered_ones(stand_in, tmp_path):
    cfg = evaluation_config(["task=nope", f"output_dir={tmp_path}", "logger=none"])
    with pytest.raises(EvaluationInputError, match=r"task='nope' is not one of \[.*'au'.*"):
        run(cfg)
