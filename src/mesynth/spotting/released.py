"""``condition: preservation_released``: preservation judged by SOFTNet's released models, which
were trained on real SAMM-LV / CAS(ME)^2 videos without the held-out subject.

No training: the released fold ``sN`` of each expression type (:mod:`mesynth.spotting.softnet`,
its subject order) spots subject N's original videos and their synthetic versions. On any
other dataset no subject was in SOFTNet's training, so every video is scored by the mean of all
released folds of the type. Both sides are spotted as SOFTNet spots (its faces, TV-L1 features,
``2k`` mean, threshold ``mean + p (max - mean)``, peaks ``k`` apart, ``[peak, peak + 2k]``) and
scored as the other conditions are; the per-video score curves of original and synthetic are
compared by their correlation.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mesynth.evaluation.common import EvaluationInputError
from mesynth.spotting.types import EXPRESSION_TYPES, Interval, Prediction, SpottingVideo

log = logging.getLogger(__name__)

CURVE_COLUMNS = ("video", "participant", "synthetic_set", "type", "k", "points", "correlation")
# Datasets the released folds were trained on, by spotting.preset.
PRESET_DATASETS = {"samm_lv": "SAMMLV", "casme2": "CASME_sq"}


@dataclass(frozen=True)
class ReleasedSettings:
    """``spotting.released`` of ``conf/evaluate.yaml``."""

    weights_dir: Path
    dataset: str | None  # SAMMLV | CASME_sq | None (any other dataset: mean of all folds)
    k: dict[str, int | None]
    p: float

    @classmethod
    def from_config(cls, cfg) -> ReleasedSettings:
        from mesynth.spotting.softnet import released_set_name

        node = cfg.spotting.released
        dataset = node.get("dataset")
        if dataset is None:
            dataset = PRESET_DATASETS.get(str(cfg.spotting.get("preset")))
        try:
            name = released_set_name(dataset)
        except ValueError as error:
            raise EvaluationInputError(
                str(error).replace("spotter.dataset", "spotting.released.dataset")
            ) from error
        k = {kind: node.k.get(kind) for kind in EXPRESSION_TYPES}
        return cls(Path(str(node.weights_dir)), name, k, float(node.p))


# ----------------------------------------------------------------------------- features


def video_features(jobs: Sequence, cache_dir: Path, workers: int, progress: bool) -> list:
    """SOFTNet's TV-L1 features of every job (``SoftNetJob``), cached per video and ``k``
    exactly as ``spotter=softnet`` caches them, so the two share what they compute."""
    from mesynth.spotting.spotters.softnet import SoftNetComputation
    from mesynth.spotting.video_pool import compute_cached

    return compute_cached(
        jobs,
        SoftNetComputation("tvl1"),
        cache_dir,
        workers,
        progress,
        desc="SOFTNet features",
        suffix=".npy",
    )


# ----------------------------------------------------------------------------- folds


class ReleasedFolds:
    """Which released models score which participant, per expression type."""

    def __init__(self, settings: ReleasedSettings, events: Mapping[str, Sequence[Interval]]):
        from mesynth.spotting.softnet import released_files, released_fold_mapping

        self.settings = settings
        self.files: dict[str, list[Path]] = {}
        self.mapping: dict[str, dict[str, Path]] = {}
        self._models: dict[Path, object] = {}
        dataset = settings.dataset or "SAMMLV"
        for kind in EXPRESSION_TYPES:
            files = released_files(settings.weights_dir, dataset, kind)
            if not files:
                raise EvaluationInputError(
                    f"no released SOFTNet {kind}-expression weights under "
                    f"{settings.weights_dir / dataset}; fetch them with `mesynth download "
                    "softnet` or set spotting.released.weights_dir"
                )
            self.files[kind] = files
            if settings.dataset is not None:
                kinds = {p: [e for e in v if e.kind == kind] for p, v in events.items()}
                try:
                    self.mapping[kind] = released_fold_mapping(kinds, kind, files, dataset)
                except ValueError as error:
                    raise EvaluationInputError(str(error)) from error
        if settings.dataset is None:
            log.info(
                "preservation_released: the dataset is neither SAMM-LV nor CAS(ME)^2, so no "
                "participant was in SOFTNet's training: every video is scored by the mean of "
                "all %s released folds of its type (weights=released)",
                dataset,
            )

    def model(self, path: Path):
        from mesynth.spotting.softnet import load_released

        if path not in self._models:
            self._models[path] = load_released(path)
        return self._models[path]

    def paths(self, kind: str, participant: str) -> list[Path]:
        """The participant's own fold, else (not held out by any fold) every fold."""
        own = self.mapping.get(kind, {}).get(participant)
        return [own] if own is not None else list(self.files[kind])

    def scores(self, kind: str, participant: str, features: np.ndarray) -> np.ndarray:
        """(T - k,) SOFTNet scores, the mean over the models that may score the participant."""
        from mesynth.spotting.softnet import predict_scores

        curves = [predict_scores(self.model(p), features) for p in self.paths(kind, participant)]
        return np.mean(curves, axis=0) if curves else np.zeros(0, np.float32)


# ----------------------------------------------------------------------------- spotting


def released_k(settings: ReleasedSettings, events: Sequence[Interval], kind: str) -> int:
    """``spotting.released.k`` of the type, else SOFTNet's ``cal_k`` of the annotations."""
    from mesynth.spotting.softnet import softnet_k

    if settings.k.get(kind) is not None:
        return int(settings.k[kind])
    intervals = [(e.onset - 1, e.offset - 1) for e in events if e.kind == kind and e.onset > 0]
    if not intervals:
        raise EvaluationInputError(
            f"preservation_released needs SOFTNet's k for {kind}-expressions but no annotated "
            f"{kind}-expression tells it; set spotting.released.k.{kind}"
        )
    return softnet_k(intervals)


def spotted(
    name: str, numbers: np.ndarray, scores: np.ndarray, k: int, p: float, kind: str
) -> tuple[list[Prediction], np.ndarray]:
    """SOFTNet's intervals of one type in source frame numbers (``numbers``: the video's), and
    its ``2k`` mean curve."""
    from mesynth.spotting.softnet import aggregate_scores, peak_intervals, softnet_peaks

    numbers = np.asarray(numbers)
    curve = aggregate_scores(scores, k)
    _, peaks = softnet_peaks(scores, k, p)
    predictions = []
    for (start, end), peak in zip(peak_intervals(peaks, k), peaks, strict=True):
        end = min(end, len(numbers) - 1)
        onset, offset = int(numbers[start]), int(numbers[end])
        predictions.append(Prediction(name, onset, offset, kind, float(curve[peak])))
    return predictions, curve


def correlation(first: np.ndarray, second: np.ndarray) -> float:
    """Pearson correlation of two curves over their common length (NaN when one is flat)."""
    length = min(len(first), len(second))
    a, b = np.asarray(first[:length], float), np.asarray(second[:length], float)
    if length < 2 or np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


@dataclass
class ReleasedOutcome:
    counts: pd.DataFrame  # folds.VIDEO_COLUMNS
    predictions: dict[str, list[Prediction]]  # label -> predictions (both sides)
    curves: pd.DataFrame  # CURVE_COLUMNS
    traces: dict[str, dict]  # "<set>/<video>" -> type -> {"original": curve, "synthetic": curve}
    ks: dict[str, int] = field(default_factory=dict)
    dataset: str | None = None  # SAMMLV | CASME_sq | None (mean of all folds)
    folds: dict[str, dict[str, str]] = field(default_factory=dict)  # type -> participant -> sN


def _label(set_name: str, set_names: Sequence[str]) -> str:
    from mesynth.spotting.folds import PRESERVATION_RELEASED

    return PRESERVATION_RELEASED if len(set_names) == 1 else f"{PRESERVATION_RELEASED}[{set_name}]"


def _pairs(inputs) -> list[tuple[str, object, object]]:
    """(set, original entry, synthetic entry) of every synthetic video and its original."""
    original_of = {entry.video_id: entry for entry in inputs.originals}
    return [
        (set_name, original_of[entry.video_id], entry)
        for set_name, entries in inputs.synthetic.items()
        for entry in entries
        if entry.video_id in original_of
    ]


def _feature_jobs(pairs, ks: dict[str, int]) -> dict[tuple[str, str], object]:
    """One job per video (each original once) and type, keyed by (video key, type); named as
    ``spotter=softnet`` names them (``<video>@<type>``, synthetic ``<set>/<video>@<type>``)."""
    from mesynth.spotting.spotters.softnet import SoftNetJob

    jobs = {}
    for set_name, original, made in pairs:
        for kind, k in ks.items():
            for key, entry in ((original.name, original), (f"{set_name}/{made.name}", made)):
                jobs.setdefault(
                    (key, kind), SoftNetJob(f"{key}@{kind}", entry.source, kind, k, None)
                )
    return jobs


def run_released(inputs, cfg, folds_of: Mapping[str, int], curve_videos: Sequence[str] = ()):
    """Spot every original that has a synthetic version, and that version, with the released
    folds; returns a :class:`ReleasedOutcome` (counts in the folds' per-video rows)."""
    from mesynth.config import resolve_num_workers

    settings = ReleasedSettings.from_config(cfg)
    events: dict[str, list[Interval]] = {}
    for entry in inputs.originals:
        events.setdefault(entry.participant, []).extend(inputs.ground_truth.get(entry.video_id, []))
    folds = ReleasedFolds(settings, events)
    every = [event for participant in events.values() for event in participant]
    ks = {kind: released_k(settings, every, kind) for kind in EXPRESSION_TYPES}
    log.info("preservation_released: SOFTNet k %s, p %g", ks, settings.p)
    pairs = _pairs(inputs)
    jobs = _feature_jobs(pairs, ks)
    spotting = cfg.spotting
    computed = video_features(
        list(jobs.values()),
        Path(str(spotting.cache_dir)) / "softnet",
        resolve_num_workers(spotting.workers, "spotting.workers"),
        bool(spotting.progress),
    )
    features = dict(zip(jobs, computed, strict=True))
    matching = {"iou_threshold": float(spotting.iou), "matching": str(spotting.matching)}
    scored = _ReleasedScoring(inputs, folds, ks, settings.p, features, matching)
    for set_name, original, made in pairs:
        scored.pair(set_name, original, made, folds_of[original.participant], curve_videos)
    outcome = scored.outcome()
    outcome.ks, outcome.dataset = ks, settings.dataset
    outcome.folds = {
        kind: {participant: path.stem for participant, path in mapping.items()}
        for kind, mapping in folds.mapping.items()
    }
    return outcome


class _ReleasedScoring:
    """Counts, predictions and curves of the pairs, gathered as they are scored."""

    def __init__(self, inputs, folds: ReleasedFolds, ks, p: float, features, matching: dict):
        self.inputs, self.folds, self.ks, self.p = inputs, folds, ks, p
        self.features, self.matching = features, matching
        self.set_names = list(inputs.synthetic)
        self.rows: list[dict] = []
        self.curves: list[dict] = []
        self.predictions: dict[str, list[Prediction]] = {}
        self.traces: dict[str, dict] = {}

    def side(self, key: str, entry, name: str) -> tuple[list[Prediction], dict[str, np.ndarray]]:
        found, curves = [], {}
        numbers = np.asarray(entry.source.frame_numbers)
        for kind, k in self.ks.items():
            scores = self.folds.scores(kind, entry.participant, self.features[(key, kind)])
            predictions, curves[kind] = spotted(name, numbers, scores, k, self.p, kind)
            found.extend(predictions)
        return found, curves

    def pair(self, set_name: str, original, made, fold: int, curve_videos) -> None:
        from mesynth.spotting.folds import PRESERVATION_RELEASED, _count_rows

        label = _label(set_name, self.set_names)
        events = list(self.inputs.ground_truth.get(original.video_id, []))
        base = {
            "fold": fold, "held_out": original.participant, "condition": PRESERVATION_RELEASED,
            "synthetic_set": set_name, "label": label,
        }  # fmt: skip
        settings = {**self.matching, "lengths": None}
        sides = (
            ("original", original.name, original, original.video_id),
            ("synthetic", f"{set_name}/{made.name}", made, made.name),
        )
        traces = {}
        for side, key, entry, name in sides:
            found, traces[side] = self.side(key, entry, name)
            self.predictions.setdefault(label, []).extend(found if side == "synthetic" else [])
            video = SpottingVideo(original.video_id, original.participant, 0.0, None, events, name)
            self.rows.extend(_count_rows({**base, "test_side": side}, video, name, found, settings))
        for kind in self.ks:
            self.curves.append(
                {
                    "video": made.name,
                    "participant": original.participant,
                    "synthetic_set": set_name,
                    "type": kind,
                    "k": self.ks[kind],
                    "points": min(len(traces["original"][kind]), len(traces["synthetic"][kind])),
                    "correlation": correlation(traces["original"][kind], traces["synthetic"][kind]),
                }  # fmt: skip
            )
        if original.video_id in curve_videos:
            self.traces[f"{set_name}/{original.video_id}"] = {
                kind: {side: traces[side][kind] for side in traces} for kind in self.ks
            }

    def outcome(self) -> ReleasedOutcome:
        from mesynth.spotting.folds import VIDEO_COLUMNS

        return ReleasedOutcome(
            pd.DataFrame(self.rows, columns=list(VIDEO_COLUMNS)),
            self.predictions,
            pd.DataFrame(self.curves, columns=list(CURVE_COLUMNS)),
            self.traces,
        )
