"""The files the spotting experiment declares: every table and figure it writes is among them, so
that a re-run removes an earlier run's leftovers, and nothing of another analysis is."""

from __future__ import annotations

from mesynth.evaluation.outputs import declared_outputs, remove_stale_outputs
from mesynth.spotting.experiment import predictions_name
from mesynth.spotting.outputs import (
    F1_BY_P_TABLE,
    FOLDS_TABLE,
    PREDICTIONS_PREFIX,
    RELEASED_CURVES_TABLE,
    SPOTTING_OUTPUTS,
    SUMMARY_TABLE,
)


def test_the_table_names_are_the_ones_the_experiment_writes():
    assert (FOLDS_TABLE, SUMMARY_TABLE, F1_BY_P_TABLE, RELEASED_CURVES_TABLE) == (
        "spotting_folds", "spotting_summary", "spotting_f1_by_p", "spotting_released_curves",
    )  # fmt: skip
    assert predictions_name("synthetic[fixed]").startswith(PREDICTIONS_PREFIX)


def test_every_spotting_file_is_declared_and_nothing_else(tmp_path):
    written = [
        *(f"{table}.csv" for table in (FOLDS_TABLE, SUMMARY_TABLE, F1_BY_P_TABLE)),
        f"{RELEASED_CURVES_TABLE}.csv",
        f"{predictions_name('original+synthetic[fixed]')}.csv",
        "figures/spotting_f1_by_condition.png",
        "figures/spotting_score_curves.png",
    ]
    others = ["au_summary.csv", "figures/au_curves.png", "spotting_cache/x.npz", "report.md"]
    for name in (*written, *others):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    found = declared_outputs(tmp_path, {"spotting": SPOTTING_OUTPUTS})
    assert sorted(path.relative_to(tmp_path).as_posix() for path in found) == sorted(written)
    # A re-run that wrote only the summary removes the rest of the earlier run's files.
    removed = remove_stale_outputs(
        tmp_path, [tmp_path / "spotting_summary.csv"], {"spotting": SPOTTING_OUTPUTS}
    )
    assert len(removed) == len(written) - 1
    assert (tmp_path / "spotting_summary.csv").is_file()
    assert all((tmp_path / name).is_file() for name in others)
