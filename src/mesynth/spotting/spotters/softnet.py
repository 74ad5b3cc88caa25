"""``spotter=softnet``: SOFTNet (Liong et al. 2021) as its published code runs it
(:mod:`mesynth.spotting.softnet` holds the stages; this module holds the spotter around them).

- Features: each video's frames are cropped by SOFTNet's face box (its first frame), and for
  each expression type its ``(T - k, 42, 42, 3)`` features of pairs ``k`` apart are computed,
  cached per video, type and settings (:func:`softnet_video_features`). ``k`` per type is its
  ``cal_k`` over the ground truth of the original videos (or ``k_micro`` / ``k_macro``).
- ``weights=released``: SOFTNet's released networks (``checkpoints/softnet/<set>/<type>/sN.hdf5``,
  ``mesynth download softnet``). On SAMM-LV or CAS(ME)^2 (``dataset``), fold ``sN`` is the
  network that held out the N-th participant with expressions of the type in its order
  (natural order), and it alone scores that participant's videos; a participant without such
  expressions was in no fold's training for the type, and gets the mean of all folds. On any
  other dataset no participant was in SOFTNet's training: every video gets the mean of the
  released folds' scores. ``fit`` trains nothing.
- ``weights=train``: per fold and type, a fresh network trained as SOFTNet trains it: the
  training videos with expressions of the type, its pseudo-labels, negatives down-sampled to
  half the majority class, micro-expressions augmented (flip, 7x7 blur, noise), MSE, SGD at
  ``lr``, ``epochs`` epochs of ``batch_size``, one network per type.
- ``weights=auto``: released when the files are there, else train.
- Prediction: its peaks (:func:`mesynth.spotting.softnet.softnet_peaks`); the interval of a
  peak is SOFTNet's ``[peak - k, peak + k]`` in its shifted numbering, i.e. the 0-based frames
  ``[peak, peak + 2k]``, written as the source's frame numbers.

``flow=fast`` swaps TV-L1 for DIS: quick looks only, NOT SOFTNet's features (logged loudly, and
a warning with the released weights, which were trained on TV-L1).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from mesynth.spotting import softnet as sn
from mesynth.spotting.types import EXPRESSION_TYPES, Interval, Prediction, SpottingVideo

log = logging.getLogger(__name__)

WEIGHTS = ("auto", "released", "train")
FLOWS = ("tvl1", "fast")
FEATURES_VERSION = 1  # bump when the features of the same settings change
HIGH_FPS = 100.0  # released folds for another dataset: SAMM-LV's (200 fps) at or above this


@dataclass(frozen=True)
class SoftNetSettings:
    """``conf/spotter/softnet.yaml``."""

    weights: str = "auto"
    checkpoint_dir: str = "checkpoints/softnet"
    dataset: str | None = None
    released_set: str = "auto"
    k_micro: int | None = None
    k_macro: int | None = None
    p: float = sn.DEFAULT_P
    epochs: int = 10
    batch_size: int = 12
    lr: float = 5e-4
    flow: str = "tvl1"
    device: str = "auto"
    cpu_threads: int = 1
    progress: bool = False

    def __post_init__(self) -> None:
        problems = []
        if self.weights not in WEIGHTS:
            problems.append(f"weights={self.weights!r} is not one of {WEIGHTS}")
        if self.flow not in FLOWS:
            problems.append(f"flow={self.flow!r} is not one of {FLOWS}")
        if self.released_set != "auto" and self.released_set not in sn.RELEASED_SETS:
            problems.append(f"released_set={self.released_set!r} is not auto or {sn.RELEASED_SETS}")
        for name in ("k_micro", "k_macro"):
            value = getattr(self, name)
            if value is not None and int(value) < 1:
                problems.append(f"{name}={value} must be >= 1 (or null: its cal_k)")
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0 or self.cpu_threads < 1:
            problems.append(
                f"epochs={self.epochs}, batch_size={self.batch_size}, cpu_threads="
                f"{self.cpu_threads} must be >= 1 and lr={self.lr} > 0"
            )
        if not 0 <= self.p <= 1:
            problems.append(f"p={self.p} must lie in [0, 1]")
        if problems:
            raise ValueError("spotter=softnet: " + "; ".join(problems))
        sn.released_set_name(self.dataset)  # raises on an unknown spelling

    @classmethod
    def from_config(cls, node: object) -> SoftNetSettings:
        from mesynth.config import dataclass_values

        return cls(**dataclass_values(cls, node, "spotter=softnet", drop=("name",)))

    def k_of(self, kind: str) -> int | None:
        return self.k_micro if kind == "micro" else self.k_macro


# ----------------------------------------------------------------------------- features


@dataclass
class SoftNetVideo:
    """One video's SOFTNet features: per type, ``(T - k, 42, 42, 3)`` float32 (memory-mapped
    from the cache), with the released folds that score it (none under ``weights=train``)."""

    name: str
    frame_numbers: np.ndarray  # (T,) source frame numbers
    fps: float
    k: dict[str, int]
    features: dict[str, np.ndarray]
    flow: str = "tvl1"
    folds: dict[str, tuple[Path, ...]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frame_numbers)


@dataclass
class SoftNetJob:
    """One video and type to compute features of (``name``: ``<video>@<type>``)."""

    name: str
    source: object
    kind: str
    k: int
    fps: float | None


_dlib_models = None  # one dlib model pair per process


@dataclass(frozen=True)
class SoftNetComputation:
    """SOFTNet features of one video and type, as a cached per-video computation."""

    flow: str = "tvl1"

    def key(self, job: SoftNetJob) -> dict:
        from mesynth.caching import source_identity

        return {
            "version": FEATURES_VERSION,
            "k": int(job.k),
            "flow": self.flow,
            "opencv": cv2.__version__,
            "source": source_identity(job.source),
        }

    def frames(self, job: SoftNetJob) -> int:
        return len(job.source)

    def compute(self, job: SoftNetJob, on_frames) -> np.ndarray:
        global _dlib_models
        if _dlib_models is None:
            _dlib_models = sn.SoftNetDlib()
        source = job.source
        frames = (frame for _, frame in source.iter_frames())
        crops = sn.softnet_faces(frames, _dlib_models, job.name)
        on_frames(job.k if len(crops) > job.k else len(crops))  # the pairs count the rest
        flow = sn.tvl1_flow if self.flow == "tvl1" else sn.dis_flow
        return sn.softnet_features(crops, job.k, _dlib_models, flow, job.name, lambda: on_frames(1))

    def save(self, result: np.ndarray, path: Path, key: Mapping) -> None:
        import json

        from mesynth.atomic import write_atomically

        def write(partial: Path) -> None:
            with open(partial, "wb") as handle:
                np.save(handle, result)

        write_atomically(path, write)
        write_atomically(path.with_suffix(".json"), lambda p: p.write_text(json.dumps(key)))

    def load(self, path: Path, key: Mapping | None) -> np.ndarray | None:
        import json

        from mesynth.caching import same_key

        if key is not None:
            stored = path.with_suffix(".json")
            if not stored.is_file() or not same_key(json.loads(stored.read_text()), key):
                return None
        return np.load(path, mmap_mode="r")


def dataset_k(
    settings: SoftNetSettings, ground_truth: Mapping[str, Sequence[Interval]]
) -> dict[str, int]:
    """``k`` per type: set, or SOFTNet's ``cal_k`` over the ground truth's expressions; a type
    without either is not spotted (logged)."""
    ks = {}
    for kind in EXPRESSION_TYPES:
        fixed = settings.k_of(kind)
        if fixed is not None:
            ks[kind] = int(fixed)
            continue
        events = [e for events in ground_truth.values() for e in events if e.kind == kind]
        events = [e for e in events if e.onset >= 0 and e.offset >= e.onset]
        if not events:
            log.warning(
                "spotter=softnet: no %s-expression in the ground truth, so no k for it: %s "
                "expressions are not spotted (set spotter.k_%s to spot them anyway)",
                kind,
                kind,
                kind,
            )
            continue
        ks[kind] = sn.softnet_k(events)
    if not ks:
        raise ValueError(
            "spotter=softnet: the ground truth has no expression to derive k from; set "
            "spotter.k_micro and spotter.k_macro"
        )
    log.info("SOFTNet k: %s frames", ", ".join(f"{kind} {k}" for kind, k in ks.items()))
    return ks


def softnet_video_features(
    settings: SoftNetSettings,
    jobs: Sequence,
    ks: Mapping[str, int],
    cache_dir: str | Path | None,
    workers: int,
    progress: bool,
) -> list[SoftNetVideo]:
    """SOFTNet features of every job (``FeatureJob``: name, source, fps), cached."""
    from mesynth.spotting.video_pool import compute_cached

    if settings.flow == "fast":
        log.warning(
            "spotter.flow=fast: DIS flow instead of TV-L1; these are NOT SOFTNet's features, "
            "numbers are for quick looks only"
        )
    kinds = [kind for kind in EXPRESSION_TYPES if kind in ks]
    tasks = [
        SoftNetJob(f"{job.name}@{kind}", job.source, kind, ks[kind], job.fps)
        for job in jobs
        for kind in kinds
    ]
    arrays = compute_cached(
        tasks,
        SoftNetComputation(settings.flow),
        None if cache_dir is None else Path(cache_dir) / "softnet",
        workers,
        progress,
        desc="SOFTNet features",
        suffix=".npy",
    )
    videos = []
    for position, job in enumerate(jobs):
        own = arrays[len(kinds) * position : len(kinds) * (position + 1)]
        videos.append(
            SoftNetVideo(
                job.name,
                np.asarray(job.source.frame_numbers, dtype=np.int64),
                float(job.fps or getattr(job.source, "fps", None) or 0.0),
                dict(ks),
                dict(zip(kinds, own, strict=True)),
                settings.flow,
            )
        )
    return videos


# ----------------------------------------------------------------------------- released folds


def _released_set(settings: SoftNetSettings, fps: float) -> tuple[str, bool]:
    """The released folds to use and whether they fit the dataset fold by fold."""
    exact = sn.released_set_name(settings.dataset)
    if exact is not None:
        return exact, True
    if settings.released_set != "auto":
        return settings.released_set, False
    return ("SAMMLV" if fps >= HIGH_FPS else "CASME_sq"), False


def released_available(settings: SoftNetSettings, fps: float) -> bool:
    name, _ = _released_set(settings, fps)
    root = Path(settings.checkpoint_dir)
    return all(sn.released_files(root, name, kind) for kind in EXPRESSION_TYPES)


def assign_folds(
    settings: SoftNetSettings,
    videos: Sequence[SoftNetVideo],
    participants: Sequence[str],
    events_by_participant: Mapping[str, Sequence[Interval]],
) -> None:
    """Set ``folds`` of every video (``participants[i]`` its participant) for the released
    weights: its own fold on SAMM-LV / CAS(ME)^2, else the mean of all folds (logged)."""
    fps = max((v.fps for v in videos), default=0.0)
    name, exact = _released_set(settings, fps)
    root = Path(settings.checkpoint_dir)
    kinds = videos[0].k if videos else EXPRESSION_TYPES
    for kind in kinds:
        files = tuple(sn.released_files(root, name, kind))
        if not files:
            raise FileNotFoundError(
                f"no released SOFTNet weights in {root / name / sn.TYPE_FOLDERS[kind]}; fetch "
                "them with `mesynth download softnet` or set spotter.weights=train"
            )
        mapping = (
            sn.released_fold_mapping(events_by_participant, kind, files, name) if exact else {}
        )
        if not exact:
            log.info(
                "SOFTNet %s: no participant here was in SOFTNet's training; every video is "
                "scored by the mean of the %d released %s folds (weights=released)",
                kind,
                len(files),
                name,
            )
        for video, participant in zip(videos, participants, strict=True):
            video.folds[kind] = (mapping[participant],) if participant in mapping else files


# ----------------------------------------------------------------------------- training


def _noise(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """skimage's ``random_noise`` defaults: Gaussian, variance 0.01, clipped to [0, 1]
    ([-1, 1] when the image has negative values)."""
    low = -1.0 if image.min() < 0 else 0.0
    return np.clip(image + rng.normal(0.0, 0.1, image.shape), low, 1.0)


def augment(image: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Its micro-expression augmentation of one positive sample: flip, 7x7 blur, noise."""
    image = np.asarray(image, dtype=np.float64)
    return [
        np.ascontiguousarray(np.fliplr(image)),
        cv2.GaussianBlur(image, (7, 7), 0),
        _noise(image, rng),
    ]


def training_set(
    videos: Sequence[SpottingVideo], kind: str, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Its training samples of one type: the videos with expressions of the type, its
    pseudo-labels, negatives down-sampled to half the majority class, micro augmented, shuffled."""
    chosen = [v for v in videos if any(e.kind == kind for e in v.events)]
    if not chosen:
        raise ValueError(
            f"softnet: no training video has a {kind}-expression; SOFTNet trains each type on "
            "the videos that have one"
        )
    parts, labels = [], []
    for video in chosen:
        features = video.features
        k = features.k[kind]
        numbers = {int(n): i for i, n in enumerate(features.frame_numbers)}
        intervals = [
            (numbers[e.onset], numbers[e.offset])
            for e in video.events
            if e.kind == kind and e.onset in numbers and e.offset in numbers
        ]
        labels.append(sn.softnet_pseudo_labels(len(features), k, intervals))
        parts.append((video, len(labels[-1])))
    y = np.concatenate(labels)
    py_random = random.Random(seed)
    negatives = [i for i, label in enumerate(y) if label == 0]
    keep = int(max(np.bincount(y, minlength=2)) / 2)
    kept = sorted(
        py_random.sample(negatives, min(keep, len(negatives)))
        + [i for i, label in enumerate(y) if label > 0]
    )
    offsets = np.cumsum([0] + [count for _, count in parts])
    samples = []
    for index in kept:
        video_position = int(np.searchsorted(offsets, index, side="right") - 1)
        video = parts[video_position][0]
        samples.append(np.asarray(video.features.features[kind][index - offsets[video_position]]))
    samples_y = [int(y[i]) for i in kept]
    if kind == "micro":
        rng = np.random.default_rng(seed)
        for position in range(len(samples_y)):
            if samples_y[position] == 1:
                extra = augment(samples[position], rng)
                samples += extra
                samples_y += [1] * len(extra)
    order = list(range(len(samples)))
    py_random.shuffle(order)
    x = np.stack([samples[i] for i in order]).astype(np.float32)
    return x, np.array([samples_y[i] for i in order], dtype=np.float32)


def _device(setting: str):
    import torch

    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(setting)


def train_network(
    x: np.ndarray, y: np.ndarray, settings: SoftNetSettings, seed: int, label: str = ""
):
    """A fresh SOFTNet network trained as SOFTNet trains it (Keras' Glorot-uniform weights
    and zero biases, MSE, plain SGD, its per-frame min-max input, batches in order)."""
    import torch
    from tqdm.auto import tqdm

    torch.manual_seed(seed)
    model = sn.SoftNetModel()
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d | torch.nn.Linear):
            torch.nn.init.xavier_uniform_(module.weight)
            torch.nn.init.zeros_(module.bias)
    device = _device(settings.device)
    model.to(device).train()
    optimiser = torch.optim.SGD(model.parameters(), lr=settings.lr)
    inputs = torch.from_numpy(sn.softnet_normalise(x))
    targets = torch.from_numpy(y[:, None])
    steps = (len(x) + settings.batch_size - 1) // settings.batch_size
    before = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(settings.cpu_threads)
    try:
        with tqdm(
            total=settings.epochs * steps, desc=f"SOFTNet {label}", disable=not settings.progress
        ) as bar:
            for _ in range(settings.epochs):
                for start in range(0, len(x), settings.batch_size):
                    batch = inputs[start : start + settings.batch_size].to(device)
                    target = targets[start : start + settings.batch_size].to(device)
                    loss = torch.nn.functional.mse_loss(model(batch), target)
                    optimiser.zero_grad()
                    loss.backward()
                    optimiser.step()
                    bar.update()
    finally:
        torch.set_num_threads(before)
    return model.eval()


# ----------------------------------------------------------------------------- the spotter

_released_models: dict[Path, object] = {}


def _released_model(path: Path):
    if path not in _released_models:
        _released_models[path] = sn.load_released(path)
    return _released_models[path]


class SoftNet:
    """SOFTNet: its released networks (per participant's fold) or one trained per fold."""

    name = "softnet"
    needs_maps = False

    def __init__(self, settings: SoftNetSettings | None = None, seed: int = 0):
        self.settings = settings or SoftNetSettings()
        self.seed = int(seed)
        self.p = self.settings.p
        self.networks: dict[str, object] = {}
        self.released: bool | None = None
        self._scores: dict[tuple[int, str], np.ndarray] = {}

    # --------------------------------------------------------------- features (the experiment)

    def video_features(
        self,
        jobs: Sequence,
        participants: Sequence[str],
        ground_truth: Mapping[str, Sequence[Interval]],
        events_by_participant: Mapping[str, Sequence[Interval]],
        cache_dir: str | Path | None = None,
        workers: int = 1,
        progress: bool = True,
    ) -> list[SoftNetVideo]:
        """SOFTNet features of every job (``participants[i]``: job i's participant), with the
        released folds assigned when the released weights are used."""
        ks = dataset_k(self.settings, ground_truth)
        videos = softnet_video_features(self.settings, jobs, ks, cache_dir, workers, progress)
        fps = max((v.fps for v in videos), default=0.0)
        if self.use_released(fps):
            if self.settings.flow == "fast":
                log.warning(
                    "spotter.flow=fast with the released SOFTNet weights: they were trained on "
                    "TV-L1 features, these are DIS features; the scores mean little"
                )
            assign_folds(self.settings, videos, participants, events_by_participant)
        return videos

    def use_released(self, fps: float) -> bool:
        weights = self.settings.weights
        if weights == "auto":
            weights = "released" if released_available(self.settings, fps) else "train"
            log.info("spotter.weights=auto: %s", weights)
        return weights == "released"

    # --------------------------------------------------------------- fit and predict

    def fit(self, videos: Sequence[SpottingVideo]) -> None:
        if not videos:
            raise ValueError("softnet needs at least one training video")
        self._scores = {}
        if all(video.features.folds for video in videos):
            self.released = True  # the released folds were trained without the held-out ones
            return
        self.released = False
        self.networks = {}
        for kind in videos[0].features.k:
            if not any(e.kind == kind for video in videos for e in video.events):
                log.warning(
                    "softnet: no training video of this fold has a %s-expression; none is "
                    "spotted in its test videos",
                    kind,
                )
                continue
            x, y = training_set(videos, kind, self.seed)
            log.info(
                "softnet %s: training on %d samples (%d positive) of %d video(s)",
                kind,
                len(x),
                int(y.sum()),
                len(videos),
            )
            self.networks[kind] = train_network(x, y, self.settings, self.seed, kind)

    def type_scores(self, video: SpottingVideo, kind: str) -> np.ndarray:
        """(T - k,) float32 network scores of the video's pairs."""
        cache = (id(video), kind)
        if cache in self._scores:
            return self._scores[cache]
        features = video.features
        if features.folds:  # the released folds need no fit
            models = [_released_model(path) for path in features.folds[kind]]
        elif kind in self.networks:
            models = [self.networks[kind]]
        elif self.released is False:
            return np.zeros(0, np.float32)  # no training video had the type
        else:
            raise RuntimeError(
                "softnet has not been trained: call fit(training videos) first, or use its "
                "released weights (spotter.weights=released)"
            )
        scores = np.mean(
            [sn.predict_scores(model, features.features[kind]) for model in models], axis=0
        ).astype(np.float32)
        self._scores[cache] = scores
        return scores

    def predict(self, video: SpottingVideo) -> list[Prediction]:
        features = video.features
        numbers = features.frame_numbers
        predictions = []
        for kind, k in features.k.items():
            scores = self.type_scores(video, kind)
            _, peaks = sn.softnet_peaks(scores, k, self.p)
            curve = sn.aggregate_scores(scores, k)
            for (first, last), peak in zip(sn.peak_intervals(peaks, k), peaks, strict=True):
                predictions.append(
                    Prediction(video.name, numbers[first], numbers[last], kind, float(curve[peak]))
                )
        return predictions

    def frame_scores(self, video: SpottingVideo) -> np.ndarray:
        """(T,) the larger of the two types' ``2k`` mean scores, each at its 0-based frame
        (SOFTNet's shifted index plus ``k``), held at the ends."""
        features = video.features
        length = len(features)
        curves = []
        for kind, k in features.k.items():
            curve = sn.aggregate_scores(self.type_scores(video, kind), k).astype(np.float64)
            if len(curve) == 0:
                continue
            positions = np.arange(len(curve)) + k
            curves.append(np.interp(np.arange(length), positions, curve))
        return np.maximum.reduce(curves) if curves else np.zeros(length)
