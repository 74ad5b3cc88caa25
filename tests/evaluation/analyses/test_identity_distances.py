"""The identity analysis: its summary is the mean of identity.csv; it needs frames."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from mesynth.evaluation.analyses.identity_distances import Identity


def test_the_summary_holds_the_means_of_identity_csv(demo_run):
    output, summary = demo_run
    table = pd.read_csv(output / "identity.csv")
    assert summary["identity"]["distance_original_synthetic"] == pytest.approx(
        table["distance_original_synthetic"].mean(), rel=1e-4, abs=1e-9
    )
    # The demo face and the recorded reference (skimage:astronaut) are one person.
    assert summary["identity"]["distance_synthetic_reference"] == pytest.approx(
        table["distance_synthetic_reference"].mean(), rel=1e-4
    )
    assert summary["identity"]["distance_synthetic_reference"] < 0.6
    assert summary["identity"]["fraction_hidden"] == 0.0
    assert "## Identity" in (output / "report.md").read_text()


def test_without_frames_it_says_so():
    ctx = SimpleNamespace(no_frames=lambda: "no frames")
    assert Identity().missing(ctx) == "no frames"
