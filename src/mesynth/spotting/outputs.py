"""The files the spotting experiment writes, relative to the evaluation's ``output_dir``."""

from __future__ import annotations

FOLDS_TABLE = "spotting_folds"
SUMMARY_TABLE = "spotting_summary"
F1_BY_P_TABLE = "spotting_f1_by_p"
RELEASED_CURVES_TABLE = "spotting_released_curves"
PREDICTIONS_PREFIX = "spotting_predictions_"
# Every file the experiment may write (besides summary.json, report.md); the evaluation removes
# those an earlier run wrote and this one did not.
SPOTTING_OUTPUTS = (
    f"{FOLDS_TABLE}.csv",
    f"{SUMMARY_TABLE}.csv",
    f"{F1_BY_P_TABLE}.csv",
    f"{RELEASED_CURVES_TABLE}.csv",
    f"{PREDICTIONS_PREFIX}*.csv",
    "figures/spotting_*.png",
)
