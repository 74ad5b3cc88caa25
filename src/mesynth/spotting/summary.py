"""Fold and summary tables of the spotting experiment, with bootstrap intervals over subjects.

Counts are pooled (summed) over folds, never averaged, as the MEGC protocol pools over videos.
The 95% interval resamples the held-out subjects with replacement (seeded) and recomputes the
pooled F1 (percentile interval); the difference to the reference resamples the same subjects for
both, so it is a paired interval. A resample without any prediction or interval of a type has no
F1 and is left out of that type's interval.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from mesynth.spotting.folds import ORIGINAL, SYNTHETIC, TESTED_ON_SYNTHETIC, Arm
from mesynth.spotting.scoring import COUNT_COLUMNS, METRIC_COLUMNS, OVERALL, Counts
from mesynth.spotting.types import EXPRESSION_TYPES

TYPES = (*EXPRESSION_TYPES, OVERALL)
FOLD_KEYS = ("fold", "held_out", "condition", "synthetic_set", "label", "test_side")
FOLD_COLUMNS = (*FOLD_KEYS, "type", *COUNT_COLUMNS, *METRIC_COLUMNS)
SUMMARY_COLUMNS = (
    "label",
    "condition",
    "synthetic_set",
    "type",
    "n_folds",
    *COUNT_COLUMNS,
    *METRIC_COLUMNS,
    "f1_low",
    "f1_high",
    "reference",
    "f1_reference",
    "f1_diff",
    "f1_diff_low",
    "f1_diff_high",
)
SAME_SPOTTER_ON_ORIGINALS = "same spotter on the originals"


def _with_ratios(table: pd.DataFrame) -> pd.DataFrame:
    ratios = [Counts(*(int(row[c]) for c in COUNT_COLUMNS)) for _, row in table.iterrows()]
    for name in METRIC_COLUMNS:
        table[name] = [getattr(counts, name) for counts in ratios]
    return table


def fold_table(counts: pd.DataFrame, fits: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per fold, arm, test side and type (micro, macro, overall): counts, precision, recall, F1,
    then what the fold's spotter chose in ``fit`` (``fits``: one row per fold and label, e.g.
    flow_peaks' ``p`` and ``extent``)."""
    keys = list(FOLD_KEYS)
    by_type = counts.groupby([*keys, "type"], sort=False, as_index=False)[list(COUNT_COLUMNS)].sum()
    overall = by_type.groupby(keys, sort=False, as_index=False)[list(COUNT_COLUMNS)].sum()
    overall["type"] = OVERALL
    table = pd.concat([by_type, overall], ignore_index=True)
    order = {kind: rank for rank, kind in enumerate(TYPES)}
    first_seen = {
        key: rank for rank, key in enumerate(dict.fromkeys(map(tuple, counts[keys].values)))
    }
    table["_arm"] = [first_seen[tuple(row)] for row in table[keys].values]
    table["_type"] = table["type"].map(order)
    table = table.sort_values(["_arm", "_type"], kind="stable").drop(columns=["_arm", "_type"])
    for column in COUNT_COLUMNS:
        table[column] = table[column].astype(np.int64)
    table = _with_ratios(table.reset_index(drop=True))[list(FOLD_COLUMNS)]
    if fits is None or fits.empty:
        return table
    chosen = fits.drop(columns=["held_out"], errors="ignore")
    return table.merge(chosen, on=["fold", "label"], how="left", validate="many_to_one")


def f1_of(sums: np.ndarray) -> np.ndarray:
    """F1 of count rows ``(..., 3)`` = (n_pred, n_tp, n_gt); 0 where a ratio is undefined."""
    n_pred, n_tp, n_gt = (sums[..., i].astype(float) for i in range(3))
    precision = np.divide(n_tp, n_pred, out=np.zeros_like(n_tp), where=n_pred > 0)
    recall = np.divide(n_tp, n_gt, out=np.zeros_like(n_tp), where=n_gt > 0)
    total = precision + recall
    return np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)


def _defined_f1(sums: np.ndarray) -> np.ndarray:
    """F1 of resampled count rows; NaN where a resample holds neither a prediction nor an
    interval (F1 is undefined there, and counting it as 0 would drag the interval down)."""
    f1 = f1_of(sums)
    f1[(sums[..., 0] == 0) & (sums[..., 2] == 0)] = np.nan
    return f1


def _quantile(values: np.ndarray, q: float) -> float:
    defined = values[np.isfinite(values)]
    return float(np.quantile(defined, q)) if len(defined) else float("nan")


def _fold_counts(folds: pd.DataFrame, label: str, side: str, kind: str, order: list[int]):
    rows = folds[(folds["label"] == label) & (folds["test_side"] == side) & (folds["type"] == kind)]
    by_fold = rows.set_index("fold")[list(COUNT_COLUMNS)]
    return by_fold.reindex(order, fill_value=0).to_numpy(dtype=np.int64)


def summary_table(
    folds: pd.DataFrame,
    arms: Sequence[Arm],
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Per arm and type: pooled counts and F1, its bootstrap interval over subjects, and the
    paired difference to the reference (``original``; for ``preservation``, the same spotter on
    the originals the synthetic videos were made from)."""
    if not 0 < confidence < 1:
        raise ValueError(f"spotting.bootstrap.confidence={confidence} must lie in (0, 1)")
    if n_resamples < 1:
        raise ValueError(f"spotting.bootstrap.n_resamples={n_resamples} must be >= 1")
    tail = (1 - confidence) / 2
    rows = []
    for arm in arms:
        on_synthetic = arm.condition in TESTED_ON_SYNTHETIC
        side = SYNTHETIC if on_synthetic else ORIGINAL
        reference_label = arm.label if on_synthetic else ORIGINAL
        present = folds[(folds["label"] == arm.label) & (folds["test_side"] == side)]
        order = sorted(present["fold"].unique().tolist())
        for kind in TYPES:
            counts = _fold_counts(folds, arm.label, side, kind, order)
            reference = _fold_counts(folds, reference_label, ORIGINAL, kind, order)
            pooled = Counts(*(int(v) for v in counts.sum(axis=0)))
            f1_reference = float(f1_of(reference.sum(axis=0)))
            # The same resampled subjects for every arm and type (one seed, one draw order).
            rng = np.random.default_rng(seed)
            picks = rng.integers(0, len(order), size=(n_resamples, len(order)))
            boot = _defined_f1(counts[picks].sum(axis=1))
            boot_diff = boot - _defined_f1(reference[picks].sum(axis=1))
            rows.append(
                {
                    "label": arm.label,
                    "condition": arm.condition,
                    "synthetic_set": arm.synthetic_set,
                    "type": kind,
                    "n_folds": len(order),
                    **pooled.as_dict(),
                    "f1_low": _quantile(boot, tail),
                    "f1_high": _quantile(boot, 1 - tail),
                    "reference": SAME_SPOTTER_ON_ORIGINALS if on_synthetic else ORIGINAL,
                    "f1_reference": f1_reference,
                    "f1_diff": pooled.f1 - f1_reference,
                    "f1_diff_low": _quantile(boot_diff, tail),
                    "f1_diff_high": _quantile(boot_diff, 1 - tail),
                }
            )
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def f1_by_p(sweep: pd.DataFrame) -> pd.DataFrame:
    """F1 against the threshold ``p``: per label, ``p`` and type (micro, macro, overall), counts
    pooled over folds (the fitted spotters with only their ``p`` replaced)."""
    columns = ["label", "p", "type", *COUNT_COLUMNS, *METRIC_COLUMNS]
    if sweep.empty:
        return pd.DataFrame(columns=columns)
    keys = ["label", "p"]
    by_type = sweep.groupby([*keys, "type"], sort=False, as_index=False)[list(COUNT_COLUMNS)].sum()
    overall = by_type.groupby(keys, sort=False, as_index=False)[list(COUNT_COLUMNS)].sum()
    overall["type"] = OVERALL
    table = pd.concat([by_type, overall], ignore_index=True)
    labels = {label: rank for rank, label in enumerate(dict.fromkeys(sweep["label"]))}
    order = {kind: rank for rank, kind in enumerate(TYPES)}
    table = table.sort_values(
        ["label", "type", "p"],
        key=lambda c: (
            c.map(labels if c.name == "label" else order) if c.name in ("label", "type") else c
        ),
        kind="stable",
    )
    for column in COUNT_COLUMNS:
        table[column] = table[column].astype(np.int64)
    return _with_ratios(table.reset_index(drop=True))[columns]
