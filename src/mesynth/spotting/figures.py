"""Figures of the spotting experiment (PNG, matplotlib's Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from mesynth.evaluation.figures import save_figure  # noqa: E402
from mesynth.spotting.types import MACRO, MICRO  # noqa: E402

EVENT_COLOURS = {MICRO: "#ff7f0e", MACRO: "#2ca02c"}


def _frame_axis(video, length: int) -> np.ndarray:
    numbers = getattr(getattr(video, "features", None), "frame_numbers", None)
    if numbers is not None and len(numbers) == length:
        return np.asarray(numbers)
    return np.arange(length)


def score_curves(curves: dict[str, dict], path: Path, dpi: int = 120) -> Path:
    """Per chosen video, each condition's frame scores (each scaled to its own maximum) over
    the source frame numbers, ground-truth intervals shaded by type, predictions as bars above."""
    videos = list(curves)
    figure, axes = plt.subplots(len(videos), 1, figsize=(11, 2.8 * len(videos)), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for axis, video_id in zip(axes[:, 0], videos, strict=True):
        curve = curves[video_id]
        video = curve["video"]
        shaded = set()
        for event in video.events:
            label = f"ground truth {event.kind}" if event.kind not in shaded else None
            shaded.add(event.kind)
            axis.axvspan(
                event.onset, event.offset, color=EVENT_COLOURS[event.kind], alpha=0.2, label=label
            )
        labels = list(curve["scores"])
        for rank, label in enumerate(labels):
            colour = colours[rank % len(colours)]
            scores = np.asarray(curve["scores"][label], dtype=float)
            frames = _frame_axis(video, len(scores))
            peak = np.nanmax(np.abs(scores)) if np.isfinite(scores).any() else 0.0
            axis.plot(
                frames, scores / peak if peak > 0 else scores, color=colour, lw=1, label=label
            )
            height = 1.08 + 0.07 * rank
            for prediction in curve["predictions"].get(label, []):
                axis.plot(
                    [prediction.onset, prediction.offset],
                    [height, height],
                    color=colour,
                    lw=3,
                    solid_capstyle="butt",
                )
        axis.set_ylim(min(0.0, axis.get_ylim()[0]), 1.12 + 0.07 * len(labels))
        axis.set_title(f"{video_id}: frame scores (scaled to 1) and predicted intervals (bars)")
        axis.set_xlabel("frame")
        axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
    figure.tight_layout()
    return save_figure(figure, path, dpi)


def f1_by_condition(summary: pd.DataFrame, path: Path, dpi: int = 120) -> Path:
    """Pooled F1 per condition and type with the bootstrap interval over subjects."""
    labels = list(dict.fromkeys(summary["label"]))
    types = list(dict.fromkeys(summary["type"]))
    width = 0.8 / max(1, len(labels))
    figure, axis = plt.subplots(figsize=(min(11.0, 3.0 + 0.45 * len(types) * len(labels)), 3.6))
    for rank, label in enumerate(labels):
        rows = summary[summary["label"] == label].set_index("type").reindex(types)
        positions = np.arange(len(types)) + (rank - (len(labels) - 1) / 2) * width
        f1 = rows["f1"].to_numpy(dtype=float)
        errors = np.vstack(
            [
                f1 - rows["f1_low"].to_numpy(dtype=float),
                rows["f1_high"].to_numpy(dtype=float) - f1,
            ]
        )
        name = (
            f"{label} (tested on synthetic)"
            if rows["condition"].iloc[0] == "preservation"
            else label
        )
        axis.bar(positions, f1, width, yerr=np.clip(errors, 0, None), capsize=3, label=name)
    axis.set_xticks(np.arange(len(types)), types)
    axis.set_ylabel("F1 (pooled over subjects)")
    axis.set_ylim(0, max(1.0, float(summary["f1_high"].max()) * 1.05))
    axis.set_title("Spotting F1 by training condition (95% bootstrap interval over subjects)")
    axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.tight_layout()
    return save_figure(figure, path, dpi)
