"""What the spotting experiment reads: the original videos, one or more synthesis outputs made
from them, their face crops, and the ground truth.

Synthetic videos carry their original's labels (synthesis keeps the frame numbers), and their
participant is the original's. Originals are cropped with the crop synthesis saved for them, so
that spotters see the same face region on both sides; an original without a saved crop gets
one estimated the same way (``fixed``, at the synthetic frame size).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mesynth.evaluation.common import EvaluationInputError, participant_of
from mesynth.faces.crop import Crop
from mesynth.spotting.scoring import ground_truth_from_annotations
from mesynth.spotting.types import Interval

log = logging.getLogger(__name__)

ORIGINAL_CROPS = ("auto", "none")


@dataclass
class VideoEntry:
    """One video to compute features of: where its frames are and how to crop them."""

    name: str  # id of the frames read (the synthetic id for a synthetic video)
    video_id: str  # id the ground truth uses (the original's)
    participant: str
    origin: str  # original | synthetic
    source: object  # mesynth.video.sources.VideoSource
    crop: Crop | None  # None: the frames are already the face crop
    synthetic_set: str = ""


@dataclass
class SyntheticOutput:
    """One synthesis output as the experiment needs it (see :func:`open_synthesis_output`)."""

    root: Path
    sources: dict[str, object]  # synthetic id -> VideoSource
    source_video: dict[str, str]  # synthetic id -> original id
    crops: dict[str, Crop]  # synthetic id -> the crop synthesis applied to the original
    untrained: bool
    unfinished: list[str]
    annotations: Path | None  # annotations.csv of the output, if any


@dataclass
class SpottingInputs:
    originals: list[VideoEntry]
    synthetic: dict[str, list[VideoEntry]]  # set name -> its videos
    ground_truth: dict[str, list[Interval]]  # original id -> events
    annotations: Path
    untrained: dict[str, bool] = field(default_factory=dict)  # set name -> made untrained
    notes: list[str] = field(default_factory=list)


def open_synthesis_output(root: Path) -> SyntheticOutput:
    """Read one synthesis output (the ``output_dir`` of ``infer.py``): its finished videos,
    their originals, crops and labels, and whether untrained networks made it."""
    from mesynth.evaluation.frames import open_synthetic
    from mesynth.synthesis.output import OutputError

    synthetic = open_synthetic(root)
    output = synthetic.output
    if output is None:  # a plain dataset folder: ids as the originals', frames not cropped
        return SyntheticOutput(root, synthetic.sources, synthetic.source_video, {}, False, [], None)
    try:
        crops = {name: output.crop(name) for name in synthetic.sources}
        untrained = output.untrained()
    except OutputError as error:
        raise EvaluationInputError(str(error)) from error
    annotations = output.annotations_path
    return SyntheticOutput(
        root,
        synthetic.sources,
        synthetic.source_video,
        {name: crop for name, crop in crops.items() if crop is not None},
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


def _estimated_crop(source, size: int, crops_dir: Path) -> Crop:
    """A fixed crop as synthesis would estimate it, saved under ``crops_dir`` for re-runs."""
    path = crops_dir / f"{source.video_id}.json"
    if path.is_file():
        saved = Crop.load(path)
        if saved.output_size == size and saved.source_size == tuple(source.frame_size):
            return saved
    from mesynth.faces.align import FaceNotFoundError, estimate_crop

    log.info("video %s: no saved crop, estimating a fixed %d px face crop", source.video_id, size)
    try:
        crop = estimate_crop(source, "fixed", size, progress=False)
    except FaceNotFoundError as error:
        raise EvaluationInputError(
            f"{error}. Video {source.video_id} has no crop saved by synthesis and none could be "
            "estimated; synthesise it too, or set spotting.original_crop=none if the original "
            "frames are face crops already"
        ) from error
    crop.save(path)
    return crop


def load_inputs(cfg, min_participants: int = 2) -> SpottingInputs:
    """Originals, synthetic sets, crops and ground truth for ``python evaluate.py task=spotting``.

    ``min_participants``: leave-one-subject-out needs 2; scoring a configured spotter as it is
    (:func:`mesynth.spotting.experiment.score_as_configured`) needs 1.
    """
    from mesynth.video.sources import open_sources

    spotting = cfg.spotting
    regex = str(cfg.participant_regex)
    original_root = Path(str(cfg.original_dir))
    if not original_root.exists():
        raise EvaluationInputError(
            f"original videos {original_root} do not exist; set original_dir to the dataset "
            "(any layout mesynth reads)"
        )
    originals = {s.video_id: s for s in open_sources(original_root, layout=cfg.original_layout)}
    chosen = {str(p) for p in spotting.participants} if spotting.participants else None
    participants = {video: participant_of(video, regex) for video in originals}
    if chosen is not None:
        missing = sorted(chosen - set(participants.values()))
        if missing:
            raise EvaluationInputError(
                f"spotting.participants names {missing}, who have no video in {original_root} "
                f"(participants there: {sorted(set(participants.values()))[:10]})"
            )
        originals = {v: s for v, s in originals.items() if participants[v] in chosen}

    notes: list[str] = []
    outputs = {
        name: open_synthesis_output(path) for name, path in synthetic_sets(cfg.synthetic_dir)
    }
    truth, annotations_path = read_spotting_ground_truth(
        cfg.annotations, str(cfg.annotations_format), list(outputs.values())
    )

    synthetic: dict[str, list[VideoEntry]] = {}
    original_crop: dict[str, Crop] = {}
    synthetic_size: int | None = None
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
        entries = []
        for name, source in sorted(output.sources.items()):
            original_id = output.source_video[name]
            if original_id not in originals:
                log.info(
                    "%s: %s (from %s) has no original here; left out", set_name, name, original_id
                )
                continue
            original = originals[original_id]
            if len(source) != len(original):
                raise EvaluationInputError(
                    f"synthetic video {name} ({source.path}) has {len(source)} frames but its "
                    f"original {original_id} ({original.path}) has {len(original)}; spotting "
                    "needs whole videos: synthesise all frames (no max_frames) or restrict "
                    "spotting.participants"
                )
            if name in output.crops:
                original_crop.setdefault(original_id, output.crops[name])
            synthetic_size = synthetic_size or int(source.frame_size[0])
            entries.append(
                VideoEntry(
                    name,
                    original_id,
                    participants[original_id],
                    "synthetic",
                    source,
                    None,
                    set_name,
                )
            )
        if not entries:
            raise EvaluationInputError(
                f"synthesis output {output.root} holds no video made from the originals in "
                f"{original_root}; check original_dir and synthetic_dir"
            )
        synthetic[set_name] = entries

    mode = str(spotting.original_crop)
    if mode not in ORIGINAL_CROPS:
        raise EvaluationInputError(
            f"spotting.original_crop={mode!r} is not one of {ORIGINAL_CROPS}"
        )
    entries = []
    estimated = 0
    for video, source in sorted(originals.items()):
        crop = None
        if mode == "auto":
            crop = original_crop.get(video)
            if crop is None:
                size = synthetic_size or int(spotting.crop_size)
                crop = _estimated_crop(source, size, Path(str(cfg.output_dir)) / "crops")
                estimated += 1
        entries.append(VideoEntry(video, video, participants[video], "original", source, crop))
    if estimated:
        notes.append(
            f"{estimated} original video(s) had no crop saved by synthesis; a fixed face crop "
            "was estimated for them the same way."
        )
    n_participants = len({entry.participant for entry in entries})
    if n_participants < min_participants:
        raise EvaluationInputError(
            f"leave-one-subject-out needs at least 2 participants; {original_root} has "
            f"{n_participants} (participant_regex={regex!r}); check participant_regex"
        )
    unknown = sorted(set(truth) - set(originals))
    if unknown:
        log.info(
            "%d annotated video(s) are not among the originals and are not scored (e.g. %s)",
            len(unknown),
            unknown[0],
        )
    untrained = {name: output.untrained for name, output in outputs.items()}
    return SpottingInputs(entries, synthetic, truth, Path(annotations_path), untrained, notes)
