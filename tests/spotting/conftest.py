"""Shared fixtures: the demo face, the figures the spotting figures module saves, and one run of flow_peaks
through the folds on made-up flow features (original, synthetic copies and a frozen control)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from mesynth.spotting import figures as plots
from mesynth.spotting.data import SpottingInputs, VideoEntry
from mesynth.spotting.folds import frozen_set, run_folds
from mesynth.spotting.spotters.flow_peaks import FlowPeaks
from mesynth.video.demo_clip import demo_face
from tests.spotting.flow_videos import _settings, video_sets


@pytest.fixture(scope="module")
def face():
    return demo_face(128)


@pytest.fixture
def captured(monkeypatch):
    """The matplotlib figures the spotting figures module saves, by file name."""
    figures = {}

    def keep(figure, path, dpi):
        figures[Path(path).name] = figure
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(b"png")
        return Path(path)

    monkeypatch.setattr(plots, "save_figure", keep)
    return figures


@pytest.fixture(scope="module")
def computed():
    """One run of the folds for every test of this file (each gets its own copy)."""
    return _run()


@pytest.fixture
def outcome_inputs(computed):
    return copy.deepcopy(computed)


def _run():
    originals, copies, frozen = video_sets()
    settings = _settings()
    outcome = run_folds(
        originals,
        {"copy": copies, frozen_set("copy"): frozen},
        lambda seed: FlowPeaks(settings),
        conditions=["original", "synthetic", "preservation", "frozen"],
        curve_videos=["a_1"],
        progress=False,
    )
    entries = [VideoEntry(v.name, v.name, v.participant, "original", None, None) for v in originals]
    inputs = SpottingInputs(entries, {"copy": []}, {v.name: v.events for v in originals}, Path("a"))
    return outcome, inputs
