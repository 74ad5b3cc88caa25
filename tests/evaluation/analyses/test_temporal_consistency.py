"""The temporal analysis: its summary is the mean of its table; it needs frames."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from mesynth.evaluation.analyses.temporal_consistency import TemporalConsistency


def test_the_summary_holds_the_means_of_temporal_csv(demo_run, frozen_run):
    for output, summary in (demo_run, frozen_run):
        table = pd.read_csv(output / "temporal.csv")
        for name in ("warp_error_original", "warp_error_synthetic", "warp_error_ratio"):
            assert summary["temporal"][name] == pytest.approx(table[name].mean(), rel=1e-4)
        assert "## Temporal consistency" in (output / "report.md").read_text()
    assert demo_run[1]["temporal"]["warp_error_ratio"] == pytest.approx(1.0)  # exact copy


def test_without_frames_it_says_so():
    ctx = SimpleNamespace(no_frames=lambda: "no frames (set original_frames and synthetic_frames)")
    assert (
        TemporalConsistency().missing(ctx) == "no frames (set original_frames and synthetic_frames)"
    )
