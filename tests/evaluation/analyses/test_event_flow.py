"""The event-flow analysis: summary over the measured events, its section, what it needs."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from mesynth.evaluation.analyses.event_flow import EventFlow


def test_the_summary_counts_and_averages_the_measured_events(demo_run, frozen_run):
    for output, summary in (demo_run, frozen_run):
        table = pd.read_csv(output / "flow_events.csv")
        assert summary["flow"]["n_events"] == 6 == table["cosine"].notna().sum()
        assert summary["flow"]["cosine_mean"] == pytest.approx(table["cosine"].mean(), rel=1e-4)
        assert summary["flow"]["epe_mean"] == pytest.approx(table["epe"].mean(), rel=1e-4, abs=1e-9)
    assert demo_run[1]["flow"]["cosine_mean"] == pytest.approx(1.0)
    assert frozen_run[1]["flow"]["cosine_mean"] == 0.0


def test_the_section_gives_the_means_and_the_figure(tmp_path):
    events = pd.DataFrame({"video": ["a", "a"], "cosine": [0.5, 1.0], "epe": [0.2, 0.4]})
    figures = {"flow": tmp_path / "figures" / "event_flow.png"}
    text = EventFlow.section(events, figures, tmp_path)
    assert "Mean over 2 events: cosine 0.750, EPE 0.300 px." in text
    assert "](figures/event_flow.png)" in text


def test_it_needs_frames_and_annotations():
    flow = EventFlow()
    assert flow.missing(SimpleNamespace(no_frames=lambda: "no frames")) == "no frames"
    ctx = SimpleNamespace(no_frames=lambda: None, located_events=None)
    assert flow.missing(ctx) == "no annotation file (set annotations)"
    assert flow.missing(SimpleNamespace(no_frames=lambda: None, located_events={})) is None
