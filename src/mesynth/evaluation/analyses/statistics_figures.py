"""Figures of the AU statistics (paper Figs. 3-5)."""

from __future__ import annotations

import numpy as np

from mesynth.evaluation import stats
from mesynth.evaluation.common import EvaluationInputError, choose_videos, normalise_au
from mesynth.evaluation.context import Context
from mesynth.evaluation.registry import Analysis, AnalysisResult, register


@register
class StatisticsFigures(Analysis):
    name = "figures"
    rank = 20
    outputs = (
        "figures/au_correlation_by_au.png",
        "figures/participant_histograms.png",
        "figures/au_curves.png",
        "figures/subset_*.png",
    )

    def missing(self, ctx: Context) -> str | None:
        if not ctx.cfg.figures.enabled:
            return "figures.enabled=false"
        statistics = ctx.results.get("statistics")
        if statistics is None or not statistics.summary["n_pairs"]:
            return "no (video, AU) pair was correlated"
        return None

    def run(self, ctx: Context) -> AnalysisResult:
        from mesynth.evaluation import figures

        cfg, directory, dpi = ctx.cfg, ctx.figure_dir, int(ctx.cfg.figures.dpi)
        tables = ctx.results["statistics"].tables
        paths = {
            "by_au": figures.by_au_bars(
                tables["au_correlation_by_au"], directory / "au_correlation_by_au.png", dpi
            ),
            "histograms": figures.participant_histograms(
                tables["au_correlation_by_participant"],
                directory / "participant_histograms.png",
                int(cfg.figures.histogram_bins),
                dpi,
            ),
        }
        events = {video: placed for video, (placed, _) in (ctx.located_events or {}).items()}
        # Event spans in source frame numbers: onset to offset (to the apex when it is unknown).
        spans = {
            video: [(e.onset, e.apex, max(e.apex, e.offset)) for e in placed]
            for video, placed in events.items()
        }
        paths["au_curves"] = figures.au_curves(
            self.curves(ctx),
            spans,
            directory / "au_curves.png",
            dpi,
            {pair.video_id: pair.frame_numbers() for pair in ctx.analysed_pairs},
            figures.curve_labels(tables["per_video"], tables["excluded"]),
        )
        for table_name, table in tables.items():
            if table_name.startswith("subset_"):
                name = table_name[len("subset_") : -len("_by_au")]
                paths[f"subset_{name}"] = figures.subset_comparison(
                    table, name, directory / f"subset_{name}.png", dpi
                )
        return AnalysisResult(figures=paths)

    @staticmethod
    def curves(ctx: Context) -> dict:
        """The (video, AU) series the curve figure shows."""
        chosen, tables, settings = ctx.cfg.figures.curves, ctx.au_tables, ctx.settings
        aus = ctx.results["statistics"].summary["aus"]
        videos = choose_videos(
            "figures.curves.videos",
            chosen.videos,
            tables,
            chosen.max_videos,
            "the evaluated videos",
        )
        if chosen.aus:
            picked = [normalise_au(au) for au in chosen.aus]
            absent = [au for au in picked if au not in aus]
            if absent:
                raise EvaluationInputError(
                    f"figures.curves.aus names {absent}, not among the compared AUs {aus}"
                )
        else:
            # The AUs that move most in the originals show the most of the comparison.
            def spread(au: str) -> float:
                series = [stats.aligned_series(*tables[v], au, settings) for v in videos]
                return float(
                    np.mean([np.std(s.original) if s.original.size else 0.0 for s in series])
                )

            top = sorted(aus, key=lambda au: -np.nan_to_num(spread(au)))[: chosen.max_aus]
            picked = [au for au in aus if au in top]
        return {
            (v, au): stats.aligned_series(*tables[v], au, settings) for v in videos for au in picked
        }
