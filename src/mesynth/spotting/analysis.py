"""``task=spotting`` as an analysis of ``evaluate.py``: importing this module registers it.

The entry points (:mod:`mesynth.cli`, :mod:`mesynth.demo`) import it, so evaluation never
imports spotting; the experiment itself (:mod:`mesynth.spotting.experiment`) is loaded only
when the analysis runs, so an AU evaluation never loads the spotting stack.
"""

from __future__ import annotations

from mesynth.evaluation.context import Context
from mesynth.evaluation.registry import Analysis, AnalysisResult, register
from mesynth.spotting.outputs import PREDICTIONS_PREFIX, SPOTTING_OUTPUTS


@register
class Spotting(Analysis):
    """The leave-one-subject-out spotting experiment (:mod:`mesynth.spotting.experiment`)."""

    name = "spotting"
    task = "spotting"
    rank = 10
    outputs = SPOTTING_OUTPUTS
    key = "spotting"

    def run(self, ctx: Context) -> AnalysisResult:
        from mesynth.spotting.experiment import evaluate

        results = evaluate(ctx.cfg)
        result = AnalysisResult(results.tables, results.summary, results.figures)
        # The predictions are MEGC submission files, one row per interval: files, not charts.
        result.unlogged = {name for name in results.tables if name.startswith(PREDICTIONS_PREFIX)}
        result.section = lambda figures, out: results.report
        # The experiment has warned about untrained sets and says so in its section.
        result.untrained = bool(results.summary["untrained_synthesis"])
        return result
