"""``report.md``: every analysis' section (tables and figures) in one readable page."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd


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


def figure_markdown(figures: dict[str, Path], key: str, caption: str, output_dir: Path) -> str:
    """A figure with its caption, or nothing when the figure was not made."""
    path = figures.get(key)
    if path is None:
        return ""
    return f"![{caption}]({Path(path).relative_to(output_dir).as_posix()})\n\n*{caption}*\n"


def render(sections: list[str], notes: list[str], untrained: bool) -> str:
    """The markdown text of ``report.md``: the analyses' sections in order, then the notes."""
    out = ["# Evaluation report\n"]
    if untrained:
        out.append(
            "> **UNTRAINED NETWORKS.** The synthetic videos were made without a checkpoint "
            "(`manifest.json`: `untrained: true`). They test the pipeline, not style transfer; "
            "do not report these numbers.\n"
        )
    out.extend(section for section in sections if section)
    if notes:
        out.append("## Notes\n")
        out.extend(f"- {note}" for note in notes)
        out.append("")
    return "\n".join(out)
