"""Optical flow onset -> apex of every annotated event (paper Fig. 6)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from natsort import natsorted
from tqdm import tqdm

from mesynth.evaluation.context import Context
from mesynth.evaluation.registry import Analysis, AnalysisResult, register
from mesynth.evaluation.report import figure_markdown, markdown_table
from mesynth.imaging import FarnebackParams


@register
class EventFlow(Analysis):
    """Onset -> apex flow of every annotated event, original vs synthetic."""

    name = "flow"
    rank = 30
    outputs = ("flow_events.csv", "figures/event_flow.png")
    switch = "flow.enabled"
    key = "flow"

    def missing(self, ctx: Context) -> str | None:
        if ctx.no_frames():
            return ctx.no_frames()
        return None if ctx.located_events is not None else "no annotation file (set annotations)"

    def run(self, ctx: Context) -> AnalysisResult:
        from mesynth.evaluation import figures
        from mesynth.evaluation.events import EVENT_COLUMNS, event_flow

        cfg, located, notes = ctx.cfg, ctx.located_events, []
        pair_of = {pair.video_id: pair for pair in ctx.analysed_pairs}
        events = [event for video in natsorted(located) for event in located[video][0]]
        rows, rendered = [], []
        for event in tqdm(events, desc="event flow", unit="event"):
            keep = cfg.figures.enabled and len(rendered) < int(cfg.flow.max_figures)
            flow = event_flow(
                pair_of[event.video],
                event,
                FarnebackParams(**cfg.flow.farneback),
                float(cfg.flow.min_magnitude),
                keep,
                ctx.detector,
            )
            rows.append(flow.row)
            if keep:
                rendered.append(flow)
        skipped = [row for video in natsorted(located) for row in located[video][1]]
        if skipped:
            notes.append(
                f"{len(skipped)} annotated event(s) could not be placed in the frames; see "
                "flow_events.csv."
            )
        if not events:
            notes.append(
                f"No annotated event in {ctx.annotations_path} belongs to the evaluated videos."
            )
        table = pd.DataFrame(rows + skipped, columns=EVENT_COLUMNS)
        paths = {}
        if rendered:
            path = ctx.figure_dir / "event_flow.png"
            paths["flow"] = figures.event_flows(rendered, path, int(cfg.figures.dpi))
        measured = table[table["cosine"].notna()]
        summary = {
            "n_events": int(len(measured)),
            "cosine_mean": float(measured["cosine"].mean()) if len(measured) else float("nan"),
            "epe_mean": float(measured["epe"].mean()) if len(measured) else float("nan"),
        }
        result = AnalysisResult({"flow_events": table}, summary, paths, notes)
        result.section = lambda figures_, out: self.section(table, figures_, out)
        return result

    @staticmethod
    def section(events: pd.DataFrame, figures: dict, output_dir: Path) -> str:
        out = ["## Optical flow of the annotated events (Fig. 6)\n"]
        out.append(
            "Farneback flow onset -> apex on both sides, compared inside the face: `cosine` is "
            "the magnitude-weighted cosine similarity (1 = same motion, 0 = unrelated or "
            "missing), `epe` the mean end-point error in pixels.\n"
        )
        measured = events[events["cosine"].notna()] if len(events) else events
        if len(measured):
            out.append(
                f"Mean over {len(measured)} events: cosine {measured['cosine'].mean():.3f}, "
                f"EPE {measured['epe'].mean():.3f} px.\n"
            )
        out.append(markdown_table(events, max_rows=40) + "\n")
        caption = "Onset -> apex flow, original | synthetic (Fig. 6)"
        out.append(figure_markdown(figures, "flow", caption, output_dir))
        return "\n".join(part for part in out if part)
