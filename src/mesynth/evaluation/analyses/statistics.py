"""AU statistics (paper Tables 1 and 2, Fig. 5 as numbers)."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from mesynth.evaluation import stats
from mesynth.evaluation.context import Context
from mesynth.evaluation.registry import Analysis, AnalysisResult, register
from mesynth.evaluation.report import figure_markdown, markdown_table

log = logging.getLogger(__name__)


@register
class Statistics(Analysis):
    """Pearson and Spearman per (video, AU), Fisher-z means by AU, participant and overall."""

    name = "statistics"
    rank = 10
    outputs = (
        "per_video.csv",
        "au_correlation_by_au.csv",
        "au_correlation_by_participant.csv",
        "excluded.csv",
        "subset_*_by_au.csv",
    )

    def run(self, ctx: Context) -> AnalysisResult:
        cfg, settings, tables = ctx.cfg, ctx.settings, ctx.au_tables
        log.info("AU backend %s: %s vs %s", ctx.backend.name, ctx.original_dir, ctx.synthetic_dir)
        aus, missing = (
            (ctx.requested_aus, {})
            if ctx.requested_aus
            else stats.compared_aus(tables, ctx.au_files)
        )
        per_video, excluded = stats.correlate_tables(tables, aus, settings, ctx.au_files)
        regex = str(cfg.participant_regex)
        summary = stats.summarise(per_video, excluded, regex, missing)
        notes = stats.missing_au_notes(missing) + stats.truncation_notes(tables, settings)
        if summary["n_pairs"] == 0:
            notes.append("No (video, AU) pair could be correlated; see excluded.csv.")
            log.warning("no (video, AU) pair could be correlated; see excluded.csv")
        if ctx.backend.name == "landmarks":
            notes.append(
                "AU values are geometric proxies from dlib landmarks (au=landmarks), not FACS "
                "intensities; see mesynth.evaluation.au.landmarks."
            )
        subsets = {
            str(name): stats.subset_comparison(per_video, list(members), regex)
            for name, members in (cfg.subsets or {}).items()
            if members
        }
        result_tables = {
            "per_video": per_video,
            "au_correlation_by_au": stats.by_au(per_video),
            "au_correlation_by_participant": stats.by_participant(per_video, regex),
            "excluded": excluded,
        }
        result_tables |= {f"subset_{name}_by_au": table for name, table in subsets.items()}
        summary |= {"au_backend": ctx.backend.name, "aus": aus, "settings": self.settings(ctx, aus)}
        log.info(
            "Pearson %.3f (SD %.3f), Spearman %.3f (SD %.3f) over %d participants",
            summary["pearson_mean"], summary["pearson_sd"], summary["spearman_mean"],
            summary["spearman_sd"], summary["n_participants"],
        )  # fmt: skip
        result = AnalysisResult(result_tables, summary, notes=notes)
        result.section = lambda figures, out: self.section(result, subsets, figures, out)
        return result

    @staticmethod
    def settings(ctx: Context, aus: list[str]) -> dict:
        settings = ctx.settings
        smoothing = (
            "off"
            if not settings.smooth_window
            else f"Savitzky-Golay window {settings.smooth_window}, order "
            f"{settings.smooth_polyorder} (failed frames interpolated first)"
        )
        return {
            "original_dir": str(ctx.original_dir),
            "synthetic_dir": str(ctx.synthetic_dir),
            "au_backend": ctx.backend.name,
            "aus": aus,
            "smoothing": smoothing,
            "align": settings.align,
            "min_confidence": settings.min_confidence,
            "min_frames": settings.min_frames,
            "participant_regex": str(ctx.cfg.participant_regex),
            "identity_threshold": float(ctx.cfg.identity.threshold),
        }

    @staticmethod
    def section(result: AnalysisResult, subsets: dict, figures: dict, output_dir: Path) -> str:
        s, tables, settings = result.summary, result.tables, result.summary["settings"]
        out = [
            f"Original: `{settings['original_dir']}`  \n"
            f"Synthetic: `{settings['synthetic_dir']}`  \n"
            f"AU backend: `{settings['au_backend']}`; smoothing: {settings['smoothing']}; "
            f"align: `{settings['align']}`; min_confidence: {settings['min_confidence']}\n"
        ]
        out.append("## AU correlation, overall\n")
        out.append(
            "Mean over participants of their Fisher-z mean coefficient; SD = tanh of the "
            "population SD of the participants' z values.\n"
        )
        overall = pd.DataFrame(
            [
                {"": "Pearson", "mean": s["pearson_mean"], "SD": s["pearson_sd"]},
                {"": "Spearman", "mean": s["spearman_mean"], "SD": s["spearman_sd"]},
            ]
        )
        out.append(markdown_table(overall) + "\n")
        reasons = ", ".join(f"{n} {reason}" for reason, n in s["excluded_by_reason"].items())
        out.append(
            f"{s['n_videos']} videos, {s['n_participants']} participants, {s['n_pairs']} "
            f"(video, AU) pairs correlated, {s['n_excluded']} excluded"
            + (f" ({reasons})" if s["n_excluded"] else "")
            + ". Excluded pairs are listed in `excluded.csv`.\n"
        )
        out.append("## By AU (Table 1)\n")
        out.append(markdown_table(tables["au_correlation_by_au"]) + "\n")
        out.append(
            figure_markdown(figures, "by_au", "Fisher-z mean correlation per AU", output_dir)
        )
        out.append("## By participant (Table 2)\n")
        out.append(markdown_table(tables["au_correlation_by_participant"]) + "\n")
        out.append(
            figure_markdown(
                figures, "histograms", "Per-participant coefficients (Fig. 4)", output_dir
            )
        )
        out.append(
            figure_markdown(
                figures, "au_curves", "AU intensity, original vs synthetic (Fig. 3)", output_dir
            )
        )
        for name, table in subsets.items():
            out.append(f"## Subset `{name}` (Fig. 5)\n")
            out.append(markdown_table(table) + "\n")
            caption = f"By-AU Pearson, all vs without {name}"
            out.append(figure_markdown(figures, f"subset_{name}", caption, output_dir))
        return "\n".join(part for part in out if part)
