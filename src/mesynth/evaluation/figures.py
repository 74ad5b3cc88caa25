"""The evaluation figures (PNG, matplotlib's Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from mesynth.atomic import write_atomically
from mesynth.evaluation.flow import flow_to_rgb, magnitude  # noqa: E402
from mesynth.evaluation.stats import AlignedSeries  # noqa: E402

ORIGINAL_COLOUR = "#1f77b4"
SYNTHETIC_COLOUR = "#d62728"


def _save(figure: plt.Figure, path: Path, dpi: int) -> Path:
    try:
        return write_atomically(
            path,
            lambda partial: figure.savefig(partial, dpi=dpi, bbox_inches="tight", format="png"),
        )
    finally:
        plt.close(figure)


def au_curves(
    curves: dict[tuple[str, str], AlignedSeries],
    events: dict[str, list[tuple[int, int, int]]],
    path: Path,
    dpi: int = 120,
) -> Path:
    """Original vs synthetic intensity over frames, one panel per (video, AU) (paper Fig. 3).

    ``events`` maps a video to (onset, apex, offset) frame positions drawn as shaded spans.
    Frames where either side failed are drawn as gaps.
    """
    videos = list(dict.fromkeys(video for video, _ in curves))
    aus = list(dict.fromkeys(au for _, au in curves))
    figure, axes = plt.subplots(
        len(videos), len(aus), figsize=(4.2 * len(aus), 2.4 * len(videos)), squeeze=False
    )
    for row, video in enumerate(videos):
        for column, au in enumerate(aus):
            axis = axes[row][column]
            series = curves.get((video, au))
            if series is None:
                axis.set_axis_off()
                continue
            position = np.arange(len(series.all_frames))
            original = np.where(series.valid, series.original_all, np.nan)
            synthetic = np.where(series.valid, series.synthetic_all, np.nan)
            for onset, apex, offset in events.get(video, []):
                axis.axvspan(onset, max(offset, apex), color="0.88", lw=0)
                axis.axvline(apex, color="0.6", lw=0.6)
            axis.plot(position, original, color=ORIGINAL_COLOUR, lw=0.9, label="original")
            axis.plot(position, synthetic, color=SYNTHETIC_COLOUR, lw=0.9, label="synthetic")
            axis.set_title(f"{video}  {au}", fontsize=9)
            axis.tick_params(labelsize=7)
            if row == len(videos) - 1:
                axis.set_xlabel("frame", fontsize=8)
            if column == 0:
                axis.set_ylabel("intensity", fontsize=8)
    axes[0][0].legend(fontsize=7, loc="upper right")
    figure.tight_layout()
    return _save(figure, path, dpi)


def participant_histograms(
    by_participant: pd.DataFrame, path: Path, bins: int = 6, dpi: int = 120
) -> Path:
    """Histograms of the per-participant Pearson and Spearman coefficients (paper Fig. 4)."""
    figure, axes = plt.subplots(1, 2, figsize=(8, 3), sharey=True)
    for axis, name in zip(axes, ("pearson", "spearman"), strict=True):
        values = by_participant[name].to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        axis.hist(values, bins=bins, color=ORIGINAL_COLOUR, edgecolor="white")
        axis.set_title(f"{name.capitalize()} per participant (n={values.size})", fontsize=9)
        axis.set_xlabel("correlation coefficient", fontsize=8)
    axes[0].set_ylabel("participants", fontsize=8)
    axes[0].yaxis.set_major_locator(MaxNLocator(integer=True))
    figure.tight_layout()
    return _save(figure, path, dpi)


def by_au_bars(by_au: pd.DataFrame, path: Path, dpi: int = 120) -> Path:
    """Fisher-z mean Pearson and Spearman per AU (paper Table 1 as bars)."""
    figure, axis = plt.subplots(figsize=(max(5, 0.55 * len(by_au) + 2), 3))
    position = np.arange(len(by_au))
    axis.bar(position - 0.2, by_au["pearson"], 0.4, label="Pearson", color=ORIGINAL_COLOUR)
    axis.bar(position + 0.2, by_au["spearman"], 0.4, label="Spearman", color=SYNTHETIC_COLOUR)
    axis.set_xticks(position, by_au["au"], rotation=45, fontsize=8)
    axis.set_ylabel("correlation", fontsize=8)
    axis.axhline(0, color="0.3", lw=0.6)
    axis.legend(fontsize=8)
    figure.tight_layout()
    return _save(figure, path, dpi)


def subset_comparison(comparison: pd.DataFrame, name: str, path: Path, dpi: int = 120) -> Path:
    """By-AU Pearson for all participants vs. without the subset ``name`` (paper Fig. 5)."""
    figure, axis = plt.subplots(figsize=(max(5, 0.55 * len(comparison) + 2), 3))
    position = np.arange(len(comparison))
    axis.bar(
        position - 0.2,
        comparison["pearson_all"],
        0.4,
        label="all participants",
        color=ORIGINAL_COLOUR,
    )
    axis.bar(
        position + 0.2,
        comparison["pearson_without"],
        0.4,
        label=f"without {name}",
        color=SYNTHETIC_COLOUR,
    )
    axis.set_xticks(position, comparison["au"], rotation=45, fontsize=8)
    axis.set_ylabel("Pearson (Fisher-z mean)", fontsize=8)
    axis.axhline(0, color="0.3", lw=0.6)
    axis.legend(fontsize=8)
    figure.tight_layout()
    return _save(figure, path, dpi)


def event_flows(events: list, path: Path, dpi: int = 120) -> Path:
    """Per event: apex frames and onset->apex flow in HSV, original | synthetic (paper Fig. 6).

    ``events`` holds :class:`mesynth.evaluation.events.EventFlow` with images. Both flows of an
    event share one magnitude scale (99th percentile of the two), so brightness compares.
    """
    titles = ("original apex", "original flow", "synthetic apex", "synthetic flow")
    figure, axes = plt.subplots(len(events), 4, figsize=(10, 2.6 * len(events)), squeeze=False)
    for row, event in enumerate(events):
        images = event.images
        scale = float(
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
        panels = (
            images["original_apex"],
            flow_to_rgb(images["flow_original"], scale),
            images["synthetic_apex"],
            flow_to_rgb(images["flow_synthetic"], scale),
        )
        for column, (axis, panel) in enumerate(zip(axes[row], panels, strict=True)):
            axis.imshow(panel, cmap="gray" if panel.ndim == 2 else None)
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(titles[column], fontsize=9)
        info = event.row
        axes[row][0].set_ylabel(
            f"{info['video']} #{info['event']}\nframes {info['onset']}-{info['apex']}\n"
            f"cos {info['cosine']:.2f}  EPE {info['epe']:.2f}px",
            fontsize=8,
        )
    figure.tight_layout()
    return _save(figure, path, dpi)
