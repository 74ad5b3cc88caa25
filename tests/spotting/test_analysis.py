"""task=spotting as an analysis of evaluate.py: registered under its task with its declared
outputs, and the experiment's results handed on as the evaluation expects them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from mesynth.evaluation.context import Context
from mesynth.evaluation.registry import REGISTRY, tasks
from mesynth.spotting.analysis import Spotting
from mesynth.spotting.outputs import SPOTTING_OUTPUTS


@dataclass
class Results:
    """What mesynth.spotting.experiment.evaluate returns, with known contents."""

    tables: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    figures: dict = field(default_factory=dict)
    report: str = ""


def test_spotting_is_registered_as_its_own_task():
    analysis = REGISTRY["spotting"]
    assert isinstance(analysis, Spotting)
    assert tasks()["spotting"] == ("spotting",)
    assert analysis.outputs == SPOTTING_OUTPUTS and analysis.key == "spotting"


def test_the_experiments_results_are_handed_on_and_predictions_are_not_logged(
    tmp_path, monkeypatch
):
    from mesynth.spotting import experiment

    table = pd.DataFrame({"f1": [0.5]})
    seen = []

    def evaluate(cfg):
        seen.append(cfg.output_dir)
        return Results(
            tables={"spotting_summary": table, "spotting_predictions_original": table},
            summary={"untrained_synthesis": ["fixed"], "conditions": {}},
            figures={"f1": tmp_path / "f1.png"},
            report="## Spotting\n",
        )

    monkeypatch.setattr(experiment, "evaluate", evaluate)
    ctx = Context(OmegaConf.create({"output_dir": str(tmp_path), "task": "spotting"}))
    result = REGISTRY["spotting"].run(ctx)
    assert seen == [str(tmp_path)]
    assert set(result.tables) == {"spotting_summary", "spotting_predictions_original"}
    assert result.unlogged == {"spotting_predictions_original"}
    assert result.figures == {"f1": tmp_path / "f1.png"}
    assert result.section({}, Path(tmp_path)) == "## Spotting\n"
    assert result.untrained is True

    monkeypatch.setattr(
        experiment, "evaluate", lambda cfg: Results(summary={"untrained_synthesis": []})
    )
    assert REGISTRY["spotting"].run(ctx).untrained is False
