"""Pooled counts, F1 and the bootstrap over subjects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mesynth.spotting.folds import Arm
from mesynth.spotting.scoring import Counts
from mesynth.spotting.summary import f1_of, fold_table, summary_table


def _folds(rows: list[tuple[int, str, str, str, int, int, int]]) -> pd.DataFrame:
    counts = pd.DataFrame(
        [
            {
                "fold": fold,
                "held_out": held,
                "condition": label.split("[")[0],
                "synthetic_set": "",
                "label": label,
                "test_side": side,
                "video": f"{held}_1",
                "type": "micro",
                "n_pred": n_pred,
                "n_tp": n_tp,
                "n_gt": n_gt,
            }  # fmt: skip
            for fold, held, label, side, n_pred, n_tp, n_gt in rows
        ]
    )
    return fold_table(counts)


def test_summary_pools_counts_and_bootstraps_over_subjects():
    rows = [
        (0, "a", "original", "original", 4, 2, 4),
        (1, "b", "original", "original", 2, 0, 2),
        (2, "c", "original", "original", 4, 4, 4),
        (0, "a", "synthetic", "original", 4, 3, 4),
        (1, "b", "synthetic", "original", 2, 1, 2),
        (2, "c", "synthetic", "original", 4, 4, 4),
    ]
    folds = _folds(rows)
    arms = [Arm("original", "", "original"), Arm("synthetic", "x", "synthetic")]
    summary = summary_table(folds, arms, n_resamples=2000, seed=11)
    micro = summary[summary["type"] == "micro"].set_index("label")
    assert micro.loc["original", ["n_pred", "n_tp", "n_gt"]].tolist() == [10, 6, 10]
    assert micro.loc["original", "f1"] == pytest.approx(0.6)  # pooled, not mean of 0.5, 0, 1
    assert micro.loc["synthetic", "f1"] == pytest.approx(0.8)
    assert micro.loc["synthetic", "f1_diff"] == pytest.approx(0.2)
    assert micro.loc["original", "f1_diff"] == 0.0
    assert (micro.loc["original", "f1_diff_low"], micro.loc["original", "f1_diff_high"]) == (0, 0)

    # The interval by hand: the same draws, the same percentiles.
    rng = np.random.default_rng(11)
    picks = rng.integers(0, 3, size=(2000, 3))
    original = np.array([[4, 2, 4], [2, 0, 2], [4, 4, 4]])
    synthetic = np.array([[4, 3, 4], [2, 1, 2], [4, 4, 4]])
    boot = f1_of(synthetic[picks].sum(axis=1))
    diff = boot - f1_of(original[picks].sum(axis=1))
    assert micro.loc["synthetic", "f1_low"] == pytest.approx(np.quantile(boot, 0.025))
    assert micro.loc["synthetic", "f1_high"] == pytest.approx(np.quantile(boot, 0.975))
    assert micro.loc["synthetic", "f1_diff_low"] == pytest.approx(np.quantile(diff, 0.025))
    assert micro.loc["synthetic", "f1_diff_high"] == pytest.approx(np.quantile(diff, 0.975))
    # Every resample improves or keeps F1 here (subject by subject, synthetic >= original).
    assert micro.loc["synthetic", "f1_diff_low"] >= 0.0
    assert micro.loc["synthetic", "f1_low"] <= 0.8 <= micro.loc["synthetic", "f1_high"]
    # Seeded: the same table again.
    again = summary_table(folds, arms, n_resamples=2000, seed=11)
    pd.testing.assert_frame_equal(summary, again)


def test_f1_of_follows_the_zero_convention():
    sums = np.array([[0, 0, 5], [4, 2, 0], [4, 2, 8], [0, 0, 0]])
    expected = [Counts(*row).f1 for row in sums.tolist()]
    assert f1_of(sums).tolist() == pytest.approx(expected)
    assert expected == [0.0, 0.0, pytest.approx(1 / 3), 0.0]
