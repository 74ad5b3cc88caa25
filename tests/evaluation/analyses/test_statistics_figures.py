"""The statistics figures: made from the statistics tables; skipped with the reason."""

from __future__ import annotations

from types import SimpleNamespace

from omegaconf import OmegaConf

from mesynth.evaluation.analyses.statistics_figures import StatisticsFigures
from mesynth.evaluation.registry import AnalysisResult


def test_the_figures_of_a_run_are_written(demo_run):
    output, _ = demo_run
    for name in ("au_correlation_by_au", "participant_histograms", "au_curves"):
        assert (output / "figures" / f"{name}.png").stat().st_size > 1000


def test_it_says_why_it_is_skipped():
    figures = StatisticsFigures()
    off = SimpleNamespace(cfg=OmegaConf.create({"figures": {"enabled": False}}), results={})
    assert figures.missing(off) == "figures.enabled=false"
    on = OmegaConf.create({"figures": {"enabled": True}})
    nothing = SimpleNamespace(
        cfg=on, results={"statistics": AnalysisResult(summary={"n_pairs": 0})}
    )
    assert figures.missing(nothing) == "no (video, AU) pair was correlated"
    assert (
        figures.missing(SimpleNamespace(cfg=on, results={})) == "no (video, AU) pair was correlated"
    )
    some = SimpleNamespace(cfg=on, results={"statistics": AnalysisResult(summary={"n_pairs": 3})})
    assert figures.missing(some) is None
