"""Re-running into one output_dir: the outputs of analyses that did not run this time are gone,
and the report does not speak of them."""

from __future__ import annotations

import json
import shutil

import mesynth.evaluation.analyses  # noqa: F401  (registers the analyses of task=au)
from mesynth.evaluation import run
from mesynth.evaluation.outputs import REPORT_OUTPUTS, declared_outputs, remove_stale_outputs
from mesynth.evaluation.registry import declared_outputs as by_analysis
from tests.evaluation.conftest import landmark_overrides
from tests.evaluation.helpers import evaluation_config, make_csv_dataset


def test_only_declared_outputs_that_this_run_did_not_write_are_removed(tmp_path, caplog):
    names = [
        "per_video.csv", "summary.json", "report.md", "flow_events.csv", "temporal.csv",
        "identity.csv", "subset_glasses_by_au.csv", "subset_beard_by_au.csv",
        "figures/au_curves.png", "figures/event_flow.png", "figures/subset_glasses.png",
        # Not outputs of any analysis: caches, W&B, the user's own files.
        "au/original/006_1.csv", "wandb/run.txt", "notes.txt", "figures/mine.png",
    ]  # fmt: skip
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    declared = {**by_analysis(), "report": REPORT_OUTPUTS}
    assert declared_outputs(tmp_path, declared)[tmp_path / "figures/event_flow.png"] == "flow"
    written = [tmp_path / n for n in ("per_video.csv", "summary.json", "report.md")]
    written += [tmp_path / "subset_beard_by_au.csv", tmp_path / "identity.csv"]
    with caplog.at_level("INFO", logger="mesynth.evaluation.outputs"):
        removed = remove_stale_outputs(tmp_path, written, declared)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in removed) == [
        "figures/au_curves.png", "figures/event_flow.png", "figures/subset_glasses.png",
        "flow_events.csv", "subset_glasses_by_au.csv", "temporal.csv",
    ]  # fmt: skip
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert left == sorted(set(names) - {p.relative_to(tmp_path).as_posix() for p in removed})
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 6
    assert any(
        m.startswith("removed temporal.csv: a temporal output of an earlier run") for m in messages
    )
    assert {"statistics", "figures", "flow", "temporal", "identity"} <= set(declared)


def test_a_rerun_without_subsets_or_figures_removes_theirs(tmp_path):
    root = tmp_path / "csvs"
    make_csv_dataset(root, {"006_1": 0.8, "011_1": 0.5, "020_1": 0.6}, n_frames=60)
    output = tmp_path / "out"
    base = [
        "au=openface_csv",
        f"original_dir={root / 'original'}",
        f"synthetic_dir={root / 'synthetic'}",
        f"output_dir={output}",
        "logger=none",
    ]
    run(evaluation_config([*base, "subsets.glasses=[011]"]))
    first = {p.relative_to(output).as_posix() for p in output.rglob("*") if p.is_file()}
    assert {
        "subset_glasses_by_au.csv",
        "figures/subset_glasses.png",
        "figures/au_curves.png",
    } <= first

    run(evaluation_config([*base, "figures.enabled=false"]))
    second = {p.relative_to(output).as_posix() for p in output.rglob("*") if p.is_file()}
    assert second == {
        "per_video.csv", "au_correlation_by_au.csv", "au_correlation_by_participant.csv",
        "excluded.csv", "summary.json", "report.md",
    }  # fmt: skip
    report = (output / "report.md").read_text()
    assert "figures/" not in report and "Subset" not in report


def test_a_rerun_with_flow_and_temporal_off_removes_their_outputs(
    demo_run, demo_dir, demo_synthetic, shared_au_cache, tmp_path
):
    first, _ = demo_run
    output = tmp_path / "evaluation"
    shutil.copytree(first, output)  # the earlier run's folder (the fixture's own stays intact)
    for name in ("flow_events.csv", "figures/event_flow.png", "temporal.csv", "identity.csv"):
        assert (output / name).is_file(), name
    (output / "my_notes.md").write_text("mine")
    overrides = landmark_overrides(demo_dir, demo_synthetic, output, shared_au_cache)
    summary = run(
        evaluation_config(
            [*overrides, "flow.enabled=false", "temporal.enabled=false", "identity.enabled=false"]
        )
    )
    for name in ("flow_events.csv", "figures/event_flow.png", "temporal.csv", "identity.csv"):
        assert not (output / name).exists(), name
    for name in ("per_video.csv", "figures/au_curves.png", "figures/au_correlation_by_au.png"):
        assert (output / name).is_file(), name
    assert not {"flow", "temporal", "identity"} & set(summary)
    assert not {"flow", "temporal", "identity"} & set(
        json.loads((output / "summary.json").read_text())
    )
    report = (output / "report.md").read_text()
    for absent in (
        "flow_events",
        "event_flow.png",
        "Optical flow",
        "Temporal",
        "temporal.csv",
        "Identity",
    ):
        assert absent not in report, absent
    assert (output / "my_notes.md").read_text() == "mine"  # not an output of any analysis
