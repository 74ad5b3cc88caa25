"""Figures of the spotting experiment (PNG, matplotlib's Agg backend: no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from mesynth.evaluation.figures import save_figure  # noqa: E402
from mesynth.spotting.types import MACRO, MICRO, Interval, Prediction  # noqa: E402

EVENT_COLOURS = {MICRO: "#ff7f0e", MACRO: "#2ca02c"}
THRESHOLD_COLOUR = "#d62728"
ZERO_HEIGHT = 0.012  # an F1 of 0 is drawn this high (hatched) so that it shows


def _frame_axis(video, length: int) -> np.ndarray:
    numbers = getattr(getattr(video, "features", None), "frame_numbers", None)
    if numbers is not None and len(numbers) == length:
        return np.asarray(numbers)
    return np.arange(length)


def is_hit(prediction: Prediction, events: Sequence[Interval], iou_threshold: float) -> bool:
    """Whether the prediction finds a ground-truth interval of its type (IoU >= threshold)."""
    from mesynth.spotting.scoring import iou

    return any(
        event.kind == prediction.kind and iou(prediction.interval, event) >= iou_threshold
        for event in events
    )


def _curve_panel(axis, video, label: str, curve: dict, iou_threshold: float) -> None:
    for event in video.events:
        axis.axvspan(event.onset, event.offset, color=EVENT_COLOURS[event.kind], alpha=0.18)
    scores = np.asarray(curve["scores"][label], dtype=float)
    frames = _frame_axis(video, len(scores))
    peak = np.nanmax(np.abs(scores)) if np.isfinite(scores).any() else 0.0
    scale = peak if peak > 0 else 1.0
    axis.plot(frames, scores / scale, color="#1f77b4", lw=1)
    threshold = curve.get("thresholds", {}).get(label)
    if threshold is not None and np.isfinite(threshold):
        axis.axhline(threshold / scale, color=THRESHOLD_COLOUR, ls="--", lw=0.9)
    for prediction in curve["predictions"].get(label, []):
        hit = is_hit(prediction, video.events, iou_threshold)
        height = 1.08 if prediction.kind == MICRO else 1.16
        axis.plot(
            [prediction.onset, prediction.offset],
            [height, height],
            color=EVENT_COLOURS[prediction.kind],
            lw=4 if hit else 2,
            ls="-" if hit else (0, (2, 1)),
            solid_capstyle="butt",
        )
    axis.set_ylim(min(0.0, axis.get_ylim()[0]), 1.24)
    axis.set_title(label, fontsize=8)
    axis.tick_params(labelsize=7)


def score_curves(
    curves: dict[str, dict], path: Path, dpi: int = 120, iou_threshold: float = 0.5
) -> Path:
    """One row per chosen video, one panel per condition side by side: the frame scores (scaled
    to 1) over the source frame numbers, the threshold (dashed), ground truth shaded by type,
    predictions as bars above, coloured by type, thick when they find an interval (hit) and
    dotted when they do not (miss)."""
    videos = list(curves)
    labels = list(dict.fromkeys(label for video in videos for label in curves[video]["scores"]))
    figure, axes = plt.subplots(
        len(videos),
        len(labels),
        figsize=(min(4.0 * len(labels), 20.0), 2.6 * len(videos)),
        squeeze=False,
        sharey=True,
    )
    for row, video_id in enumerate(videos):
        curve = curves[video_id]
        for column, label in enumerate(labels):
            axis = axes[row, column]
            if label not in curve["scores"]:
                axis.set_axis_off()
                continue
            _curve_panel(axis, curve["video"], label, curve, iou_threshold)
            if column == 0:
                axis.set_ylabel(f"{video_id}\nscore (scaled)", fontsize=8)
            if row == len(videos) - 1:
                axis.set_xlabel("frame", fontsize=8)
    handles = [
        Line2D([], [], color="#1f77b4", lw=1, label="frame score"),
        Line2D([], [], color=THRESHOLD_COLOUR, ls="--", lw=0.9, label="threshold"),
        Patch(color=EVENT_COLOURS[MICRO], alpha=0.3, label="ground truth micro"),
        Patch(color=EVENT_COLOURS[MACRO], alpha=0.3, label="ground truth macro"),
        Line2D([], [], color="grey", lw=4, label=f"prediction: hit (IoU >= {iou_threshold:g})"),
        Line2D([], [], color="grey", lw=2, ls=(0, (2, 1)), label="prediction: miss"),
    ]
    figure.legend(handles=handles, loc="lower center", ncol=6, fontsize=7, frameon=False)
    figure.suptitle("Frame scores, threshold and predicted intervals by condition", fontsize=10)
    figure.tight_layout(rect=(0, 0.06, 1, 0.96))
    return save_figure(figure, path, dpi)


def f1_by_condition(
    summary: pd.DataFrame, path: Path, dpi: int = 120, confidence: float = 0.95
) -> Path:
    """Pooled F1 per type, one panel per type with the conditions side by side, the bootstrap
    interval over subjects (level from ``spotting.bootstrap.confidence``); an F1 of 0 shows as a
    thin hatched bar labelled 0."""
    labels = list(dict.fromkeys(summary["label"]))
    types = list(dict.fromkeys(summary["type"]))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    figure, axes = plt.subplots(
        1, len(types), figsize=(min(16.0, 1.0 + len(types) * (0.9 + 0.45 * len(labels))), 3.8),
        squeeze=False, sharey=True,
    )  # fmt: skip
    top = max(1.0, float(np.nanmax(summary["f1_high"].to_numpy(dtype=float), initial=0)) * 1.05)
    for axis, kind in zip(axes[0], types, strict=True):
        rows = summary[summary["type"] == kind].set_index("label").reindex(labels)
        f1 = rows["f1"].to_numpy(dtype=float)
        low = np.nan_to_num(f1 - rows["f1_low"].to_numpy(dtype=float))
        high = np.nan_to_num(rows["f1_high"].to_numpy(dtype=float) - f1)
        positions = np.arange(len(labels))
        heights = np.where(f1 > 0, f1, ZERO_HEIGHT)
        bars = axis.bar(
            positions,
            heights,
            0.8,
            yerr=np.clip(np.vstack([low, high]), 0, None),
            capsize=3,
            color=[colours[i % len(colours)] for i in range(len(labels))],
        )
        for bar, value in zip(bars, f1, strict=True):
            if value == 0:
                bar.set_hatch("////")
                bar.set_edgecolor("black")
            axis.annotate(
                f"{value:.2f}",
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                xytext=(0, 2),
                textcoords="offset points",
                ha="center",
                fontsize=6,
            )
        names = [
            f"{label}\n(on synthetic)" if condition.startswith("preservation") else label
            for label, condition in zip(labels, rows["condition"], strict=True)
        ]
        axis.set_xticks(positions, names, rotation=45, ha="right", fontsize=7)
        axis.set_title(kind, fontsize=9)
        axis.set_ylim(0, top)
    axes[0, 0].set_ylabel("F1 (pooled over subjects)")
    figure.suptitle(
        f"Spotting F1 by condition ({round(100 * confidence)}% bootstrap interval over subjects)",
        fontsize=10,
    )
    figure.tight_layout()
    return save_figure(figure, path, dpi)


def f1_against_p(table: pd.DataFrame, path: Path, dpi: int = 120) -> Path:
    """Pooled F1 against the threshold ``p`` per condition, one panel per type."""
    types = list(dict.fromkeys(table["type"]))
    figure, axes = plt.subplots(
        1, len(types), figsize=(4.0 * len(types), 3.4), squeeze=False, sharey=True
    )
    for axis, kind in zip(axes[0], types, strict=True):
        rows = table[table["type"] == kind]
        for label, curve in rows.groupby("label", sort=False):
            axis.plot(curve["p"], curve["f1"], marker=".", lw=1, label=label)
        axis.set_title(kind, fontsize=9)
        axis.set_xlabel("threshold p (level + p (max - level))", fontsize=8)
        axis.set_ylim(0, max(1.0, float(table["f1"].max()) * 1.05))
    axes[0, 0].set_ylabel("F1 (pooled over subjects)")
    axes[0, -1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.suptitle("F1 against the threshold p (everything else as fitted per fold)", fontsize=10)
    figure.tight_layout()
    return save_figure(figure, path, dpi)


def released_curves(traces: dict[str, dict], path: Path, dpi: int = 120) -> Path:
    """The released SOFTNet models' score curves (``2k`` mean) of chosen videos, original and
    synthetic on the same axes, one row per video and one panel per type."""
    names = list(traces)
    kinds = list(dict.fromkeys(kind for name in names for kind in traces[name]))
    figure, axes = plt.subplots(
        len(names), len(kinds), figsize=(5.0 * len(kinds), 2.4 * len(names)), squeeze=False
    )
    for row, name in enumerate(names):
        for column, kind in enumerate(kinds):
            axis = axes[row, column]
            for side, colour in (("original", "#1f77b4"), ("synthetic", "#ff7f0e")):
                curve = np.asarray(traces[name][kind].get(side, []), dtype=float)
                axis.plot(np.arange(len(curve)), curve, color=colour, lw=1, label=side)
            axis.set_title(f"{name}: {kind}", fontsize=8)
            axis.tick_params(labelsize=7)
    axes[0, -1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.supxlabel("pair index (SOFTNet's numbering)", fontsize=8)
    figure.suptitle("Released SOFTNet scores, original vs synthetic", fontsize=10)
    figure.tight_layout()
    return save_figure(figure, path, dpi)
