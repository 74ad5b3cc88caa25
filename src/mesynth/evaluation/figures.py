"""The evaluation figures (PNG, matplotlib's Agg backend: no display needed).

Each figure has a ``draw_*`` function that returns the matplotlib figure and a function of the
same name without the prefix that saves it. What keeps them fit for a paper:

- legends and keys sit outside the data area, never on a curve or a bar;
- a value that does not exist (an AU no video could be correlated on, a panel whose pair was
  excluded) is written "n/a" in its slot: an empty slot would read as 0;
- AU curves run over source frame numbers, the numbers the annotations use;
- the flow figure shows onset, apex and flow of each event side by side with no gaps between
  the panels, and a colour-wheel key for the flow colours.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from mesynth.atomic import write_atomically  # noqa: E402
from mesynth.evaluation.flow import colour_wheel, flow_to_rgb, magnitude  # noqa: E402
from mesynth.evaluation.stats import AlignedSeries  # noqa: E402

ORIGINAL_COLOUR = "#1f77b4"
SYNTHETIC_COLOUR = "#d62728"
EVENT_COLOUR = "0.9"
APEX_COLOUR = "0.55"
NA_COLOUR = "0.45"
NA = "n/a"
FLOW_KEY_LABEL = "flow key"  # the colour wheel's axes label (how tests find it)


def save_figure(figure: plt.Figure, path: Path, dpi: int) -> Path:
    """Write a figure as PNG atomically and close it."""
    try:
        return write_atomically(
            path,
            lambda partial: figure.savefig(partial, dpi=dpi, bbox_inches="tight", format="png"),
        )
    finally:
        plt.close(figure)


def _number(value: float, digits: int = 2) -> str:
    return NA if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def curve_labels(per_video: pd.DataFrame, excluded: pd.DataFrame) -> dict[tuple[str, str], str]:
    """Per (video, AU): ``r = 0.83`` for a correlated pair, ``n/a: <reason>`` for an excluded one."""
    labels = {
        (str(row.video), str(row.au)): f"r = {row.pearson:.2f}"
        for row in per_video.itertuples(index=False)
        if math.isfinite(row.pearson)
    }
    labels.update(
        {
            (str(row.video), str(row.au)): f"{NA}: {row.reason}"
            for row in excluded.itertuples(index=False)
        }
    )
    return labels


def _x_values(series: AlignedSeries, numbers: Sequence[int] | None) -> tuple[np.ndarray, bool]:
    """Source frame numbers when they match the series, else the CSV's frame column."""
    if numbers is not None and len(numbers) >= len(series.all_frames):
        return np.asarray(numbers[: len(series.all_frames)]), True
    return np.asarray(series.all_frames), False


def _draw_au_panel(
    axis: plt.Axes,
    series: AlignedSeries | None,
    numbers: Sequence[int] | None,
    events: list[tuple[int, int, int]],
    label: str | None,
    first_column: bool,
) -> tuple[bool | None, bool]:
    """One (video, AU) panel; returns whether its x axis holds source frame numbers (None
    without a series) and whether it drew events."""
    axis.tick_params(labelsize=7)
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    if series is None:
        axis.text(0.5, 0.5, NA, transform=axis.transAxes, ha="center", va="center",
                  color=NA_COLOUR, fontsize=9)  # fmt: skip
        axis.set_yticks([])
        return None, False
    x, source_numbers = _x_values(series, numbers)
    drew_events = False
    if source_numbers:
        for onset, apex, offset in events:
            axis.axvspan(onset, max(offset, apex), color=EVENT_COLOUR, lw=0, zorder=0)
            axis.axvline(apex, color=APEX_COLOUR, lw=0.6, zorder=1)
            drew_events = True
    axis.set_xlim(x[0], x[-1])
    if not series.valid.any():
        reason = label or "no frame valid on both sides"
        axis.text(0.5, 0.5, NA if reason.startswith(NA) else f"{NA}: {reason}",
                  transform=axis.transAxes, ha="center", va="center",
                  color=NA_COLOUR, fontsize=9)  # fmt: skip
        axis.set_yticks([])
        return source_numbers, drew_events
    original = np.where(series.valid, series.original_all, np.nan)
    synthetic = np.where(series.valid, series.synthetic_all, np.nan)
    axis.plot(x, original, color=ORIGINAL_COLOUR, lw=0.8, zorder=2)
    axis.plot(x, synthetic, color=SYNTHETIC_COLOUR, lw=0.8, zorder=3)
    if first_column:
        axis.set_ylabel("intensity", fontsize=7)
    return source_numbers, drew_events


def _curve_legend(drew_events: bool) -> list:
    handles = [
        Line2D([], [], color=ORIGINAL_COLOUR, lw=1.2, label="original"),
        Line2D([], [], color=SYNTHETIC_COLOUR, lw=1.2, label="synthetic"),
    ]
    if drew_events:
        handles += [
            Patch(color=EVENT_COLOUR, label="annotated event (onset to offset)"),
            Line2D([], [], color=APEX_COLOUR, lw=0.8, label="apex"),
        ]
    return handles


def draw_au_curves(
    curves: dict[tuple[str, str], AlignedSeries],
    events: dict[str, list[tuple[int, int, int]]] | None = None,
    frame_numbers: dict[str, Sequence[int]] | None = None,
    labels: dict[tuple[str, str], str] | None = None,
) -> plt.Figure:
    """Original vs synthetic intensity, one column per video and one row per AU (paper Fig. 3).

    The x axis holds ``frame_numbers[video]``, the source frame numbers of the frames the AU
    rows were computed on (in order); without them, the CSV's ``frame`` column. ``events``
    holds (onset, apex, offset) in source frame numbers, drawn as shaded spans with the apex
    as a line (only on a source-numbered axis). Frames where either side failed are gaps; a
    panel without a valid frame says n/a. ``labels`` (see :func:`curve_labels`) titles the
    panels with their coefficient or the reason they were excluded.
    """
    events, frame_numbers, labels = events or {}, frame_numbers or {}, labels or {}
    videos = list(dict.fromkeys(video for video, _ in curves))
    aus = list(dict.fromkeys(au for _, au in curves))
    figure, axes = plt.subplots(
        len(aus),
        len(videos),
        figsize=(3.6 * len(videos), 1.55 * len(aus) + 0.4),
        squeeze=False,
        sharex="col",
    )
    drew_events = False
    for column, video in enumerate(videos):
        source_numbers = False
        for row, au in enumerate(aus):
            axis = axes[row][column]
            axis.set_title(f"{video}  {au}", fontsize=8, loc="left")
            if labels.get((video, au)):
                axis.set_title(labels[(video, au)], fontsize=7, loc="right", color=NA_COLOUR)
            numbered, drew = _draw_au_panel(
                axis,
                curves.get((video, au)),
                frame_numbers.get(video),
                events.get(video, []),
                labels.get((video, au)),
                column == 0,
            )
            # A panel without a series keeps the axis name the column's others gave it.
            source_numbers = source_numbers if numbered is None else numbered
            drew_events = drew_events or drew
        axes[-1][column].set_xlabel(
            "source frame number" if source_numbers else "frame (CSV)", fontsize=8
        )
    handles = _curve_legend(drew_events)
    figure.tight_layout()
    # Above every panel, outside the data: the saved image grows to hold it (bbox_inches).
    figure.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0),
                  ncol=min(len(handles), 2 * len(videos)), fontsize=7,
                  frameon=False)  # fmt: skip
    return figure


def au_curves(
    curves: dict[tuple[str, str], AlignedSeries],
    events: dict[str, list[tuple[int, int, int]]],
    path: Path,
    dpi: int = 120,
    frame_numbers: dict[str, Sequence[int]] | None = None,
    labels: dict[tuple[str, str], str] | None = None,
) -> Path:
    """Save :func:`draw_au_curves` as PNG."""
    return save_figure(draw_au_curves(curves, events, frame_numbers, labels), path, dpi)


def draw_participant_histograms(by_participant: pd.DataFrame, bins: int = 6) -> plt.Figure:
    """Histograms of the per-participant Pearson and Spearman coefficients (paper Fig. 4)."""
    figure, axes = plt.subplots(1, 2, figsize=(7, 2.6), sharey=True)
    for axis, name in zip(axes, ("pearson", "spearman"), strict=True):
        values = by_participant[name].to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        if values.size:
            # Coefficients live in [-1, 1]: the bins span the data, never beyond those bounds.
            low, high = max(-1.0, values.min() - 0.02), min(1.0, values.max() + 0.02)
            if high - low < 0.1:
                middle = min(max((low + high) / 2, -0.95), 0.95)
                low, high = middle - 0.05, middle + 0.05
            axis.hist(values, bins=bins, range=(low, high), color=ORIGINAL_COLOUR,
                      edgecolor="white")  # fmt: skip
        else:
            axis.text(0.5, 0.5, f"{NA}: no participant has a coefficient",
                      transform=axis.transAxes, ha="center", va="center", color=NA_COLOUR,
                      fontsize=8)  # fmt: skip
        axis.set_title(f"{name.capitalize()} per participant (n={values.size})", fontsize=9)
        axis.set_xlabel("correlation coefficient", fontsize=8)
        axis.tick_params(labelsize=7)
    axes[0].set_ylabel("participants", fontsize=8)
    axes[0].yaxis.set_major_locator(MaxNLocator(integer=True))
    figure.tight_layout()
    return figure


def participant_histograms(
    by_participant: pd.DataFrame, path: Path, bins: int = 6, dpi: int = 120
) -> Path:
    """Save :func:`draw_participant_histograms` as PNG."""
    return save_figure(draw_participant_histograms(by_participant, bins), path, dpi)


def _paired_bars(
    names: Sequence[str],
    left: np.ndarray,
    right: np.ndarray,
    labels: tuple[str, str],
    ylabel: str,
) -> plt.Figure:
    """Two bars per AU; a missing value is written n/a in its slot, the legend sits above."""
    left, right = np.asarray(left, dtype=float), np.asarray(right, dtype=float)
    figure, axis = plt.subplots(figsize=(max(4.5, 0.5 * len(names) + 1.5), 2.8))
    position = np.arange(len(names))
    width = 0.4
    for offset, values, label, colour in (
        (-width / 2, left, labels[0], ORIGINAL_COLOUR),
        (width / 2, right, labels[1], SYNTHETIC_COLOUR),
    ):
        finite = np.isfinite(values)
        axis.bar(position[finite] + offset, values[finite], width, label=label, color=colour)
        for x in position[~finite] + offset:
            axis.annotate(NA, (x, 0), xytext=(0, 3), textcoords="offset points", rotation=90,
                          ha="center", va="bottom", fontsize=7, color=NA_COLOUR)  # fmt: skip
    finite_values = np.concatenate([left[np.isfinite(left)], right[np.isfinite(right)]])
    low = min(0.0, float(finite_values.min())) if finite_values.size else 0.0
    high = max(0.25, float(finite_values.max())) if finite_values.size else 1.0
    margin = 0.05 * (high - low)
    axis.set_ylim(low - (margin if low < 0 else 0), high + margin)
    axis.set_xlim(-0.6, len(names) - 0.4)
    axis.set_xticks(position, list(names), rotation=45, fontsize=8)
    axis.tick_params(axis="y", labelsize=7)
    axis.set_ylabel(ylabel, fontsize=8)
    axis.axhline(0, color="0.3", lw=0.6)
    # Above the axes: bars may reach any height, so no corner inside is safe.
    axis.legend(loc="lower left", bbox_to_anchor=(0.0, 1.01), ncol=2, fontsize=8,
                frameon=False, borderaxespad=0)  # fmt: skip
    figure.tight_layout()
    return figure


def draw_by_au_bars(by_au: pd.DataFrame) -> plt.Figure:
    """Fisher-z mean Pearson and Spearman per AU (paper Table 1 as bars)."""
    return _paired_bars(
        by_au["au"].tolist(),
        by_au["pearson"],
        by_au["spearman"],
        ("Pearson", "Spearman"),
        "correlation (Fisher-z mean)",
    )


def by_au_bars(by_au: pd.DataFrame, path: Path, dpi: int = 120) -> Path:
    """Save :func:`draw_by_au_bars` as PNG."""
    return save_figure(draw_by_au_bars(by_au), path, dpi)


def draw_subset_comparison(comparison: pd.DataFrame, name: str) -> plt.Figure:
    """By-AU Pearson for all participants vs. without the subset ``name`` (paper Fig. 5)."""
    return _paired_bars(
        comparison["au"].tolist(),
        comparison["pearson_all"],
        comparison["pearson_without"],
        ("all participants", f"without {name}"),
        "Pearson (Fisher-z mean)",
    )


def subset_comparison(comparison: pd.DataFrame, name: str, path: Path, dpi: int = 120) -> Path:
    """Save :func:`draw_subset_comparison` as PNG."""
    return save_figure(draw_subset_comparison(comparison, name), path, dpi)


# Layout of the flow figure, in inches.
_PANEL = 1.35  # panel height
_PAD = 0.03  # between panels of one side
_SIDE_GAP = 0.18  # between the original and the synthetic side
_LABEL = 1.45  # left margin for the event labels
_HEAD = 0.5  # above the panels: side names and column titles
_KEY = 1.0  # colour wheel size
FLOW_PANELS = ("onset", "apex", "flow")


def _show(axis: plt.Axes, image: np.ndarray) -> None:
    if image.ndim == 2:
        axis.imshow(image, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
        axis.imshow(image, interpolation="nearest")
    axis.set_xticks([])
    axis.set_yticks([])


def _shared_flow_scale(images: dict[str, np.ndarray]) -> float:
    """The 99th percentile of both flows' lengths: full brightness on both sides of an event."""
    return float(
        np.percentile(
            np.concatenate(
                [
                    magnitude(images["flow_original"]).ravel(),
                    magnitude(images["flow_synthetic"]).ravel(),
                ]
            ),
            99,
        )
    )


def _event_label(info: Mapping, scale: float) -> str:
    return (
        f"{info['video']} #{info['event']}\nonset {info['onset']}, apex {info['apex']}\n"
        f"cos {_number(info['cosine'])}, EPE {_number(info['epe'])} px\n"
        f"full brightness at {scale:.2g} px"
    )


def _draw_flow_key(key: plt.Axes) -> None:
    """The colour wheel that reads a flow panel's hue as a direction."""
    key.set_label(FLOW_KEY_LABEL)
    key.imshow(colour_wheel(101), interpolation="bilinear")
    key.set_axis_off()
    key.set_title("flow direction\n(brightness = length)", fontsize=7, pad=14)
    for x, y, text, ha, va in (
        (108, 50, "right", "left", "center"),
        (50, 108, "down", "center", "top"),
        (-8, 50, "left", "right", "center"),
        (50, -6, "up", "center", "bottom"),
    ):
        key.text(x, y, text, ha=ha, va=va, fontsize=6, clip_on=False)


def draw_event_flows(events: list) -> plt.Figure:
    """Per event (row): onset, apex and onset -> apex flow, original | synthetic (paper Fig. 6).

    ``events`` holds :class:`mesynth.evaluation.events.EventFlow` with images. Both flows of an
    event share one magnitude scale (99th percentile of the two; full brightness at that length,
    given in the row's label), so brightness compares; hue is the direction, as the colour
    wheel to the right shows.
    """
    height, width = events[0].images["original_apex"].shape[:2]
    panel_w = _PANEL * width / height
    side_w = 3 * panel_w + 2 * _PAD
    rows = len(events)
    figure_w = _LABEL + 2 * side_w + _SIDE_GAP + 0.25 + _KEY + 0.35
    figure_h = _HEAD + rows * _PANEL + (rows - 1) * _PAD + 0.05
    figure = plt.figure(figsize=(figure_w, figure_h))

    def axes_at(left: float, top: float, w: float, h: float) -> plt.Axes:
        # Inches from the left and from the top, so rows read downwards.
        return figure.add_axes(
            [left / figure_w, (figure_h - top - h) / figure_h, w / figure_w, h / figure_h]
        )

    side_left = {"original": _LABEL, "synthetic": _LABEL + side_w + _SIDE_GAP}
    for side, left in side_left.items():
        figure.text((left + side_w / 2) / figure_w, 1 - 0.12 / figure_h, side,
                    ha="center", va="top", fontsize=10, weight="bold")  # fmt: skip
    for row, event in enumerate(events):
        images = event.images
        scale = _shared_flow_scale(images)
        top = _HEAD + row * (_PANEL + _PAD)
        for side, left in side_left.items():
            panels = (
                images[f"{side}_onset"],
                images[f"{side}_apex"],
                flow_to_rgb(images[f"flow_{side}"], scale),
            )
            for column, (title, panel) in enumerate(zip(FLOW_PANELS, panels, strict=True)):
                axis = axes_at(left + column * (panel_w + _PAD), top, panel_w, _PANEL)
                axis.set_label(f"{side} {title}")
                _show(axis, panel)
                if row == 0:
                    axis.set_title(title if title != "flow" else "flow onset→apex", fontsize=8,
                                   pad=3)  # fmt: skip
        figure.text((_LABEL - 0.08) / figure_w, 1 - (top + _PANEL / 2) / figure_h,
                    _event_label(event.row, scale), ha="right", va="center",
                    fontsize=7)  # fmt: skip
    key_left = _LABEL + 2 * side_w + _SIDE_GAP + 0.25
    _draw_flow_key(axes_at(key_left, _HEAD + 0.12, _KEY, _KEY))
    return figure


def event_flows(events: list, path: Path, dpi: int = 120) -> Path:
    """Save :func:`draw_event_flows` as PNG."""
    return save_figure(draw_event_flows(events), path, dpi)
