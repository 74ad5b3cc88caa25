"""``spotter=flow_peaks``: training-free spotting from the motion features.

The per-frame motion score follows each region's displacement away from its neutral position:

1. the features' mean flow per region cell (head motion removed) between frames ``k/2`` before
   and after each frame is a smoothed velocity; its running sum over frames, divided by ``k``,
   is the cell's position (up to a constant);
2. a running median over ``baseline_seconds`` (much longer than an expression) is the neutral
   position, so slow drift and posture changes fall away; it is taken twice, the second time
   over a region's resting frames only (those whose first-pass displacement stays within
   ``rest_level`` times the region's noise level), so that expressions filling most of a window
   (two long macro-expressions with a short gap between them) do not pull it towards themselves
   and so shrink their own displacement;
3. a region's displacement is its largest cell distance from neutral, in units of the region's
   own 99th percentile over the video (at least ``snr`` times its noise level, so a region that
   never moves is not blown up to the size of one that does); a brow whose eye moves more
   than ``blink_ratio`` times as far (a blink: the lid drags the skin under the brow) is scaled
   down by ``blink_ratio * brow / eye``;
4. the score is the largest region displacement, smoothed over ``smooth * k`` frames.

An expression is a bump of this score as long as the expression, whatever its length, so the
shared peak post-processing (:mod:`mesynth.spotting.spotters.peaks`) turns each into one interval
and types it by length; its threshold is ``median + p * (max - median)`` (``peaks.threshold_base``),
since a long video's score is neutral most of the time and long macro plateaus lift the mean
above weak micro-expressions. The threshold is relative to each video's curve, so an absolute floor
keeps flow noise from becoming expressions: an interval whose largest displacement stays below
``motion_floor`` pixels (of the working crop) is dropped, and a video that never moves more
yields none. ``fit`` only calibrates ``p`` and ``extent`` on the training videos (nothing is
learnt from, or tuned on, the videos it predicts); when no setting finds a single training event
it has learnt nothing and predicts nothing. Being training-free, it measures whether synthesis
preserved the motion, not whether synthetic data helps a spotter learn.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from mesynth.spotting.spotters.peaks import (
    PeakSettings,
    calibrate,
    curve_predictions,
    moving_average,
    suppress_overlaps,
    threshold,
)
from mesynth.spotting.types import Prediction, SpottingVideo

log = logging.getLogger(__name__)

NOISE_QUANTILE = 0.25  # most frames of a long video are neutral: their level is the noise
SCALE_QUANTILE = 0.99  # a region's unit: its largest displacements, robust to a stray frame


@dataclass(frozen=True)
class FlowPeaksSettings:
    """``conf/spotter/flow_peaks.yaml``."""

    baseline_seconds: float = 6.0
    rest_level: float | None = 4.0  # resting frames for the neutral estimate; None: one pass
    smooth: float = 0.5
    snr: float = 5.0
    noise_floor: float = 0.01  # pixels of the working crop
    motion_floor: float = 0.05  # pixels of the working crop; smaller displacements are noise
    head_rotation: bool = True  # remove the head's in-plane rotation from the cell flows
    upper_brows: bool = True  # brows: only the upper cells (the lower ones hold the lids)
    blink_ratio: float | None = 2.0  # brows: scaled down where their eye moves this much more
    rois: tuple[str, ...] | None = ("brow_left", "brow_right", "mouth")
    peaks: PeakSettings = field(default_factory=PeakSettings)

    def __post_init__(self) -> None:
        if self.rois is not None:
            object.__setattr__(self, "rois", tuple(str(r) for r in self.rois))
        problems = []
        if self.baseline_seconds <= 0:
            problems.append(f"baseline_seconds={self.baseline_seconds} must be > 0")
        if self.rest_level is not None and self.rest_level < 1:
            problems.append(f"rest_level={self.rest_level} must be >= 1 (or null for one pass)")
        if self.blink_ratio is not None and self.blink_ratio <= 0:
            problems.append(f"blink_ratio={self.blink_ratio} must be > 0 (or null to keep brows)")
        if self.smooth < 0:
            problems.append(f"smooth={self.smooth} must be >= 0")
        if self.snr < 0 or self.noise_floor <= 0:
            problems.append(f"snr={self.snr} must be >= 0 and noise_floor={self.noise_floor} > 0")
        if self.motion_floor < 0:
            problems.append(f"motion_floor={self.motion_floor} must be >= 0")
        if self.rois is not None and not self.rois:
            problems.append("rois must name at least one region (or be null for all)")
        if problems:
            raise ValueError("spotter=flow_peaks: " + "; ".join(problems))

    @classmethod
    def from_config(cls, node: object) -> FlowPeaksSettings:
        from mesynth.config import dataclass_values

        values = dataclass_values(cls, node, "spotter=flow_peaks", drop=("name",))
        values["peaks"] = PeakSettings.from_config(values.get("peaks"))
        return cls(**values)


def _running_median(
    values: np.ndarray, window: int, step: int, resting: np.ndarray | None = None
) -> np.ndarray:
    """Running median along axis 0 over ``window`` rows, computed on every ``step``-th row and
    interpolated in between (the features are sampled that sparsely anyway).

    ``resting`` ((T, R) bool, for (T, R, ...) ``values``) leaves the other rows of each region
    out: the median is over the window's resting rows, and where a window holds none it is
    interpolated from the nearest windows that do. Beyond both ends the first and last rows are
    repeated to fill the window."""
    import pandas as pd

    rows = np.arange(0, len(values), step)
    sampled = values[rows].reshape(len(rows), -1).astype(np.float64)
    if resting is not None:
        per_region = sampled.shape[1] // resting.shape[1]
        sampled[~np.repeat(resting[rows], per_region, axis=1)] = np.nan
    size = max(1, int(round(window / step))) | 1
    half = size // 2
    padded = pd.DataFrame(np.pad(sampled, ((half, half), (0, 0)), mode="edge"))
    median = padded.rolling(size, center=True, min_periods=1).median().iloc[half : half + len(rows)]
    median = median.interpolate(limit_direction="both").to_numpy()
    median = median.reshape((len(rows),) + values.shape[1:])
    if step == 1:
        return median
    position = np.arange(len(values)) / step
    low = np.minimum(np.floor(position).astype(int), len(rows) - 1)
    high = np.minimum(low + 1, len(rows) - 1)
    weight = (position - low).reshape((-1,) + (1,) * (values.ndim - 1))
    return (1 - weight) * median[low] + weight * median[high]


def without_head_rotation(vectors: np.ndarray, roi_boxes: np.ndarray) -> np.ndarray:
    """(T, R, C, 2) cell flows less each frame's in-plane head rotation about the nose.

    The features remove the head's translation (the nose's flow), not its rotation, which
    moves the brows and the mouth as much as a small expression does. The rotation rate is
    fitted per frame by least squares over all cells, about the nose box's centre. The
    expressions (both brows down and together, both lip corners up and out) are
    mirror-symmetric about the face's vertical axis, so they add nothing to that fit.
    """
    from mesynth.spotting.features import cell_centres

    x0, y0, x1, y1 = np.asarray(roi_boxes, dtype=np.float64)[-1]
    offsets = cell_centres(roi_boxes) - np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    x, y = offsets[..., 0], offsets[..., 1]
    u, v = vectors[..., 0], vectors[..., 1]
    rate = (x * v - y * u).sum(axis=(1, 2)) / max(float((x**2 + y**2).sum()), 1e-9)
    rotation = np.stack([-rate[:, None, None] * y, rate[:, None, None] * x], axis=-1)
    return vectors - rotation


def cell_displacement(features, settings: FlowPeaksSettings) -> np.ndarray:
    """(T, R, C) distance of every cell of every region from its neutral position, in pixels
    of the working crop (head rotation removed and the brows' lid cells zeroed as set)."""
    if features.vectors is None:
        raise ValueError(
            f"features of video {features.name} have no per-cell flow (`vectors`): they were "
            "made by an older mesynth; delete the feature cache so they are computed again"
        )
    vectors = np.asarray(features.vectors, dtype=np.float64)
    boxes = getattr(features, "roi_boxes", None)
    if settings.head_rotation and boxes is not None:
        vectors = without_head_rotation(vectors, boxes)
    position = np.cumsum(vectors, axis=0) / features.k
    window = int(round(settings.baseline_seconds * features.fps))
    brows = [i for i, name in enumerate(features.roi_names) if name.startswith("brow")]

    def distance_from(neutral: np.ndarray) -> np.ndarray:
        distance = np.linalg.norm(position - neutral, axis=-1)
        if settings.upper_brows:
            # A brow box reaches down to the upper lid; a blink drags that skin down as lowered
            # brows do. The upper cells (rows first) hold the brows themselves.
            distance[:, brows, distance.shape[-1] // 2 :] = 0.0
        return distance

    distance = distance_from(_running_median(position, window, features.stride))
    if settings.rest_level is None:
        return distance
    region = distance.max(axis=-1)
    resting = region <= settings.rest_level * noise_level(region, settings)
    return distance_from(_running_median(position, window, features.stride, resting))


def noise_level(distance: np.ndarray, settings: FlowPeaksSettings) -> np.ndarray:
    """(R,) noise level of (T, R) region displacements: their lower quartile (most frames of a
    long video are neutral), at least ``noise_floor``."""
    return np.maximum(np.quantile(distance, NOISE_QUANTILE, axis=0), settings.noise_floor)


def _choose(distance: np.ndarray, names: Sequence[str], wanted: Sequence[str], what: str):
    missing = sorted(set(wanted) - set(names))
    if missing:
        raise ValueError(
            f"{what} names {missing}, which the features do not have; regions: {list(names)}"
        )
    return distance[:, [list(names).index(r) for r in wanted]]


def region_pixels(features, settings: FlowPeaksSettings) -> np.ndarray:
    """(T, R) largest cell distance of every region of the features from its neutral position,
    in pixels of the working crop (the eyes included, whatever ``rois``)."""
    return cell_displacement(features, settings).max(axis=-1)


def _used(regions: np.ndarray, features, settings: FlowPeaksSettings) -> np.ndarray:
    if settings.rois is None:
        return regions
    return _choose(regions, features.roi_names, settings.rois, "spotter.rois")


def displacement_pixels(
    features, settings: FlowPeaksSettings, regions: np.ndarray | None = None
) -> np.ndarray:
    """(T, R) largest cell distance of each region used from its neutral position, in pixels
    of the working crop (``regions``: :func:`region_pixels`, if already computed)."""
    return _used(
        region_pixels(features, settings) if regions is None else regions, features, settings
    )


def in_units(distance: np.ndarray, settings: FlowPeaksSettings) -> np.ndarray:
    """(T, R) region distances in each region's unit: its 99th percentile over the video, at
    least ``snr`` times its noise level."""
    unit = np.maximum(
        np.quantile(distance, SCALE_QUANTILE, axis=0),
        settings.snr * noise_level(distance, settings),
    )
    return distance / unit


def region_displacement(
    features, settings: FlowPeaksSettings, regions: np.ndarray | None = None
) -> np.ndarray:
    """(T, R) displacement of each region used from its neutral position, in the region's units
    (``regions``: :func:`region_pixels`, if already computed).

    With ``blink_ratio``, a brow's displacement is scaled by ``min(1, blink_ratio * brow /
    eye)``, ``eye`` being its own side's eye region (in its units): where the lid moves far more
    than the brow, as in a blink, what the brow box sees is the skin the lid drags; a brow that
    moves (lowered or raised brows move the lids about as far, in their units) keeps its value."""
    everything = in_units(
        region_pixels(features, settings) if regions is None else regions, settings
    )
    names = list(features.roi_names)
    used = list(settings.rois) if settings.rois is not None else names
    units = _used(everything, features, settings)
    if settings.blink_ratio is None:
        return units
    brows = [i for i, name in enumerate(used) if name.startswith("brow")]
    eyes = _choose(
        everything,
        names,
        [used[i].replace("brow", "eye", 1) for i in brows],
        "spotter.blink_ratio (each brow's eye region; blink_ratio=null keeps the brows as they are)",
    )
    brow = units[:, brows]
    units[:, brows] = brow * np.minimum(1.0, settings.blink_ratio * brow / np.maximum(eyes, 1e-12))
    return units


def motion_score(
    features, settings: FlowPeaksSettings, regions: np.ndarray | None = None
) -> np.ndarray:
    """(T,) per-frame motion score: the largest region displacement, smoothed (``regions``:
    :func:`region_pixels`, if already computed)."""
    score = region_displacement(features, settings, regions).max(axis=1)
    return moving_average(score, max(1, int(round(settings.smooth * features.k))))


def above_floor(
    predictions: Sequence[Prediction], pixels: np.ndarray, frame_numbers, floor: float
) -> list[Prediction]:
    """The predictions whose largest displacement (``pixels``, (T,) per frame) reaches
    ``floor``."""
    if not predictions or floor <= 0:
        return list(predictions)
    numbers = np.asarray(frame_numbers)
    kept = []
    for prediction in predictions:
        start = int(np.searchsorted(numbers, prediction.onset, side="left"))
        end = int(np.searchsorted(numbers, prediction.offset, side="right"))
        if end > start and float(pixels[start:end].max()) >= floor:
            kept.append(prediction)
    return kept


class FlowPeaks:
    """Training-free spotter; ``fit`` calibrates ``p`` and ``extent`` on training videos."""

    name = "flow_peaks"
    needs_maps = False
    training_free = True  # it measures preservation, not whether synthetic data helps training

    def __init__(self, settings: FlowPeaksSettings | None = None, seed: int = 0):
        self.settings = settings or FlowPeaksSettings()
        self.seed = seed  # nothing random; kept for the common spotter signature
        self.p = self.settings.peaks.p
        self.extent = self.settings.peaks.extent
        self.training_f1: float | None = None
        self.learnt_nothing = False
        self._regions: dict[int, np.ndarray] = {}
        self._curves: dict[int, np.ndarray] = {}
        self._pixels: dict[int, np.ndarray] = {}

    def fit(self, videos: Sequence[SpottingVideo]) -> None:
        peaks = self.settings.peaks
        if not peaks.calibrate:
            return
        annotated = [video for video in videos if video.events]
        if not annotated:
            log.warning(
                "flow_peaks: no training video has events; keeping p=%g, extent=%g",
                self.p,
                self.extent,
            )
            return
        self.p, self.extent, self.training_f1 = calibrate(annotated, self._predict, peaks)
        self.learnt_nothing = self.training_f1 <= 0
        if self.learnt_nothing:
            log.warning(
                "flow_peaks: no p/extent setting finds any of the %d training videos' events; "
                "it has learnt nothing and predicts nothing",
                len(annotated),
            )
            return
        log.info(
            "flow_peaks: calibrated on %d training video(s): p=%g, extent=%g (training F1 %.3f)",
            len(annotated),
            self.p,
            self.extent,
            self.training_f1,
        )
        edges = self.grid_edges()
        if edges:
            log.warning(
                "flow_peaks: the calibration landed on the edge of its grid (%s); the best "
                "setting may lie beyond it: widen spotter.peaks.p_grid / extent_grid",
                ", ".join(edges),
            )

    def grid_edges(self) -> list[str]:
        """The calibrated values that sit on an end of their grid, as ``p=0.02 (lowest)``."""
        peaks, edges = self.settings.peaks, []
        for name, value, grid in (
            ("p", self.p, peaks.p_grid),
            ("extent", self.extent, peaks.extent_grid),
        ):
            if len(grid) > 1 and value == min(grid):
                edges.append(f"{name}={value:g} (lowest)")
            elif len(grid) > 1 and value == max(grid):
                edges.append(f"{name}={value:g} (highest)")
        return edges

    def fitted(self) -> dict:
        """What ``fit`` chose, for the fold table and the summary."""
        calibrated = self.training_f1 is not None
        return {
            "p": float(self.p),
            "extent": float(self.extent),
            "training_f1": float(self.training_f1) if calibrated else float("nan"),
            "grid_edge": "; ".join(self.grid_edges()) if calibrated else "",
            "learnt_nothing": bool(self.learnt_nothing),
        }

    # The region displacements and both curves drawn from them are kept per video for this
    # spotter's life (one fold and condition): the calibration grid and the F1-against-p sweep
    # predict the same videos many times.
    def _region_pixels(self, video: SpottingVideo) -> np.ndarray:
        if id(video) not in self._regions:
            self._regions[id(video)] = region_pixels(video.features, self.settings)
        return self._regions[id(video)]

    def frame_scores(self, video: SpottingVideo) -> np.ndarray:
        if id(video) not in self._curves:
            regions = self._region_pixels(video)
            self._curves[id(video)] = motion_score(video.features, self.settings, regions)
        return self._curves[id(video)]

    def motion_pixels(self, video: SpottingVideo) -> np.ndarray:
        """(T,) largest region displacement per frame, pixels of the working crop."""
        if id(video) not in self._pixels:
            regions = self._region_pixels(video)
            pixels = displacement_pixels(video.features, self.settings, regions).max(axis=1)
            self._pixels[id(video)] = pixels
        return self._pixels[id(video)]

    def _predict(self, video: SpottingVideo, p: float, extent: float) -> list[Prediction]:
        peaks = self.settings.peaks
        candidates = curve_predictions(
            video,
            self.frame_scores(video),
            p,
            extent,
            distance=video.features.k,
            micro_max_seconds=peaks.micro_max_seconds,
            threshold_base=peaks.threshold_base,
        )
        kept = suppress_overlaps(candidates, peaks.iou)
        if not kept or self.settings.motion_floor <= 0:
            return kept
        floor = self.settings.motion_floor
        return above_floor(kept, self.motion_pixels(video), video.features.frame_numbers, floor)

    def predict(self, video: SpottingVideo) -> list[Prediction]:
        return self.predict_at(video, self.p)

    def score_threshold(self, scores: np.ndarray) -> float:
        """The threshold its peaks must reach on ``scores`` (a curve of :meth:`frame_scores`)."""
        return threshold(scores, self.p, self.settings.peaks.threshold_base)

    def predict_at(self, video: SpottingVideo, p: float) -> list[Prediction]:
        """Predictions with threshold ``p`` instead of the fitted one (for F1 against p)."""
        if self.learnt_nothing:
            return []
        return self._predict(video, p, self.extent)
