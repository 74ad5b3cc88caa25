"""Temporal consistency: flicker of the synthetic videos."""

from __future__ import annotations

import pandas as pd
from tqdm import tqdm

from mesynth.evaluation.context import Context
from mesynth.evaluation.registry import Analysis, AnalysisResult, register
from mesynth.evaluation.report import markdown_table
from mesynth.imaging import FarnebackParams


@register
class TemporalConsistency(Analysis):
    """Flicker: warping error of consecutive synthetic frames under the original's flow."""

    name = "temporal"
    rank = 40
    outputs = ("temporal.csv",)
    switch = "temporal.enabled"
    key = "temporal"

    def missing(self, ctx: Context) -> str | None:
        return ctx.no_frames()

    def run(self, ctx: Context) -> AnalysisResult:
        from mesynth.evaluation.temporal import TEMPORAL_COLUMNS, temporal_consistency

        max_pairs, params = (
            int(ctx.cfg.temporal.max_pairs),
            FarnebackParams(**ctx.cfg.flow.farneback),
        )
        rows = [
            temporal_consistency(pair, max_pairs, params)
            for pair in tqdm(ctx.analysed_pairs, desc="temporal consistency", unit="video")
        ]
        table = pd.DataFrame(rows, columns=TEMPORAL_COLUMNS)
        summary = {
            name: float(table[name].mean())
            for name in ("warp_error_original", "warp_error_synthetic", "warp_error_ratio")
        }
        result = AnalysisResult({"temporal": table}, summary)
        result.section = lambda figures, out: "\n".join(
            [
                "## Temporal consistency\n",
                "Warping error of consecutive frames with the original's flow (0-1 grey "
                "levels); a ratio above 1 means the synthetic video changes more than the "
                "original motion explains (flicker).\n",
                markdown_table(table, max_rows=60) + "\n",
            ]
        )
        return result
