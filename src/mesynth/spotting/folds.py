"""Leave-one-subject-out folds and the training conditions of the spotting experiment.

For each fold one participant is held out. A fresh spotter (same seed for every condition of
the fold) is fitted on the *training* participants only and tested on the held-out
participant's original videos:

- ``original``: trained on the training participants' original videos;
- ``original+synthetic``: those plus the training participants' synthetic videos of one set;
- ``synthetic``: the training participants' synthetic videos of one set only;
- ``preservation``: the ``original`` spotter tested on the held-out participant's synthetic
  videos, next to its score on the originals they were made from (``test_side``);
- ``frozen``: the control: trained like ``synthetic`` on the set's videos with every frame
  replaced by the video's first (no motion, the labels kept); a spotter that learns from motion
  must score 0 or far below ``original`` here;
- ``preservation_released``: SOFTNet's released fold of the held-out participant (trained on real
  videos without them) on their synthetic videos and originals, no training
  (:mod:`mesynth.spotting.released`; its rows join these folds' counts).

Nothing of the held-out participant ever reaches ``fit``: :func:`training_videos` selects by
participant and checks its own result.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from natsort import natsorted
from tqdm import tqdm

from mesynth.spotting.scoring import COUNT_COLUMNS, match_counts
from mesynth.spotting.types import EXPRESSION_TYPES, Prediction, Spotter, SpottingVideo

log = logging.getLogger(__name__)

ORIGINAL = "original"
ORIGINAL_PLUS_SYNTHETIC = "original+synthetic"
SYNTHETIC = "synthetic"
PRESERVATION = "preservation"
FROZEN = "frozen"
PRESERVATION_RELEASED = "preservation_released"
CONDITIONS = (
    ORIGINAL, ORIGINAL_PLUS_SYNTHETIC, SYNTHETIC, PRESERVATION, FROZEN, PRESERVATION_RELEASED,
)  # fmt: skip
# Tested on the held-out participant's synthetic videos, next to their originals.
TESTED_ON_SYNTHETIC = (PRESERVATION, PRESERVATION_RELEASED)
# Not fitted in the folds: preservation reuses the original spotter, preservation_released
# the released SOFTNet models (mesynth.spotting.released).
UNFITTED = TESTED_ON_SYNTHETIC
FROZEN_SUFFIX = ":frozen"  # ':' is never part of a set name


def frozen_set(name: str) -> str:
    """Key of a set's frozen control videos in the ``synthetic`` mapping."""
    return name + FROZEN_SUFFIX


# The per-video count rows every fold produces.
VIDEO_COLUMNS = (
    "fold",
    "held_out",
    "condition",
    "synthetic_set",
    "label",
    "test_side",
    "video",
    "type",
    *COUNT_COLUMNS,
)


# Thresholds p of the F1-against-p curves: 0, 0.05, ..., 0.95.
P_STEPS = tuple(round(0.05 * step, 2) for step in range(20))
SWEEP_COLUMNS = ("fold", "held_out", "label", "p", "type", *COUNT_COLUMNS)


class LeakError(RuntimeError):
    """A held-out participant's video was about to reach training."""


@dataclass(frozen=True)
class Fold:
    index: int
    held_out: str


@dataclass(frozen=True)
class Arm:
    """One condition, on one synthetic set (none for ``original``)."""

    condition: str
    synthetic_set: str
    label: str  # how tables and files name it


def make_folds(participants: Iterable[str]) -> list[Fold]:
    """One fold per participant, in natural order (``006`` < ``011`` < ``s15``)."""
    return [Fold(index, p) for index, p in enumerate(natsorted(set(participants)))]


def make_arms(conditions: Sequence[str], set_names: Sequence[str]) -> list[Arm]:
    """The arms to run: ``original`` (always, every other condition is read against it) and
    each other condition once per synthetic set. Labels carry the set's name only when there
    are several sets: ``synthetic`` or ``synthetic[fixed]``."""
    unknown = [c for c in conditions if c not in CONDITIONS]
    if unknown:
        raise ValueError(f"spotting.conditions has {unknown}; choose among {list(CONDITIONS)}")
    synthetic_conditions = [c for c in CONDITIONS if c != ORIGINAL and c in conditions]
    if synthetic_conditions and not set_names:
        raise ValueError(
            f"spotting.conditions {synthetic_conditions} need synthetic videos; set synthetic_dir "
            "(or keep only spotting.conditions=[original])"
        )
    arms = [Arm(ORIGINAL, "", ORIGINAL)]
    for name in set_names:
        for condition in synthetic_conditions:
            label = condition if len(set_names) == 1 else f"{condition}[{name}]"
            arms.append(Arm(condition, name, label))
    return arms


def training_videos(
    arm: Arm,
    fold: Fold,
    originals: Sequence[SpottingVideo],
    synthetic: dict[str, Sequence[SpottingVideo]],
) -> list[SpottingVideo]:
    """The videos an arm's spotter is fitted on in a fold: training participants only."""
    own = [v for v in originals if v.participant != fold.held_out]
    if arm.condition in (ORIGINAL, PRESERVATION):
        chosen = own
    elif arm.condition == FROZEN:
        frozen = synthetic[frozen_set(arm.synthetic_set)]
        chosen = [v for v in frozen if v.participant != fold.held_out]
    else:
        made = [v for v in synthetic[arm.synthetic_set] if v.participant != fold.held_out]
        chosen = own + made if arm.condition == ORIGINAL_PLUS_SYNTHETIC else made
    if not chosen:
        raise ValueError(
            f"fold {fold.held_out}: condition {arm.label} has no training video (no synthetic "
            f"video of set {arm.synthetic_set!r} belongs to another participant); synthesise "
            "more participants or drop the condition from spotting.conditions"
        )
    leaked = [v.name for v in chosen if v.participant == fold.held_out]
    if leaked:  # the selection above makes this impossible; kept as the invariant's guard
        raise LeakError(f"fold {fold.held_out}: {leaked} would reach training")
    return chosen


def _predict(spotter: Spotter, video: SpottingVideo, settings: dict) -> list[Prediction]:
    from mesynth.spotting.presets import within_lengths

    return within_lengths(spotter.predict(video), settings["lengths"])


def _rekeyed(predictions: Iterable[Prediction], video: str) -> list[Prediction]:
    return [p if p.video == video else dataclasses.replace(p, video=video) for p in predictions]


def _count_rows(
    base: dict, video: SpottingVideo, key: str, predictions: Sequence[Prediction], settings: dict
) -> list[dict]:
    rows = []
    for kind in EXPRESSION_TYPES:
        counts = match_counts(
            [p.interval for p in predictions if p.kind == kind],
            [e for e in video.events if e.kind == kind],
            iou_threshold=settings["iou_threshold"],
            matching=settings["matching"],
        )
        rows.append(
            {
                **base,
                "video": key,
                "type": kind,
                **{c: getattr(counts, c) for c in COUNT_COLUMNS},
            }
        )
    return rows


@dataclass
class FoldOutcome:
    """Everything the folds produced: per-video counts, predictions, chosen score curves."""

    counts: pd.DataFrame  # VIDEO_COLUMNS
    predictions: dict[str, list[Prediction]]  # arm label -> every fold's predictions
    arms: list[Arm]
    folds: list[Fold]
    curves: dict[str, dict] = field(default_factory=dict)  # video id -> curve data
    # What each fold's spotter chose in fit (flow_peaks: p, extent, ...), by fold and arm label.
    fits: pd.DataFrame = field(default_factory=pd.DataFrame)
    # Per fold, label, p of P_STEPS and type: counts with the fitted spotter's p replaced.
    sweep: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=SWEEP_COLUMNS))
    released: Any = None  # mesynth.spotting.released.ReleasedOutcome, when that condition ran

    def add_released(self, released: Any) -> None:
        """Join the released models' rows and predictions (``preservation_released``)."""
        self.released = released
        self.counts = pd.concat([self.counts, released.counts], ignore_index=True)
        self.predictions.update(released.predictions)


@dataclass
class _Tally:
    """What the folds collect, arm after arm."""

    predictions: dict[str, list[Prediction]]  # arm label -> every fold's predictions
    rows: list[dict] = field(default_factory=list)  # VIDEO_COLUMNS
    curves: dict[str, dict] = field(default_factory=dict)
    fits: list[dict] = field(default_factory=list)
    sweep: list[dict] = field(default_factory=list)  # SWEEP_COLUMNS


def _add_curve(
    curves: dict[str, dict],
    video: SpottingVideo,
    label: str,
    spotter: Spotter,
    found: list[Prediction],
) -> None:
    """The fitted spotter's frame scores, predictions and threshold on a chosen video."""
    curve = curves.setdefault(video.video_id, {"video": video, "scores": {}, "predictions": {}})
    scores = np.asarray(spotter.frame_scores(video))
    curve["scores"][label] = scores
    curve["predictions"][label] = found
    curve.setdefault("thresholds", {})[label] = _threshold(spotter, scores)


def _test_held_out(
    spotter: Spotter,
    arm: Arm,
    base: dict,
    tests: Sequence[SpottingVideo],
    settings: dict,
    curve_videos: set[str],
    tally: _Tally,
) -> dict[str, list[Prediction]]:
    """The fitted spotter on the held-out participant's originals; its predictions by video."""
    found_by_video: dict[str, list[Prediction]] = {}
    for video in tests:
        found = _rekeyed(_predict(spotter, video, settings), video.video_id)
        tally.predictions[arm.label].extend(found)
        tally.rows.extend(_count_rows(base, video, video.video_id, found, settings))
        found_by_video[video.video_id] = found
        if video.video_id in curve_videos:
            _add_curve(tally.curves, video, arm.label, spotter, found)
    return found_by_video


def _preservation_sweep(
    spotter: Spotter,
    fold: Fold,
    arms: Sequence[Arm],
    synthetic: dict[str, Sequence[SpottingVideo]],
    base: dict,
    settings: dict,
) -> list[dict]:
    """The ``p`` sweep of the original-trained spotter on the held-out synthetic videos."""
    rows = []
    for other in arms:
        if other.condition == PRESERVATION:
            made = [v for v in synthetic[other.synthetic_set] if v.participant == fold.held_out]
            preserved = {**base, "label": other.label, "condition": PRESERVATION}
            rows.extend(_p_sweep(spotter, made, {**preserved, "p": 0.0}, settings))
    return rows


def run_folds(
    originals: Sequence[SpottingVideo],
    synthetic: dict[str, Sequence[SpottingVideo]],
    make_spotter: Callable[[int], Spotter],
    *,
    conditions: Sequence[str] = CONDITIONS[:4],
    seed: int = 0,
    iou_threshold: float = 0.5,
    matching: str = "megc",
    curve_videos: Iterable[str] = (),
    progress: bool = True,
    lengths: dict[str, tuple[int, int | None]] | None = None,
) -> FoldOutcome:
    """Fit and test every arm on every leave-one-subject-out fold.

    ``make_spotter(seed)`` returns a fresh, unfitted spotter; each fold uses ``seed + fold``
    for all its arms, so conditions differ only in their training videos. ``lengths``: per type
    the (shortest, longest) interval kept (a preset's MEGC filters); None keeps all.
    """
    settings = {"iou_threshold": iou_threshold, "matching": matching, "lengths": lengths}
    folds = make_folds(v.participant for v in originals)
    arms = make_arms(conditions, [n for n in synthetic if not n.endswith(FROZEN_SUFFIX)])
    fitted_arms = [arm for arm in arms if arm.condition not in UNFITTED]
    curve_videos = set(curve_videos)
    tally = _Tally({arm.label: [] for arm in arms})
    bar = tqdm(
        total=len(folds) * len(fitted_arms),
        desc="spotting folds",
        unit="fit",
        disable=not progress,
    )
    for fold in folds:
        tests = [v for v in originals if v.participant == fold.held_out]
        for arm in fitted_arms:
            bar.set_postfix_str(f"{fold.held_out} {arm.label}")
            spotter = make_spotter(seed + fold.index)
            spotter.fit(training_videos(arm, fold, originals, synthetic))
            tally.fits.extend(_fit_rows(spotter, fold, arm, arms))
            base = {
                "fold": fold.index,
                "held_out": fold.held_out,
                "condition": arm.condition,
                "synthetic_set": arm.synthetic_set,
                "label": arm.label,
                "test_side": ORIGINAL,
            }
            found = _test_held_out(spotter, arm, base, tests, settings, curve_videos, tally)
            tally.sweep.extend(_p_sweep(spotter, tests, {**base, "p": 0.0}, settings))
            if arm.condition == ORIGINAL:
                tally.sweep.extend(
                    _preservation_sweep(spotter, fold, arms, synthetic, base, settings)
                )
                _preservation(fold, arms, spotter, synthetic, originals, found, tally, settings)
            bar.update()
    bar.close()
    counts = pd.DataFrame(tally.rows, columns=list(VIDEO_COLUMNS))
    sweep_table = pd.DataFrame(tally.sweep, columns=list(SWEEP_COLUMNS))
    return FoldOutcome(
        counts, tally.predictions, arms, folds, tally.curves, pd.DataFrame(tally.fits), sweep_table
    )


def _threshold(spotter: Spotter, scores: np.ndarray) -> float | None:
    """The threshold the spotter applies to ``scores``, if known: its own ``score_threshold``
    (flow_peaks: from the median or the mean), else Moilanen's ``mean + p (max - mean)``."""
    from mesynth.spotting.spotters.peaks import threshold

    if getattr(spotter, "learnt_nothing", False) or len(scores) == 0:
        return None
    if hasattr(spotter, "score_threshold"):
        return spotter.score_threshold(scores)
    p = getattr(spotter, "p", None)
    return None if p is None else threshold(scores, float(p))


def _p_sweep(
    spotter: Spotter, videos: Sequence[SpottingVideo], base: dict, settings: dict
) -> list[dict]:
    """Counts of ``videos`` with the fitted spotter's threshold ``p`` set to each of
    :data:`P_STEPS` (everything else as fitted); nothing for spotters without ``predict_at``."""
    from mesynth.spotting.presets import within_lengths

    predict_at = getattr(spotter, "predict_at", None)
    if not callable(predict_at) or not videos:
        return []
    rows = []
    for p in P_STEPS:
        for video in videos:
            found = within_lengths(predict_at(video, p), settings["lengths"])
            for row in _count_rows({**base, "p": p}, video, video.name, found, settings):
                rows.append({key: row[key] for key in SWEEP_COLUMNS})
    return rows


def _fit_rows(spotter: Spotter, fold: Fold, arm: Arm, arms: Sequence[Arm]) -> list[dict]:
    """What ``spotter`` chose in ``fit`` (its ``fitted()``), for ``arm`` and, when it is the
    ``original`` spotter, for the preservation arms that reuse it."""
    fitted = getattr(spotter, "fitted", None)
    if not callable(fitted):
        return []
    chosen = fitted()
    labels = [arm.label]
    if arm.condition == ORIGINAL:
        labels += [other.label for other in arms if other.condition == PRESERVATION]
    return [
        {"fold": fold.index, "held_out": fold.held_out, "label": label, **chosen}
        for label in labels
    ]


def _preservation(
    fold: Fold,
    arms: Sequence[Arm],
    spotter: Spotter,
    synthetic: dict[str, Sequence[SpottingVideo]],
    originals: Sequence[SpottingVideo],
    by_original: dict[str, list[Prediction]],
    tally: _Tally,
    settings: dict,
) -> None:
    """The original-trained spotter on the held-out participant's synthetic videos, each next
    to the same spotter's result on the original it was made from."""
    original_of = {v.video_id: v for v in originals}
    for arm in arms:
        if arm.condition != PRESERVATION:
            continue
        base = {
            "fold": fold.index,
            "held_out": fold.held_out,
            "condition": PRESERVATION,
            "synthetic_set": arm.synthetic_set,
            "label": arm.label,
        }
        for video in synthetic[arm.synthetic_set]:
            if video.participant != fold.held_out:
                continue
            found = _rekeyed(_predict(spotter, video, settings), video.name)
            tally.predictions[arm.label].extend(found)
            tally.rows.extend(
                _count_rows({**base, "test_side": SYNTHETIC}, video, video.name, found, settings)
            )
            tally.rows.extend(
                _count_rows(
                    {**base, "test_side": ORIGINAL},
                    original_of[video.video_id],
                    video.video_id,
                    by_original[video.video_id],
                    settings,
                )
            )
