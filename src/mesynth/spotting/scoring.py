"""The MEGC spotting scorer: predicted intervals against ground-truth intervals.

The protocol is the one of the MEGC2020 baseline (He et al., ``MDMD_results/result_helper.py``,
``pred_clips_analysis``, the "small" precision it reports):

- Intervals are inclusive ranges of frame numbers. IoU counts frames, both ends included; an
  interval with ``offset <= onset`` has IoU 0 with everything, as in the baseline.
- ``matching="megc"``: a ground-truth interval is *found* when at least one prediction of the
  same type overlaps it with IoU >= the threshold. TP = found ground-truth intervals,
  precision = TP / predictions, recall = TP / ground-truth intervals. One prediction may find
  two ground-truth intervals, so precision can exceed 1 in that corner case, as in the baseline.
- ``matching="one_to_one"``: each prediction matches at most one interval and each interval at
  most one prediction, greedily by IoU (highest first; ties by file order).
- ``matching="softnet"``: as SOFTNet's evaluation counts (its ``MeanAveragePrecision2d`` at the
  IoU threshold, greedy, FN = ground truth - TP): only videos with at least one ground-truth
  interval of the type are scored; each prediction, in order, is a TP when its best-overlapping
  interval (IoU with both ends included, the later interval on ties) reaches the threshold and
  is not yet taken, else an FP; a scored video without any prediction counts the one placeholder
  prediction SOFTNet adds there as an FP. :func:`softnet_coco_ap` gives its COCO AP@[.5:.95].
- Counts are pooled over all videos (never averaged per video), per type (``micro``,
  ``macro``) and ``overall`` (the two types' counts summed). A ratio with a zero denominator is
  0, as in the baseline.

The baseline computes the intersection of two disjoint intervals as 1 frame instead of 0. Both
intervals then span >= 2 frames, so that IoU is at most 1/3: at any threshold above 1/3 (the
protocol's is 0.5) every match is the same as here.
"""

from __future__ import annotations

import argparse
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from mesynth.atomic import write_atomically
from mesynth.config import check_choice
from mesynth.spotting.types import (
    EXPRESSION_TYPES,
    MACRO,
    MICRO,
    Interval,
    Prediction,
    normalise_type,
)

log = logging.getLogger(__name__)

DEFAULT_IOU = 0.5
MATCHINGS = ("megc", "one_to_one", "softnet")
COCO_IOUS = tuple(round(0.5 + 0.05 * step, 2) for step in range(10))  # 0.5, 0.55, ... 0.95
OVERALL = "overall"
COUNT_COLUMNS = ("n_pred", "n_tp", "n_gt")
METRIC_COLUMNS = ("precision", "recall", "f1")
# The MEGC submission file: one row per predicted interval.
MEGC_COLUMNS = ("vid", "pred_onset", "pred_offset", "type")
MEGC_TYPE_NAMES = {MICRO: "me", MACRO: "mae"}
_PREDICTION_ALIASES = {
    "vid": ("vid", "video", "video_id"),
    "pred_onset": ("pred_onset", "onset"),
    "pred_offset": ("pred_offset", "offset"),
    "type": ("type", "expression_type"),
}
_SCORE_ALIASES = ("score", "confidence")
# Distractors of generated clips that a spotter could take for expressions (the others, head
# drift, noise and flicker, span whole clips).
DISTRACTOR_KINDS = ("blink", "head_turn")


class SpottingInputError(ValueError):
    """A prediction or ground-truth file that cannot be scored; the message says why and how."""


# ----------------------------------------------------------------------------- counting


def iou(first: Interval, second: Interval) -> float:
    """Frames in both / frames in either, ends included; 0 when either has offset <= onset."""
    if first.offset <= first.onset or second.offset <= second.onset:
        return 0.0
    intersection = max(0, min(first.offset, second.offset) - max(first.onset, second.onset) + 1)
    union = first.length + second.length - intersection
    return intersection / union


@dataclass(frozen=True)
class Counts:
    """Predictions, true positives and ground-truth intervals of a set of videos."""

    n_pred: int = 0
    n_tp: int = 0
    n_gt: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.n_pred + other.n_pred, self.n_tp + other.n_tp, self.n_gt + other.n_gt)

    @property
    def precision(self) -> float:
        return self.n_tp / self.n_pred if self.n_pred else 0.0

    @property
    def recall(self) -> float:
        return self.n_tp / self.n_gt if self.n_gt else 0.0

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0

    def as_dict(self) -> dict[str, int | float]:
        return {
            "n_pred": self.n_pred,
            "n_tp": self.n_tp,
            "n_gt": self.n_gt,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
        }


def _check_settings(iou_threshold: float, matching: str) -> None:
    check_choice("matching", matching, MATCHINGS, SpottingInputError)
    if not 0.0 < float(iou_threshold) <= 1.0:
        raise SpottingInputError(
            f"IoU threshold {iou_threshold} is outside (0, 1]; the MEGC protocol uses 0.5"
        )


def match_counts(
    predictions: Sequence[Interval],
    truths: Sequence[Interval],
    iou_threshold: float = DEFAULT_IOU,
    matching: str = "megc",
) -> Counts:
    """Counts of one video and one type (the caller keeps types apart)."""
    _check_settings(iou_threshold, matching)
    if matching == "softnet":
        if not truths:
            return Counts()
        outcomes = softnet_outcomes(predictions, truths, iou_threshold)
        return Counts(len(outcomes), sum(o is True for o in outcomes), len(truths))
    if matching == "megc":
        found = sum(
            any(iou(prediction, truth) >= iou_threshold for prediction in predictions)
            for truth in truths
        )
        return Counts(len(predictions), found, len(truths))
    candidates = sorted(
        (
            (-overlap, p, t)
            for p, prediction in enumerate(predictions)
            for t, truth in enumerate(truths)
            if (overlap := iou(prediction, truth)) >= iou_threshold
        ),
    )
    used_predictions: set[int] = set()
    used_truths: set[int] = set()
    for _, p, t in candidates:
        if p not in used_predictions and t not in used_truths:
            used_predictions.add(p)
            used_truths.add(t)
    return Counts(len(predictions), len(used_truths), len(truths))


def softnet_iou(first: Interval, second: Interval) -> float:
    """IoU as SOFTNet's metric computes it: both ends included, every interval >= 1 frame."""
    intersection = max(min(first.offset, second.offset) - max(first.onset, second.onset) + 1, 0)
    union = (first.offset - first.onset + 1) + (second.offset - second.onset + 1) - intersection
    return intersection / union if union > 0 else 0.0


def softnet_outcomes(
    predictions: Sequence[Interval],
    truths: Sequence[Interval],
    iou_threshold: float = DEFAULT_IOU,
    policy: str = "greedy",
) -> list[bool | None]:
    """Per prediction, in order: True (TP), False (FP) or None (ignored), as SOFTNet's
    ``MeanAveragePrecision2d`` decides them in one video (``policy``: ``greedy`` looks at the
    best-overlapping interval only, ``soft`` (COCO) goes on to the next one when it is taken).
    No prediction: the placeholder SOFTNet adds there, an FP."""
    if not predictions:
        return [False]
    taken: set[int] = set()
    outcomes: list[bool | None] = []
    for prediction in predictions:
        overlaps = [softnet_iou(prediction, truth) for truth in truths]
        # descending IoU, later intervals first on ties (its reversed stable argsort)
        order = sorted(range(len(overlaps)), key=lambda i: (overlaps[i], i), reverse=True)
        outcome = False
        for position in order[: 1 if policy == "greedy" else len(order)]:
            if overlaps[position] < iou_threshold:
                break
            if position not in taken:
                taken.add(position)
                outcome = True
                break
        outcomes.append(outcome)
    return outcomes


def _average_precision(outcomes: Sequence[bool | None], n_truths: int) -> float:
    """All-points (VOC) average precision of ranked TP/FP outcomes (None: ignored)."""
    import numpy as np

    tp = np.cumsum([o is True for o in outcomes], dtype=np.float64)
    fp = np.cumsum([o is False for o in outcomes], dtype=np.float64)
    recall = tp / max(float(n_truths), 1.0)
    precision = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    precision = np.concatenate(([0.0], precision, [0.0]))
    recall = np.concatenate(([0.0], recall, [1.0]))
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.flatnonzero(recall[1:] != recall[:-1])
    return float(np.sum((recall[steps + 1] - recall[steps]) * precision[steps + 1]))


def softnet_coco_ap(
    predictions: Iterable[Prediction],
    ground_truth: Mapping[str, Sequence[Interval]],
    kind: str,
    videos: Iterable[str] | None = None,
) -> float:
    """SOFTNet's COCO AP@[.5:.95] of one type: the mean over IoU 0.5, 0.55, ... 0.95 of the
    average precision, soft (COCO) matching, over the videos with ground truth of the type.

    SOFTNet gives every prediction the same confidence, so the ranking is the order of the
    videos (``videos``, else the ground truth's) and of the predictions within each."""
    import numpy as np

    by_video: dict[str, list[Interval]] = {}
    for prediction in predictions:
        if prediction.kind == kind:
            by_video.setdefault(prediction.video, []).append(prediction.interval)
    order = list(videos) if videos is not None else list(ground_truth)
    scored = [(v, [t for t in ground_truth.get(v, ()) if t.kind == kind]) for v in order]
    scored = [(v, truths) for v, truths in scored if truths]
    n_truths = sum(len(truths) for _, truths in scored)
    values = []
    for threshold in COCO_IOUS:
        outcomes = [
            outcome
            for video, truths in scored
            for outcome in softnet_outcomes(by_video.get(video, []), truths, threshold, "soft")
        ]
        values.append(_average_precision(outcomes, n_truths))
    return float(np.mean(np.asarray(values, dtype=np.float32)))


def video_counts(
    predictions: Iterable[Prediction],
    ground_truth: Mapping[str, Sequence[Interval]],
    *,
    iou_threshold: float = DEFAULT_IOU,
    matching: str = "megc",
    videos: Iterable[str] | None = None,
) -> pd.DataFrame:
    """One row per (video, type): ``video, type, n_pred, n_tp, n_gt``.

    Rows cover every video of the ground truth, of the predictions and of ``videos`` (the videos
    known to exist, events or not). ``attrs["unknown_videos"]`` lists the predicted videos that
    neither the ground truth nor ``videos`` mention.
    """
    _check_settings(iou_threshold, matching)
    by_video: dict[str, list[Prediction]] = {}
    for prediction in predictions:
        by_video.setdefault(prediction.video, []).append(prediction)
    known = {str(video) for video in ground_truth} | {str(v) for v in (videos or ())}
    unknown = sorted(set(by_video) - known)
    rows = []
    for video in sorted(known | set(by_video)):
        truths = ground_truth.get(video, ())
        for kind in EXPRESSION_TYPES:
            counts = match_counts(
                [p.interval for p in by_video.get(video, ()) if p.kind == kind],
                [t for t in truths if t.kind == kind],
                iou_threshold,
                matching,
            )
            rows.append(
                {"video": video, "type": kind, **{c: getattr(counts, c) for c in COUNT_COLUMNS}}
            )
    table = pd.DataFrame(rows, columns=["video", "type", *COUNT_COLUMNS])
    table.attrs["unknown_videos"] = unknown
    return table


def pool(table: pd.DataFrame) -> dict[str, Counts]:
    """Pooled counts of a :func:`video_counts` table: per type and ``overall``."""
    pooled = {}
    for kind in EXPRESSION_TYPES:
        rows = table[table["type"] == kind]
        pooled[kind] = Counts(*(int(rows[column].sum()) for column in COUNT_COLUMNS))
    pooled[OVERALL] = pooled[MICRO] + pooled[MACRO]
    return pooled


@dataclass
class SpottingScore:
    """Pooled counts per type and overall, with the settings that produced them."""

    counts: dict[str, Counts]
    matching: str
    iou: float
    n_videos: int = 0
    unknown_videos: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """The JSON shape of ``mesynth score-spotting --json``."""
        return {
            **{name: self.counts[name].as_dict() for name in (*EXPRESSION_TYPES, OVERALL)},
            "matching": self.matching,
            "iou": self.iou,
        }

    def table(self) -> str:
        """A plain-text table for the terminal."""
        lines = [
            f"matching {self.matching}, IoU >= {self.iou:g}, {self.n_videos} videos",
            f"{'type':<8}{'n_pred':>8}{'n_tp':>7}{'n_gt':>7}{'precision':>11}{'recall':>9}"
            f"{'f1':>9}",
        ]
        for name in (*EXPRESSION_TYPES, OVERALL):
            c = self.counts[name]
            lines.append(
                f"{name:<8}{c.n_pred:>8}{c.n_tp:>7}{c.n_gt:>7}{c.precision:>11.4f}"
                f"{c.recall:>9.4f}{c.f1:>9.4f}"
            )
        return "\n".join(lines)


def score_predictions(
    predictions: Iterable[Prediction],
    ground_truth: Mapping[str, Sequence[Interval]],
    *,
    iou_threshold: float = DEFAULT_IOU,
    matching: str = "megc",
    videos: Iterable[str] | None = None,
) -> SpottingScore:
    """Score predictions against ground truth, pooled over all videos (see the module doc)."""
    predictions = list(predictions)
    table = video_counts(
        predictions, ground_truth, iou_threshold=iou_threshold, matching=matching, videos=videos
    )
    unknown = table.attrs["unknown_videos"]
    if unknown:
        _warn_unknown(predictions, unknown, ground_truth)
    pooled = pool(table)
    if matching == "megc" and any(c.n_tp > c.n_pred for c in pooled.values()):
        log.warning(
            "some predictions each found more than one ground-truth interval, so precision "
            "exceeds 1 (the megc convention counts found intervals); matching=one_to_one "
            "counts each prediction once"
        )
    return SpottingScore(
        pooled, matching, float(iou_threshold), int(table["video"].nunique()), unknown
    )


# ----------------------------------------------------------------------------- distractors


def false_positives(
    predictions: Iterable[Prediction],
    ground_truth: Mapping[str, Sequence[Interval]],
    iou_threshold: float = DEFAULT_IOU,
) -> list[Prediction]:
    """The predictions that match no ground-truth interval of their type (IoU below the
    threshold with every one)."""
    return [
        prediction
        for prediction in predictions
        if not any(
            truth.kind == prediction.kind and iou(prediction.interval, truth) >= iou_threshold
            for truth in ground_truth.get(prediction.video, ())
        )
    ]


def distractor_hits(
    predictions: Iterable[Prediction],
    ground_truth: Mapping[str, Sequence[Interval]],
    distractors: pd.DataFrame,
    *,
    iou_threshold: float = DEFAULT_IOU,
    kinds: Sequence[str] = DISTRACTOR_KINDS,
) -> dict[str, dict[str, int | float]]:
    """How often unlabelled distractors (blinks, head turns) were taken for expressions.

    ``distractors``: rows ``video, kind, onset, offset`` in frame numbers (the clips'
    ``distractors.csv``). Per kind: ``n`` distractors, ``marked`` of them overlapped (one frame
    is enough) by a false positive, their ``share``, and ``false_positives``, the false
    positives that overlap a distractor of the kind.
    """
    wrong: dict[str, list[Prediction]] = {}
    for prediction in false_positives(predictions, ground_truth, iou_threshold):
        wrong.setdefault(prediction.video, []).append(prediction)
    hits = {}
    for kind in kinds:
        rows = distractors[distractors["kind"] == kind]
        marked, hitting = 0, set()
        for row in rows.itertuples(index=False):
            overlapping = [
                id(p)
                for p in wrong.get(str(row.video), ())
                if p.onset <= int(row.offset) and int(row.onset) <= p.offset
            ]
            marked += bool(overlapping)
            hitting.update(overlapping)
        hits[kind] = {
            "n": len(rows),
            "marked": marked,
            "share": marked / len(rows) if len(rows) else 0.0,
            "false_positives": len(hitting),
        }
    return hits


def _warn_unknown(
    predictions: Sequence[Prediction], unknown: list[str], ground_truth: Mapping
) -> None:
    unknown_set = set(unknown)
    count = sum(p.video in unknown_set for p in predictions)
    stripped = {_strip_zeros(video): video for video in ground_truth}
    near = [
        f"{video} (ground truth has {stripped[_strip_zeros(video)]})"
        for video in unknown
        if _strip_zeros(video) in stripped
    ]
    log.warning(
        "%d prediction(s) for %d video(s) the ground truth never mentions (e.g. %s) are counted "
        "as false positives%s",
        count,
        len(unknown),
        ", ".join(unknown[:5]),
        f"; ids differ only in leading zeros: {', '.join(near[:3])}" if near else "",
    )


def _strip_zeros(video: str) -> str:
    return "_".join(part.lstrip("0") or "0" for part in video.split("_"))


# ----------------------------------------------------------------------------- files


def _integer(value: str, path: Path, line: int, column: str) -> int:
    try:
        number = float(str(value).strip())
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or not number.is_integer():
        raise SpottingInputError(
            f"{path}, line {line}: {column}={value!r} is not a whole frame number; write the "
            "frame numbers of the frame file names"
        )
    return int(number)


def _columns(table: pd.DataFrame, aliases: Mapping[str, Sequence[str]], path: Path) -> dict:
    lookup = {str(c).strip().lower(): c for c in table.columns}
    found = {}
    for name, accepted in aliases.items():
        column = next((lookup[a] for a in accepted if a in lookup), None)
        if column is None:
            raise SpottingInputError(
                f"{path}: no {name!r} column (accepted: {list(accepted)}); found "
                f"{list(table.columns)}. A MEGC prediction file starts with the header "
                f"{','.join(MEGC_COLUMNS)}"
            )
        found[name] = column
    return found


def read_predictions(path: str | Path) -> list[Prediction]:
    """A MEGC submission CSV (``vid, pred_onset, pred_offset, type``; ``score`` optional).

    Ids are read as text (``006_1`` keeps its zeros); types may be me/mae, micro/macro or
    micro-/macro-expression in any case.
    """
    path = Path(path)
    if not path.is_file():
        raise SpottingInputError(f"prediction file {path} not found")
    table = pd.read_csv(path, dtype=str, skipinitialspace=True, keep_default_na=False)
    columns = _columns(table, _PREDICTION_ALIASES, path)
    lookup = {str(c).strip().lower(): c for c in table.columns}
    score_column = next((lookup[a] for a in _SCORE_ALIASES if a in lookup), None)
    predictions = []
    for position, record in enumerate(table.to_dict("records")):
        line = position + 2  # the header is line 1
        video = str(record[columns["vid"]]).strip()
        if not video:
            raise SpottingInputError(f"{path}, line {line}: the video id (vid) is empty")
        try:
            kind = normalise_type(record[columns["type"]])
        except ValueError as error:
            raise SpottingInputError(f"{path}, line {line}: {error}") from None
        score = math.nan
        if score_column is not None and str(record[score_column]).strip():
            score = float(record[score_column])
        predictions.append(
            Prediction(
                video,
                _integer(record[columns["pred_onset"]], path, line, "pred_onset"),
                _integer(record[columns["pred_offset"]], path, line, "pred_offset"),
                kind,
                score,
            )
        )
    return predictions


def predictions_table(predictions: Iterable[Prediction], with_score: bool = False) -> pd.DataFrame:
    """Predictions as a MEGC submission table (types written ``me``/``mae``)."""
    rows = [
        {
            "vid": p.video,
            "pred_onset": p.onset,
            "pred_offset": p.offset,
            "type": MEGC_TYPE_NAMES[p.kind],
            **({"score": p.score} if with_score else {}),
        }
        for p in predictions
    ]
    columns = [*MEGC_COLUMNS, *(["score"] if with_score else [])]
    return pd.DataFrame(rows, columns=columns)


def write_predictions(
    predictions: Iterable[Prediction], path: str | Path, with_score: bool = False
) -> Path:
    """Write the MEGC submission CSV atomically."""
    table = predictions_table(predictions, with_score)
    return write_atomically(path, lambda partial: table.to_csv(partial, index=False))


def ground_truth_from_annotations(
    table: pd.DataFrame, source: str = "annotations"
) -> dict[str, list[Interval]]:
    """Intervals by video id from a :func:`mesynth.video.annotations.read_annotations` table.

    An unknown offset (-1; CAS(ME)^2 codes it 0) becomes the apex, as the MEGC2020 baseline
    does. An event whose onset (or offset and apex) is unknown stays in the ground truth, where
    no prediction can find it. Rows of another type than micro/macro are left out (logged).
    """
    truth: dict[str, list[Interval]] = {}
    offset_from_apex, unplaceable, other_types = 0, 0, []
    for record in table.to_dict("records"):
        try:
            kind = normalise_type(record["type"])
        except ValueError:
            other_types.append(str(record["type"]))
            continue
        onset, apex, offset = (int(record[c]) for c in ("onset", "apex", "offset"))
        if offset < 0 and apex >= 0:
            offset = apex
            offset_from_apex += 1
        if onset < 0 or offset < 0:
            onset, offset = -1, -1
            unplaceable += 1
        truth.setdefault(str(record["video"]), []).append(Interval(onset, offset, kind))
    if offset_from_apex:
        log.info("%s: %d event(s) without an offset end at their apex", source, offset_from_apex)
    if unplaceable:
        log.warning(
            "%s: %d event(s) have no onset or offset; they count as ground truth that no "
            "prediction can find",
            source,
            unplaceable,
        )
    if other_types:
        log.warning(
            "%s: %d event(s) are neither micro nor macro (types %s) and are not scored",
            source,
            len(other_types),
            sorted(set(other_types))[:5],
        )
    return truth


def read_ground_truth(path: str | Path, fmt: str = "auto") -> dict[str, list[Interval]]:
    """Ground-truth intervals from any annotation file mesynth reads (SAMM-LV xlsx, CAS(ME)^2
    code sheet, mesynth CSV)."""
    from mesynth.video.annotations import read_annotations

    return ground_truth_from_annotations(read_annotations(path, fmt), str(path))


# ----------------------------------------------------------------------------- command line


def run_cli(args: argparse.Namespace) -> int:
    """Carry out a parsed ``mesynth score-spotting`` command (options defined in
    :mod:`mesynth.__main__`); returns the exit status."""
    from mesynth.evaluation.common import write_json
    from mesynth.video.annotations import AnnotationError

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        _check_settings(args.iou, args.matching)
        predictions = read_predictions(args.predictions)
        truth = read_ground_truth(args.annotations, args.annotations_format)
    except (SpottingInputError, AnnotationError, FileNotFoundError) as error:
        log.error("%s", error)
        return 2
    score = score_predictions(predictions, truth, iou_threshold=args.iou, matching=args.matching)
    print(score.table())
    values = score.to_dict()
    if args.matching == "softnet":
        from natsort import natsorted

        values["coco_ap"] = {
            kind: softnet_coco_ap(predictions, truth, kind, natsorted(truth))
            for kind in EXPRESSION_TYPES
        }
        print(
            "COCO AP@[.5:.95] (SOFTNet's): "
            + ", ".join(f"{kind} {ap:.4f}" for kind, ap in values["coco_ap"].items())
        )
    if args.json:
        write_json(args.json, values)
        print(f"scores written to {args.json}")
    return 0
