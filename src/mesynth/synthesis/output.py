"""The synthesis output folder: the contract between ``infer.py`` and ``evaluate.py``.

One class, :class:`SynthesisOutput`, owns everything about the folder's layout:

- ``<video>/<source stem>.png`` (writer ``png``), ``<video>.mkv`` (``ffv1``),
  ``<video>.preview.mp4`` (``mp4``); every one is written as ``<name>.partial`` and renamed when
  complete, so a final name always means a complete video;
- ``<video>.frames.csv`` next to a video file: the source frame each output frame came from;
- ``crops/<video>.json`` (the face crop), ``references.csv``, ``annotations.csv``;
- ``.segments/<video>/`` (parts of a video cut between ranks, joined after the run);
- ``manifest.json`` with a typed :class:`VideoRecord` per video.

It also decides whether a video is complete (:meth:`SynthesisOutput.is_complete`) and reads the
finished videos back for evaluation (:meth:`SynthesisOutput.finished_videos`). Renaming a suffix
is a change to one line here.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import shutil
import threading
import time
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

from mesynth.atomic import PARTIAL_SUFFIX, partial_path, write_atomically
from mesynth.config import check_choice
from mesynth.video.writers import WRITER_KINDS

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 2
REFERENCES_NAME = "references.csv"
ANNOTATIONS_NAME = "annotations.csv"
CROPS_DIR = "crops"
SEGMENTS_DIR = ".segments"
FRAME_MAP_SUFFIX = ".frames.csv"
# Final name of each writer kind's output (the kinds are mesynth.video.writers'), by suffix
# after the video name.
KIND_SUFFIXES = {"png": "", "ffv1": ".mkv", "mp4": ".preview.mp4"}
if set(KIND_SUFFIXES) != set(WRITER_KINDS):
    raise ImportError(f"output suffixes {sorted(KIND_SUFFIXES)} != writer kinds {WRITER_KINDS}")
# Kinds written as a folder of named frames; every other kind is a video file, whose frames need
# the frame map to be matched to the source numbering.
FRAME_FOLDER_KINDS = ("png",)
# Kinds evaluation reads frames from, in order of preference (the preview is lossy).
READABLE_KINDS = ("png", "ffv1")
STATUSES = ("partial", "done", "failed")

_lock = threading.Lock()


class OutputError(ValueError):
    """A synthesis output folder that cannot be used as asked; the message says why and how."""


def sha256_of(path: str | Path, chunk_bytes: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while block := handle.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class VideoRecord:
    """What the manifest says about one synthetic video."""

    source_video: str
    participant: str
    source: str
    reference: str
    domain: int
    strategy: str
    frames: int  # frames made (the first max_frames of the source's readable frames)
    source_frames: int  # every frame of the source, skipped ones included
    skipped_source_frames: list[str] = field(default_factory=list)
    crop: str = ""
    crop_mode: str = ""
    untrained: bool = False
    # The landmark network when it is not the checkpoint's (wing=), and the seed of untrained
    # networks: with the checkpoint's sha256 they say which networks made the frames.
    wing_sha256: str | None = None
    seed: int | None = None
    status: str = "partial"
    frames_written: int = 0
    output: str | None = None
    frame_map: str | None = None  # sidecar of a video file: source frame of each output frame
    error: str | None = None

    def __post_init__(self) -> None:
        check_choice("status", self.status, STATUSES)

    @classmethod
    def from_dict(cls, data: dict, where: str) -> VideoRecord:
        names = {f.name for f in fields(cls)}
        required = [
            f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING
        ]
        known = {key: value for key, value in data.items() if key in names}
        try:
            return cls(**known)
        except TypeError as error:
            raise OutputError(
                f"{where} is not a mesynth manifest record ({error}; needs {required}); re-run "
                "infer.py into a new output_dir"
            ) from error


@dataclass
class Manifest:
    """``manifest.json``: the run's settings, its networks, and one record per video."""

    config: dict = field(default_factory=dict)
    checkpoint: dict = field(default_factory=dict)
    untrained: bool = False
    num_threads: int | None = None
    videos: dict[str, VideoRecord] = field(default_factory=dict)
    version: int = MANIFEST_VERSION
    updated: str = ""

    def to_dict(self) -> dict:
        data = asdict(self)
        data["videos"] = {name: asdict(record) for name, record in self.videos.items()}
        return data

    def done(self) -> list[str]:
        return [name for name, record in self.videos.items() if record.status == "done"]


class SynthesisOutput:
    """Paths, completeness and the manifest of one synthesis output folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"SynthesisOutput('{self.root}')"

    # -- paths ---------------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST_NAME

    @property
    def references_path(self) -> Path:
        return self.root / REFERENCES_NAME

    @property
    def annotations_path(self) -> Path:
        return self.root / ANNOTATIONS_NAME

    @property
    def crops_dir(self) -> Path:
        return self.root / CROPS_DIR

    @staticmethod
    def crop_file_name(name: str) -> str:
        return f"{name}.json"

    def crop_path(self, name: str) -> Path:
        return self.crops_dir / self.crop_file_name(name)

    def video_path(self, name: str, kind: str) -> Path:
        """Final path of a video's output of writer ``kind``."""
        check_choice("writer kind", kind, WRITER_KINDS)
        return self.root / f"{name}{KIND_SUFFIXES[kind]}"

    def frame_map_path(self, name: str) -> Path:
        return self.root / f"{name}{FRAME_MAP_SUFFIX}"

    @staticmethod
    def needs_frame_map(kinds: str | list[str] | tuple[str, ...]) -> bool:
        """Whether outputs of these writer kinds get a frame map (any of them a video file)."""
        kinds = [kinds] if isinstance(kinds, str) else kinds
        return any(kind not in FRAME_FOLDER_KINDS for kind in kinds)

    def segments_dir(self, name: str) -> Path:
        return self.root / SEGMENTS_DIR / name

    def segment_path(self, name: str, start: int, stop: int) -> Path:
        return self.segments_dir(name) / f"{start:09d}-{stop:09d}.npy"

    def progress_path(self, rank: int) -> Path:
        """Frames done by one rank of a multi-process run (read by rank zero's overall bar)."""
        return self.root / SEGMENTS_DIR / f"progress-rank{rank}"

    def remove_segments(self, name: str) -> None:
        """Drop what ranks left of a video (its output is complete, or made again whole)."""
        shutil.rmtree(self.segments_dir(name), ignore_errors=True)

    def remove_progress(self) -> None:
        """Drop the per-rank progress files, and the segments folder once it is empty."""
        segments = self.root / SEGMENTS_DIR
        for path in segments.glob("progress-rank*"):
            path.unlink(missing_ok=True)
        if segments.is_dir() and not any(segments.iterdir()):
            segments.rmdir()

    # -- state of the outputs ------------------------------------------------------------------
    def output_state(self, name: str, kind: str) -> str:
        """``complete`` (final output exists), ``partial`` (an interrupted write) or ``missing``."""
        final = self.video_path(name, kind)
        if final.exists():
            return "complete"
        if partial_path(final).exists():
            return "partial"
        return "missing"

    def count_frames(self, name: str, kind: str, frame_names: list[str]) -> int:
        """Frames in a finished output (-1 when missing or not made of these frames)."""
        final = self.video_path(name, kind)
        if not final.exists():
            return -1
        if not self.needs_frame_map(kind):
            stems = {p.stem for p in final.glob("*.png")}
            return len(stems) if stems == set(frame_names) else -1
        import av

        with av.open(str(final)) as container:
            stream = container.streams.video[0]
            return sum(1 for packet in container.demux(stream) if packet.size)

    def is_complete(self, name: str, kinds: list[str], frame_names: list[str]) -> bool:
        """Every output of the video exists with exactly these frames (and its frame map)."""
        for kind in kinds:
            if self.count_frames(name, kind, frame_names) != len(frame_names):
                return False
            if self.needs_frame_map(kind) and not self.frame_map_path(name).is_file():
                return False
        return True

    def finished_fields(self, name: str, kinds: list[str], num_frames: int) -> dict:
        """The manifest fields of a video whose outputs are complete on disk."""
        return {
            "status": "done",
            "frames_written": int(num_frames),
            "output": str(self.video_path(name, kinds[0])),
            "frame_map": str(self.frame_map_path(name)) if self.needs_frame_map(kinds) else None,
            "error": None,
        }

    # -- frame maps ----------------------------------------------------------------------------
    def write_frame_map(self, name: str, frame_numbers: list[int], frame_names: list[str]) -> Path:
        """``<video>.frames.csv``: output frame i came from source frame number/name."""

        def write(partial: Path) -> None:
            with partial.open("w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(("output_index", "source_frame_number", "source_frame_name"))
                for index, (number, stem) in enumerate(
                    zip(frame_numbers, frame_names, strict=True)
                ):
                    writer.writerow((index, number, stem))

        return write_atomically(self.frame_map_path(name), write)

    def read_frame_map(self, name: str) -> list[int]:
        """Source frame numbers of a video file's frames, from its sidecar."""
        path = self.frame_map_path(name)
        if not path.is_file():
            raise OutputError(
                f"{path} is missing, so the frames of {self.video_path(name, 'ffv1').name} cannot "
                "be matched to the source numbering; re-run infer.py with the same output_dir"
            )
        with path.open(newline="") as handle:
            return [int(row["source_frame_number"]) for row in csv.DictReader(handle)]

    # -- manifest ------------------------------------------------------------------------------
    def read_manifest(self) -> Manifest | None:
        """The manifest, or None when the folder has none."""
        path = self.manifest_path
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise OutputError(
                f"{path} is not a readable synthesis manifest ({error}); re-run infer.py into "
                "this output_dir to rewrite it, or delete it to start the folder afresh (all "
                "videos are then made again)"
            ) from error
        if not isinstance(data, dict):
            raise OutputError(f"{path} is not a synthesis manifest (a JSON object expected)")
        records = {
            str(name): VideoRecord.from_dict(entry, f"{path} (video {name})")
            for name, entry in (data.get("videos") or {}).items()
        }
        return Manifest(
            config=data.get("config") or {},
            checkpoint=data.get("checkpoint") or {},
            untrained=bool(data.get("untrained", False)),
            num_threads=data.get("num_threads"),
            videos=records,
            version=int(data.get("version", 1)),
            updated=str(data.get("updated", "")),
        )

    def write_manifest(self, manifest: Manifest) -> Path:
        manifest.updated = time.strftime("%Y-%m-%dT%H:%M:%S")
        text = json.dumps(manifest.to_dict(), indent=2, default=str)
        return write_atomically(self.manifest_path, lambda partial: partial.write_text(text))

    def update_records(self, updates: dict[str, dict], **top_level: object) -> None:
        """Change fields of some videos' records (and top-level fields) in one atomic write."""
        with _lock:
            manifest = self.read_manifest()
            if manifest is None:
                raise OutputError(f"{self.manifest_path} is missing; it is written at the start")
            for name, changes in updates.items():
                record = manifest.videos[name]
                for key, value in changes.items():
                    if not hasattr(record, key):
                        raise AttributeError(f"VideoRecord has no field {key!r}")
                    setattr(record, key, value)
                record.__post_init__()
            for key, value in top_level.items():
                setattr(manifest, key, value)
            self.write_manifest(manifest)

    # -- reading for evaluation ----------------------------------------------------------------
    def is_synthesis_output(self) -> bool:
        return self.manifest_path.is_file() or self.crops_dir.is_dir()

    def untrained(self) -> bool:
        manifest = self.read_manifest()
        return bool(manifest and manifest.untrained)

    def crop(self, name: str):
        """The saved face crop of a video (a :class:`mesynth.faces.crop.Crop`), or None."""
        from mesynth.faces.crop import Crop

        path = self.crop_path(name)
        return Crop.load(path) if path.is_file() else None

    def readable_kind(self, name: str) -> str | None:
        """The output kind evaluation reads a video from, or None when none is there."""
        for kind in READABLE_KINDS:
            if self.video_path(name, kind).exists():
                return kind
        return None

    def finished_videos(self) -> tuple[list[str], list[str]]:
        """(finished, unfinished) video names. Finished: done in the manifest (or a folder the
        manifest does not list) and its frames are there; unfinished: listed, but not done or
        its frames are missing. Videos neither listed nor readable are neither."""
        manifest = self.read_manifest()
        records = manifest.videos if manifest is not None else {}
        finished, unfinished = [], []
        for name in self.video_names():
            record = records.get(name)
            done = record is None or record.status == "done"
            if done and self.readable_kind(name) is not None:
                finished.append(name)
            elif record is not None:
                unfinished.append(name)
        return finished, sorted(unfinished)

    def open_video(self, name: str):
        """A :class:`mesynth.video.decoders.VideoSource` over a finished video's frames."""
        from mesynth.video.layouts import open_sources

        kind = self.readable_kind(name)
        if kind is None:
            raise OutputError(
                f"{self.root} holds no finished output of video {name} (no {name}/ PNG folder or "
                f"{name}.mkv); re-run infer.py with the same output_dir to finish it"
            )
        layout = "video" if self.needs_frame_map(kind) else "folder"
        source = open_sources(self.video_path(name, kind), layout=layout)[0]
        source.video_id = name
        if self.needs_frame_map(kind):
            numbers = self.read_frame_map(name)
            if len(numbers) != len(source):
                raise OutputError(
                    f"{self.frame_map_path(name)} lists {len(numbers)} frames but "
                    f"{source.path} holds {len(source)}; re-run infer.py to remake video {name}"
                )
            source.frame_numbers = numbers
        return source

    def video_names(self) -> list[str]:
        """Names of the videos in the folder: the manifest's, or the outputs found."""
        manifest = self.read_manifest()
        if manifest is not None:
            return list(manifest.videos)
        names = set()
        for child in self.root.iterdir():
            if child.name.startswith(".") or child.name.endswith(PARTIAL_SUFFIX):
                continue
            for kind in READABLE_KINDS:
                suffix = KIND_SUFFIXES[kind]
                if not suffix and child.is_dir() and any(child.glob("*.png")):
                    names.add(child.name)
                elif suffix and child.is_file() and child.name.endswith(suffix):
                    names.add(child.name[: -len(suffix)])
        return sorted(names)


__all__ = [
    "ANNOTATIONS_NAME",
    "Manifest",
    "OutputError",
    "SynthesisOutput",
    "VideoRecord",
    "WRITER_KINDS",
    "sha256_of",
]
