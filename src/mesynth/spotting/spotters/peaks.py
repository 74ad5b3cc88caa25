"""From a per-frame score curve to typed, scored intervals; the post-processing every spotter
shares, and its calibration on training videos.

- Peaks: local maxima above ``base + p * (max - base)`` of the curve, at least ``distance`` rows
  apart. ``base`` (``threshold_base``) is the curve's ``mean`` (Moilanen's threshold, as SOFTNet
  and the MEGC baselines use) or its ``median`` (the default): a long video's curve is neutral
  most of the time, so its median is the neutral level, which long macro plateaus do not lift
  as they lift the mean (above the weakest micro-expressions, whatever ``p``).
- Interval around a peak: the frames on both sides while the curve stays above
  ``base + extent * (peak - base)``, ``base`` being the curve's 10th percentile (its neutral
  level); a peak inside an interval already taken (from a higher peak) adds nothing.
- Type by length at the video's frame rate: ``micro`` up to ``micro_max_seconds`` (0.5 s),
  ``macro`` beyond.
- Calibration: ``p`` and ``extent`` chosen on training videos only, maximising the pooled F1
  (MEGC matching) over a grid.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from mesynth.spotting.types import MACRO, MICRO, Prediction, SpottingVideo

BASE_QUANTILE = 0.1  # the curve's neutral level, for interval extents
THRESHOLD_BASES = ("mean", "median")


@dataclass(frozen=True)
class PeakSettings:
    """Peak post-processing (``spotter.peaks`` in the config)."""

    p: float = 0.3
    extent: float = 0.3
    threshold_base: str = "median"
    micro_max_seconds: float = 0.5
    calibrate: bool = True
    p_grid: tuple[float, ...] = (0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
    extent_grid: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
    iou: float = 0.5  # IoU that counts a match while calibrating (the protocol's)

    def __post_init__(self) -> None:
        object.__setattr__(self, "p_grid", tuple(float(v) for v in self.p_grid))
        object.__setattr__(self, "extent_grid", tuple(float(v) for v in self.extent_grid))
        problems = []
        for name in ("p", "extent"):
            value = getattr(self, name)
            if not 0 <= value < 1:
                problems.append(f"{name}={value} must be in [0, 1)")
            grid = getattr(self, f"{name}_grid")
            if not grid or any(not 0 <= v < 1 for v in grid):
                problems.append(f"{name}_grid={list(grid)} must hold values in [0, 1)")
        if self.threshold_base not in THRESHOLD_BASES:
            problems.append(
                f"threshold_base={self.threshold_base!r} must be one of {list(THRESHOLD_BASES)}"
            )
        if self.micro_max_seconds <= 0:
            problems.append(f"micro_max_seconds={self.micro_max_seconds} must be > 0")
        if not 0 < self.iou <= 1:
            problems.append(f"iou={self.iou} must be in (0, 1]")
        if problems:
            raise ValueError("spotter peak settings: " + "; ".join(problems))

    @classmethod
    def from_config(cls, node: object) -> PeakSettings:
        from mesynth.config import dataclass_values

        return cls(**dataclass_values(cls, node, "spotter.peaks"))


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average over ``window`` rows (edges padded with the edge value)."""
    window = int(window)
    if window <= 1 or len(values) < 2:
        return np.asarray(values, dtype=np.float64)
    before = window // 2
    padded = np.pad(np.asarray(values, dtype=np.float64), (before, window - 1 - before), "edge")
    return np.convolve(padded, np.ones(window) / window, mode="valid")


def threshold(curve: np.ndarray, p: float, base: str = "mean") -> float:
    """``base + p * (max - base)``, ``base`` the curve's ``mean`` (Moilanen's threshold) or its
    ``median``."""
    if base not in THRESHOLD_BASES:
        raise ValueError(f"threshold base {base!r} is not one of {list(THRESHOLD_BASES)}")
    level = float(np.mean(curve) if base == "mean" else np.median(curve))
    return level + p * (float(np.max(curve)) - level)


def peak_intervals(
    curve: np.ndarray, p: float, extent: float, distance: int, threshold_base: str = "mean"
) -> list[tuple[int, int, int]]:
    """``(start, end, peak)`` rows (inclusive) of the peaks above the threshold (from the
    curve's ``threshold_base``), highest first."""
    from scipy.signal import find_peaks

    curve = np.asarray(curve, dtype=np.float64)
    if len(curve) == 0 or not np.isfinite(curve).all() or curve.max() <= curve.min():
        return []
    # Padding lets a maximum on the first or last row count as a peak.
    padded = np.pad(curve, 1, constant_values=-np.inf)
    peaks, _ = find_peaks(
        padded, height=threshold(curve, p, threshold_base), distance=max(1, int(distance))
    )
    base = float(np.quantile(curve, BASE_QUANTILE))
    taken: list[tuple[int, int, int]] = []
    for peak in sorted(peaks - 1, key=lambda row: -curve[row]):
        if any(start <= peak <= end for start, end, _ in taken):
            continue
        level = base + extent * (curve[peak] - base)
        below = np.flatnonzero(curve < level)
        start = int(below[below < peak].max() + 1) if np.any(below < peak) else 0
        end = int(below[below > peak].min() - 1) if np.any(below > peak) else len(curve) - 1
        # The curve does not fall below this peak's level before it reaches a higher one: a
        # shoulder of that motion, not one of its own (else one interval spans both).
        if any(start <= other_end and other_start <= end for other_start, other_end, _ in taken):
            continue
        taken.append((start, end, int(peak)))
    return taken


def kind_of(length_frames: int, fps: float, micro_max_seconds: float) -> str:
    """``micro`` for intervals up to ``micro_max_seconds`` at ``fps``, else ``macro``."""
    return MICRO if length_frames <= micro_max_seconds * fps + 1e-9 else MACRO


def curve_predictions(
    video: SpottingVideo,
    curve: np.ndarray,
    p: float,
    extent: float,
    distance: int,
    micro_max_seconds: float,
    shrink: int = 0,
    threshold_base: str = "mean",
) -> list[Prediction]:
    """Typed, scored predictions (source frame numbers) of one curve of ``video``.

    ``shrink`` rows come off both ends of every interval (for curves that rise ``shrink`` rows
    before an expression starts and fall as long after it ends)."""
    numbers = np.asarray(video.features.frame_numbers)
    predictions = []
    for start, end, peak in peak_intervals(curve, p, extent, distance, threshold_base):
        if end - start >= 2 * shrink + 1:
            start, end = start + shrink, end - shrink
        length = int(numbers[end] - numbers[start]) + 1
        predictions.append(
            Prediction(
                video.video_id,
                int(numbers[start]),
                int(numbers[end]),
                kind_of(length, video.fps, micro_max_seconds),
                float(curve[peak]),
            )
        )
    return predictions


def suppress_overlaps(predictions: Sequence[Prediction], iou: float = 0.5) -> list[Prediction]:
    """Of predictions of one type overlapping with IoU >= ``iou``, keep the best scored."""
    from mesynth.spotting.scoring import iou as interval_iou

    kept: list[Prediction] = []
    for candidate in sorted(predictions, key=lambda p: -p.score):
        if all(
            other.kind != candidate.kind or interval_iou(other.interval, candidate.interval) < iou
            for other in kept
        ):
            kept.append(candidate)
    return sorted(kept, key=lambda p: (p.video, p.onset, p.kind))


def pooled_f1(
    predictions: dict[str, list[Prediction]],
    videos: Sequence[SpottingVideo],
    iou: float,
) -> tuple[float, float]:
    """Pooled (F1, precision) of predictions by video name against the videos' events (MEGC
    matching, both types summed)."""
    from mesynth.spotting.scoring import Counts, match_counts

    total = Counts()
    for video in videos:
        predicted = predictions.get(video.name, [])
        for kind in (MICRO, MACRO):
            total = total + match_counts(
                [p.interval for p in predicted if p.kind == kind],
                [event for event in video.events if event.kind == kind],
                iou,
                "megc",
            )
    return total.f1, total.precision


def calibrate(
    videos: Sequence[SpottingVideo],
    predict: Callable[[SpottingVideo, float, float], list[Prediction]],
    settings: PeakSettings,
) -> tuple[float, float, float]:
    """``(p, extent, f1)`` maximising the pooled F1 of ``predict(video, p, extent)`` over the
    training ``videos`` (ties: the higher precision, then the grid's order)."""
    best = (-math.inf, -math.inf, settings.p, settings.extent)
    for p, extent in itertools.product(settings.p_grid, settings.extent_grid):
        predictions = {video.name: predict(video, p, extent) for video in videos}
        f1, precision = pooled_f1(predictions, videos, settings.iou)
        if (f1, precision) > best[:2]:
            best = (f1, precision, p, extent)
    return best[2], best[3], max(best[0], 0.0)
