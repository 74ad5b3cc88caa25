"""``report.md``: the evaluation's tables and figures in one readable page."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


@dataclass
class Results:
    """Everything one evaluation produced (tables as written to CSV, figures as files)."""

    settings: dict
    summary: dict
    per_video: pd.DataFrame
    by_au: pd.DataFrame
    by_participant: pd.DataFrame
    excluded: pd.DataFrame
    subsets: dict[str, pd.DataFrame] = field(default_factory=dict)
    flow_events: pd.DataFrame | None = None
    temporal: pd.DataFrame | None = None
    identity: pd.DataFrame | None = None
    figures: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table by the stem of its CSV file."""
        tables = {
            "per_video": self.per_video,
            "au_correlation_by_au": self.by_au,
            "au_correlation_by_participant": self.by_participant,
            "excluded": self.excluded,
        }
        tables.update({f"subset_{name}_by_au": table for name, table in self.subsets.items()})
        for name in ("flow_events", "temporal", "identity"):
            table = getattr(self, name)
            if table is not None:
                tables[name] = table
        return tables


def _cell(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        # Small errors (warping, end-point) would all print as 0.000.
        return f"{value:.3f}" if value == 0 or abs(value) >= 0.01 else f"{value:.2e}"
    return str(value).replace("|", "\\|")


def markdown_table(table: pd.DataFrame, max_rows: int | None = None) -> str:
    """A GitHub markdown table (no extra dependency)."""
    shown = table if max_rows is None else table.head(max_rows)
    lines = [
        "| " + " | ".join(str(c) for c in shown.columns) + " |",
        "|" + "|".join("---" for _ in shown.columns) + "|",
    ]
    lines += [
        "| " + " | ".join(_cell(v) for v in row) + " |" for row in shown.itertuples(index=False)
    ]
    if max_rows is not None and len(table) > max_rows:
        lines.append(f"\n({len(table) - max_rows} more rows in the CSV)")
    return "\n".join(lines)


def _figure(results: Results, key: str, caption: str, output_dir: Path) -> str:
    path = results.figures.get(key)
    if path is None:
        return ""
    return f"![{caption}]({Path(path).relative_to(output_dir).as_posix()})\n\n*{caption}*\n"


def render(results: Results, output_dir: Path) -> str:
    """The markdown text of the report."""
    s, out = results.summary, []
    out.append("# Evaluation report\n")
    if s.get("untrained_synthesis"):
        out.append(
            "> **UNTRAINED NETWORKS.** The synthetic videos were made without a checkpoint "
            "(`manifest.json`: `untrained: true`). They test the pipeline, not style transfer; "
            "do not report these numbers.\n"
        )
    out.append(
        f"Original: `{results.settings.get('original_dir')}`  \n"
        f"Synthetic: `{results.settings.get('synthetic_dir')}`  \n"
        f"AU backend: `{results.settings.get('au_backend')}`; smoothing: "
        f"{results.settings.get('smoothing')}; align: `{results.settings.get('align')}`; "
        f"min_confidence: {results.settings.get('min_confidence')}\n"
    )
    out.append("## AU correlation, overall\n")
    out.append(
        "Mean over participants of their Fisher-z mean coefficient; SD = tanh of the population "
        "SD of the participants' z values.\n"
    )
    overall = pd.DataFrame(
        [
            {"": "Pearson", "mean": s["pearson_mean"], "SD": s["pearson_sd"]},
            {"": "Spearman", "mean": s["spearman_mean"], "SD": s["spearman_sd"]},
        ]
    )
    out.append(markdown_table(overall) + "\n")
    out.append(
        f"{s['n_videos']} videos, {s['n_participants']} participants, {s['n_pairs']} (video, AU) "
        f"pairs correlated, {s['n_excluded']} excluded"
        + (
            " (" + ", ".join(f"{n} {reason}" for reason, n in s["excluded_by_reason"].items()) + ")"
            if s["n_excluded"]
            else ""
        )
        + ". Excluded pairs are listed in `excluded.csv`.\n"
    )
    out.append("## By AU (Table 1)\n")
    out.append(markdown_table(results.by_au) + "\n")
    out.append(_figure(results, "by_au", "Fisher-z mean correlation per AU", output_dir))
    out.append("## By participant (Table 2)\n")
    out.append(markdown_table(results.by_participant) + "\n")
    out.append(_figure(results, "histograms", "Per-participant coefficients (Fig. 4)", output_dir))
    out.append(
        _figure(results, "au_curves", "AU intensity, original vs synthetic (Fig. 3)", output_dir)
    )
    for name, table in results.subsets.items():
        out.append(f"## Subset `{name}` (Fig. 5)\n")
        out.append(markdown_table(table) + "\n")
        out.append(
            _figure(results, f"subset_{name}", f"By-AU Pearson, all vs without {name}", output_dir)
        )
    if results.flow_events is not None:
        out.append("## Optical flow of the annotated events (Fig. 6)\n")
        out.append(
            "Farneback flow onset -> apex on both sides, compared inside the face: `cosine` is the "
            "magnitude-weighted cosine similarity (1 = same motion, 0 = unrelated or missing), "
            "`epe` the mean end-point error in pixels.\n"
        )
        events = results.flow_events
        measured = events[events["cosine"].notna()] if len(events) else events
        if len(measured):
            out.append(
                f"Mean over {len(measured)} events: cosine {measured['cosine'].mean():.3f}, "
                f"EPE {measured['epe'].mean():.3f} px.\n"
            )
        out.append(markdown_table(events, max_rows=40) + "\n")
        out.append(
            _figure(
                results, "flow", "Onset -> apex flow, original | synthetic (Fig. 6)", output_dir
            )
        )
    if results.temporal is not None:
        out.append("## Temporal consistency\n")
        out.append(
            "Warping error of consecutive frames with the original's flow (0-1 grey levels); a "
            "ratio above 1 means the synthetic video changes more than the original motion "
            "explains (flicker).\n"
        )
        out.append(markdown_table(results.temporal, max_rows=60) + "\n")
    if results.identity is not None:
        out.append("## Identity\n")
        out.append(
            "Distances between dlib face descriptors (same person below about "
            f"{results.settings.get('identity_threshold')}). `hidden`: the synthetic face is "
            "farther than that from the participant.\n"
        )
        out.append(markdown_table(results.identity, max_rows=60) + "\n")
    if results.notes:
        out.append("## Notes\n")
        out.extend(f"- {note}" for note in results.notes)
        out.append("")
    out.append("## Per video\n")
    out.append(f"All {len(results.per_video)} (video, AU) coefficients are in `per_video.csv`.\n")
    return "\n".join(part for part in out if part is not None)
