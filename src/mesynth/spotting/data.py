"""What the spotting experiment reads: the original videos, one or more synthesis outputs made
from them, their face crops, and the ground truth.

Synthetic videos carry their original's labels (synthesis keeps the frame numbers), and their
participant is the original's. Originals are cropped with a fixed face crop of their own,
estimated once per video and saved in the feature cache, so the ``original`` baseline is the
same whatever synthetic sets are given. Every annotated video must be among the originals and
readable (``spotting.allow_missing=true`` lets a run go on without them, listed in the report).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mesynth.config import check_choice
from mesynth.evaluation.common import EvaluationInputError, participant_of
from mesynth.faces.crop import Crop
from mesynth.spotting.scoring import ground_truth_from_annotations
from mesynth.spotting.types import EXPRESSION_TYPES, Interval

log = logging.getLogger(__name__)

ORIGINAL_CROPS = ("auto", "none")
# CAS(ME)^2's raw videos (`rawvideo/s15/15_0101disgustingteeth.avi`) against the code sheet's
# `s15_0101`: participant number, four-digit video code, then the expression's name.
_CASME2_RAW_VIDEO = re.compile(r"^(\d{1,3})_(\d{4})[A-Za-z]")


@dataclass
class VideoEntry:
    """One video to compute features of: where its frames are and how to crop them."""

    name: str  # id of the frames read (the synthetic id for a synthetic video)
    video_id: str  # id the ground truth uses (the original's)
    participant: str
    origin: str  # original | synthetic
    source: object  # mesynth.video.decoders.VideoSource
    crop: Crop | None  # None: the frames are already the face crop
    synthetic_set: str = ""


@dataclass
class SyntheticOutput:
    """One synthesis output as the experiment needs it (see :func:`open_synthesis_output`)."""

    root: Path
    sources: dict[str, object]  # synthetic id -> VideoSource
    source_video: dict[str, str]  # synthetic id -> original id
    untrained: bool
    unfinished: list[str]
    annotations: Path | None  # annotations.csv of the output, if any


@dataclass
class Coverage:
    """Which annotated videos the experiment scores, and which it could not."""

    annotated: int  # annotated videos of the chosen participants
    missing: list[str] = field(default_factory=list)  # no such original video
    unreadable: dict[str, str] = field(default_factory=dict)  # video -> why (empty, bad frame)

    @property
    def left_out(self) -> list[str]:
        return sorted({*self.missing, *self.unreadable})


@dataclass
class SpottingInputs:
    originals: list[VideoEntry]
    synthetic: dict[str, list[VideoEntry]]  # set name -> its videos
    ground_truth: dict[str, list[Interval]]  # original id -> events
    annotations: Path
    untrained: dict[str, bool] = field(default_factory=dict)  # set name -> made untrained
    notes: list[str] = field(default_factory=list)
    coverage: Coverage | None = None

    def n_gt(self) -> dict[str, int]:
        """Ground-truth events per type over the scored originals."""
        scored = {entry.video_id for entry in self.originals}
        events = [e for video in scored for e in self.ground_truth.get(video, [])]
        return {kind: sum(e.kind == kind for e in events) for kind in EXPRESSION_TYPES}


def dataset_video_id(video_id: str) -> str:
    """The id annotations use: CAS(ME)^2's raw video names (``15_0101disgustingteeth``) become
    the code sheet's ``s15_0101``; every other id stays as it is."""
    match = _CASME2_RAW_VIDEO.match(video_id)
    if match is None:
        return video_id
    return f"s{int(match.group(1)):02d}_{match.group(2)}"


# ----------------------------------------------------------------------------- frozen videos


class FrozenSource:
    """A video whose every frame is its first one (the ``frozen`` control condition): the same
    length, frame numbers and rate as ``source``, and no motion at all."""

    def __init__(self, source) -> None:
        self.source = source
        for name in ("video_id", "participant", "path", "frame_names", "frame_numbers", "fps"):
            setattr(self, name, getattr(source, name))
        self.skipped, self.layout = list(getattr(source, "skipped", [])), "frozen"
        self.files = getattr(source, "files", None)  # the identity of the frames' files
        self._first: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.source)

    @property
    def frame_size(self) -> tuple[int, int]:
        return tuple(self.source.frame_size)

    def read_frame(self, index: int) -> np.ndarray:
        if not -len(self) <= index < len(self):
            raise IndexError(f"video {self.video_id} has {len(self)} frames, asked for {index}")
        if self._first is None:
            self._first = self.source.read_frame(0)
        return self._first.copy()

    def iter_frames(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, object]]:
        stop = len(self) if stop is None else min(stop, len(self))
        for index in range(start, stop):
            yield index, self.read_frame(index)


def frozen_entries(entries: Sequence[VideoEntry]) -> list[VideoEntry]:
    """The ``frozen`` control of a synthetic set: each video's first frame, repeated."""
    return [
        VideoEntry(
            e.name, e.video_id, e.participant, e.origin, FrozenSource(e.source), e.crop, "frozen"
        )
        for e in entries
    ]


# ----------------------------------------------------------------------------- synthesis outputs


def open_synthesis_output(root: Path) -> SyntheticOutput:
    """Read one synthesis output (the ``output_dir`` of ``infer.py``): its finished videos,
    their originals, labels, and whether untrained networks made it. A folder without a
    synthesis manifest is refused: nothing says which original a video came from."""
    from mesynth.evaluation.frames import open_synthetic
    from mesynth.synthesis.output import OutputError, SynthesisOutput

    if root.exists() and not SynthesisOutput(root).manifest_path.is_file():
        raise EvaluationInputError(
            f"synthetic_dir {root} is not a synthesis output: it has no manifest.json (expected "
            "the output_dir of `python infer.py`, which records each video's original); point "
            "synthetic_dir at that folder, or leave it out with spotting.conditions=[original]"
        )
    synthetic = open_synthetic(root)
    try:
        untrained = synthetic.output.untrained()
    except OutputError as error:
        raise EvaluationInputError(str(error)) from error
    annotations = synthetic.output.annotations_path
    return SyntheticOutput(
        root,
        synthetic.sources,
        {name: dataset_video_id(video) for name, video in synthetic.source_video.items()},
        untrained,
        synthetic.unfinished,
        annotations if annotations.is_file() else None,
    )


def synthetic_sets(value: object) -> list[tuple[str, Path]]:
    """``synthetic_dir`` as (name, path) pairs: one path, a list of paths, or a list of
    ``{name: ..., path: ...}``; a path is named after its folder."""
    from mesynth.config import to_plain

    value = to_plain(value)
    if value is None or value == "" or value == []:
        return []
    items = value if isinstance(value, list) else [value]
    sets: list[tuple[str, Path]] = []
    for item in items:
        if isinstance(item, dict):
            if "path" not in item:
                raise EvaluationInputError(
                    f"synthetic_dir entry {item} has no 'path'; write {{name: NAME, path: DIR}} "
                    "or just the directory"
                )
            path = Path(str(item["path"]))
            name = str(item.get("name") or path.name)
        else:
            path = Path(str(item))
            name = path.name
        sets.append((name, path))
    names = [name for name, _ in sets]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise EvaluationInputError(
            f"synthetic_dir names {repeated} more than once (sets are named after their folder); "
            "give each a name: synthetic_dir='[{name: a, path: DIR1}, {name: b, path: DIR2}]'"
        )
    bad = [name for name in names if not name or any(c in name for c in "/:[]")]
    if bad:
        raise EvaluationInputError(
            f"synthetic set names {bad} are empty or hold one of / : [ ]; choose other names"
        )
    return sets


# ----------------------------------------------------------------------------- ground truth


def read_spotting_ground_truth(
    annotations: object, fmt: str, outputs: Sequence[SyntheticOutput]
) -> tuple[dict[str, list[Interval]], Path]:
    """Ground truth by original id: ``annotations`` or, when null, the first synthesis
    output's ``annotations.csv`` taken back to the original ids."""
    from mesynth.video.annotations import read_annotations

    if annotations is not None:
        path = Path(str(annotations))
        if not path.is_file():
            raise EvaluationInputError(
                f"annotations={path} not found; point it at the dataset's annotation file "
                "(SAMM-LV xlsx, CAS(ME)^2 code sheet or mesynth CSV)"
            )
        return ground_truth_from_annotations(read_annotations(path, fmt), str(path)), path
    for output in outputs:
        if output.annotations is None:
            continue
        table = read_annotations(output.annotations, "csv")
        if "source_video" in table.columns:
            table = table.assign(video=table["source_video"].astype(str)).drop_duplicates(
                ["video", "onset", "apex", "offset", "type"]
            )
        log.info("ground truth: %s (originals' events)", output.annotations)
        return ground_truth_from_annotations(table, str(output.annotations)), output.annotations
    raise EvaluationInputError(
        "spotting needs ground truth: set annotations=FILE (SAMM-LV xlsx, CAS(ME)^2 code sheet "
        "or mesynth CSV); no synthesis output has an annotations.csv to fall back on"
    )


def _unreadable(source) -> str | None:
    """Why an original cannot be scored (no frames, first or last frame unreadable), or None."""
    from mesynth.media import MediaError

    if len(source) == 0:
        return "no frames"
    for index in (0, len(source) - 1):
        try:
            source.read_frame(index)
        except (MediaError, OSError) as error:
            return f"frame {index} unreadable ({error})"
    return None


def check_coverage(
    truth: dict[str, list[Interval]],
    originals: dict[str, object],
    chosen: set[str] | None,
    cfg,
) -> Coverage:
    """Every annotated video (of the chosen participants) must be an original that reads;
    stops with one error unless ``spotting.allow_missing`` (then the report lists them)."""
    regex, root = str(cfg.participant_regex), Path(str(cfg.original_dir))
    annotated = sorted(v for v in truth if chosen is None or _participant(v, regex) in chosen)
    matched = [v for v in annotated if v in originals]
    if annotated and not matched:
        raise EvaluationInputError(
            f"none of the {len(annotated)} annotated videos (e.g. {annotated[:3]}) is among the "
            f"{len(originals)} videos in {root} (e.g. {sorted(originals)[:3]}); the ids must be "
            "the same: check original_dir, original_layout and annotations"
        )
    coverage = Coverage(len(annotated), missing=[v for v in annotated if v not in originals])
    for video in matched:
        reason = _unreadable(originals[video])
        if reason is not None:
            coverage.unreadable[video] = reason
    if coverage.left_out and not bool(cfg.spotting.get("allow_missing", False)):
        details = [f"{v}: not in {root}" for v in coverage.missing[:5]]
        details += [f"{v}: {why}" for v, why in list(coverage.unreadable.items())[:5]]
        raise EvaluationInputError(
            f"{len(coverage.left_out)} of {len(annotated)} annotated videos cannot be scored "
            f"({'; '.join(details)}); their events would count as never found. Restore them, "
            "restrict spotting.participants, or set spotting.allow_missing=true to score the "
            "others (the report lists those left out)"
        )
    if coverage.left_out:
        log.warning(
            "spotting.allow_missing=true: %d annotated video(s) left out: %s",
            len(coverage.left_out),
            coverage.left_out[:10],
        )
    return coverage


def _participant(video: str, regex: str) -> str | None:
    match = re.search(regex, video)
    if match is None:
        return None
    return match.group(1) if match.groups() else match.group(0)


# ----------------------------------------------------------------------------- originals


def _open_originals(cfg) -> tuple[dict[str, object], set[str] | None]:
    """The original videos by the id annotations use, of the chosen participants."""
    from mesynth.video.layouts import open_sources

    root, regex = Path(str(cfg.original_dir)), str(cfg.participant_regex)
    if not root.exists():
        raise EvaluationInputError(
            f"original videos {root} do not exist; set original_dir to the dataset "
            "(any layout mesynth reads)"
        )
    originals = {dataset_video_id(s.video_id): s for s in open_sources(root, cfg.original_layout)}
    renamed = [s.video_id for v, s in originals.items() if v != s.video_id]
    if renamed:
        log.info(
            "%d CAS(ME)^2 raw video name(s) read as sNN_CODE (e.g. %s)", len(renamed), renamed[0]
        )
    participants = cfg.spotting.participants
    chosen = {str(p) for p in participants} if participants else None
    if chosen is not None:
        present = {participant_of(video, regex) for video in originals}
        missing = sorted(chosen - present)
        if missing:
            raise EvaluationInputError(
                f"spotting.participants names {missing}, who have no video in {root} "
                f"(participants there: {sorted(present)[:10]})"
            )
        originals = {v: s for v, s in originals.items() if participant_of(v, regex) in chosen}
    return originals, chosen


def _crop_path(cache_dir: Path, source, size: int) -> Path:
    identity = {
        "path": str(Path(str(getattr(source, "path", ""))).resolve()),
        "frames": len(source),
        "frame_size": list(source.frame_size),
        "size": size,
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", str(source.video_id)) or "video"
    return cache_dir / "crops" / f"{safe}-{digest}.json"


def original_crop(source, size: int, cache_dir: Path) -> Crop:
    """The fixed face crop of an original (as synthesis would estimate it), estimated once and
    saved under ``cache_dir/crops`` for every later run."""
    path = _crop_path(cache_dir, source, size)
    if path.is_file():
        return Crop.load(path)
    from mesynth.faces.align import FaceNotFoundError, estimate_crop

    log.info(
        "video %s: estimating a fixed %d px face crop (saved for re-runs)", source.video_id, size
    )
    try:
        crop = estimate_crop(source, "fixed", size, progress=False)
    except FaceNotFoundError as error:
        raise EvaluationInputError(
            f"{error}. No face crop could be estimated for original video {source.video_id}; "
            "set spotting.original_crop=none if the original frames are face crops already"
        ) from error
    crop.save(path)
    return crop


def _original_entries(originals: dict[str, object], cfg) -> list[VideoEntry]:
    spotting, regex = cfg.spotting, str(cfg.participant_regex)
    mode = str(spotting.original_crop)
    check_choice("spotting.original_crop", mode, ORIGINAL_CROPS, EvaluationInputError)
    cache_dir = Path(str(spotting.get("cache_dir") or Path(str(cfg.output_dir)) / "cache"))
    entries = []
    for video, source in sorted(originals.items()):
        crop = original_crop(source, int(spotting.crop_size), cache_dir) if mode == "auto" else None
        entries.append(
            VideoEntry(video, video, participant_of(video, regex), "original", source, crop)
        )
    return entries


# ----------------------------------------------------------------------------- synthetic sets


def _set_entries(
    set_name: str, output: SyntheticOutput, originals: dict[str, object], cfg
) -> list[VideoEntry]:
    entries = []
    regex = str(cfg.participant_regex)
    for name, source in sorted(output.sources.items()):
        original_id = output.source_video[name]
        if original_id not in originals:
            log.info("%s: %s (from %s) has no original here; left out", set_name, name, original_id)
            continue
        original = originals[original_id]
        if len(source) != len(original):
            raise EvaluationInputError(
                f"synthetic video {name} ({source.path}) has {len(source)} frames but its "
                f"original {original_id} ({original.path}) has {len(original)}; spotting "
                "needs whole videos: synthesise all frames (infer.py without max_frames) or "
                "restrict spotting.participants"
            )
        participant = participant_of(original_id, regex)
        entries.append(
            VideoEntry(name, original_id, participant, "synthetic", source, None, set_name)
        )
    if not entries:
        raise EvaluationInputError(
            f"synthesis output {output.root} holds no video made from the originals in "
            f"{cfg.original_dir}; check original_dir and synthetic_dir"
        )
    return entries


def _synthetic_entries(
    outputs: dict[str, SyntheticOutput], originals: dict[str, object], cfg, notes: list[str]
) -> dict[str, list[VideoEntry]]:
    synthetic = {}
    for set_name, output in outputs.items():
        if output.unfinished:
            log.warning(
                "%s: %d synthetic video(s) are unfinished and left out (e.g. %s); finish them "
                "with infer.py",
                output.root,
                len(output.unfinished),
                output.unfinished[0],
            )
            notes.append(
                f"Synthetic set `{set_name}`: {len(output.unfinished)} unfinished video(s) left out."
            )
        synthetic[set_name] = _set_entries(set_name, output, originals, cfg)
    return synthetic


def load_inputs(cfg, min_participants: int = 2) -> SpottingInputs:
    """Originals, synthetic sets, crops and ground truth for ``python evaluate.py task=spotting``.

    ``min_participants``: leave-one-subject-out needs 2; scoring a configured spotter as it is
    (:func:`mesynth.spotting.experiment.score_as_configured`) needs 1.
    """
    originals, chosen = _open_originals(cfg)
    outputs = {name: open_synthesis_output(p) for name, p in synthetic_sets(cfg.synthetic_dir)}
    truth, annotations_path = read_spotting_ground_truth(
        cfg.annotations, str(cfg.annotations_format), list(outputs.values())
    )
    coverage = check_coverage(truth, originals, chosen, cfg)
    originals = {v: s for v, s in originals.items() if v not in coverage.unreadable}
    notes: list[str] = []
    if coverage.left_out:
        notes.append(
            f"{len(coverage.left_out)} annotated video(s) left out (spotting.allow_missing=true); "
            f"their events are not counted: {', '.join(coverage.left_out)}."
        )
    regex = str(cfg.participant_regex)
    n_participants = len({participant_of(video, regex) for video in originals})
    if n_participants < min_participants:
        raise EvaluationInputError(
            f"leave-one-subject-out needs at least 2 participants; {cfg.original_dir} has "
            f"{n_participants} (participant_regex={regex!r}); check participant_regex or "
            "spotting.participants"
        )
    synthetic = _synthetic_entries(outputs, originals, cfg, notes)
    entries = _original_entries(originals, cfg)
    untrained = {name: output.untrained for name, output in outputs.items()}
    return SpottingInputs(
        entries, synthetic, truth, Path(annotations_path), untrained, notes, coverage
    )
