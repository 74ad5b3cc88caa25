"""Frame sources: one API over video files, frame folders and the SAMM-LV / CAS(ME)^2 layouts.

``open_sources(path)`` returns one :class:`VideoSource` per video. Every source yields RGB uint8
frames (greyscale becomes 3-channel) and knows the stems of its frame files, so outputs can be
named like the inputs. A frame that is missing (a gap in the numbering) or unreadable is an error
naming the file; with ``on_bad_frame="skip"`` it is left out and listed in ``source.skipped``
instead - the video never silently gets shorter.

Sources are cheap to pickle (DataLoader workers, process pools): frame-folder sources hold only
paths, video-file sources open their file lazily in each process.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from natsort import natsorted, ns

from mesynth.atomic import PARTIAL_SUFFIX
from mesynth.config import check_choice
from mesynth.media import IMAGE_SUFFIXES, VIDEO_SUFFIXES, MediaError, is_image, quick_check
from mesynth.media import read_image as read_media_image

log = logging.getLogger(__name__)

LAYOUTS = ("auto", "samm_lv", "casme2", "folder", "video")
BAD_FRAME_POLICIES = ("error", "skip")
VERIFY_MODES = ("none", "quick", "full")
BAD_FRAME_FIX = "restore the file or re-run with on_bad_frame=skip"

# Frame rates fixed by the dataset protocols (the frame folders themselves carry none).
SAMM_LV_FPS = 200.0
CASME2_FPS = 30.0

_TRAILING_NUMBER = re.compile(r"^(.*?)(\d+)$")
_CASME2_PARTICIPANT = re.compile(r"^s\d+$", re.IGNORECASE)
_CASME2_FRAME = re.compile(r"^img(\d+)$", re.IGNORECASE)
_CASME2_VIDEO = re.compile(r"^\d+_(\d{4})")
# Decoders inherited through fork, kept alive but unused (see VideoFileSource.close).
_INHERITED_CONTAINERS: list = []


class FrameError(MediaError):
    """A frame that is missing or cannot be decoded; ``path`` names it."""


class LayoutError(ValueError):
    """A dataset path that does not look like the requested (or any known) layout."""


# ----------------------------------------------------------------------------- decoding


def read_image(path: str | Path) -> np.ndarray:
    """Read one frame file as RGB uint8 HxWx3; raise :class:`FrameError` naming it on failure."""
    return read_media_image(path, "frame", BAD_FRAME_FIX, FrameError)


# ----------------------------------------------------------------------------- sources


class VideoSource:
    """One video: an ordered list of frames with their source names. Subclasses read them."""

    video_id: str
    participant: str
    path: Path
    frame_names: list[str]
    frame_numbers: list[int]
    fps: float | None
    skipped: list[str]
    layout: str

    def __len__(self) -> int:
        return len(self.frame_names)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(video_id={self.video_id!r}, frames={len(self)}, "
            f"layout={self.layout!r}, path='{self.path}')"
        )

    def read_frame(self, index: int) -> np.ndarray:
        """Frame ``index`` (0-based position in this source) as RGB uint8 HxWx3."""
        raise NotImplementedError

    def iter_frames(
        self, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(index, frame)`` for ``start <= index < stop`` in order."""
        stop = len(self) if stop is None else min(stop, len(self))
        for index in range(start, stop):
            yield index, self.read_frame(index)

    @property
    def frame_size(self) -> tuple[int, int]:
        """``(height, width)`` of the frames."""
        raise NotImplementedError

    def _check_index(self, index: int) -> int:
        if not -len(self) <= index < len(self):
            raise IndexError(f"video {self.video_id} has {len(self)} frames, asked for {index}")
        return index % len(self)


class FrameFolderSource(VideoSource):
    """A video stored as one image file per frame."""

    def __init__(
        self,
        video_id: str,
        participant: str,
        path: Path,
        files: list[Path],
        frame_numbers: list[int],
        fps: float | None,
        layout: str,
        skipped: list[str] | None = None,
    ):
        if len(files) != len(frame_numbers):
            raise ValueError("files and frame_numbers must have the same length")
        if not files:
            raise FrameError(f"video {video_id} at {path} has no readable frames", path)
        self.video_id = video_id
        self.participant = participant
        self.path = Path(path)
        self.files = [Path(f) for f in files]
        self.frame_names = [f.stem for f in self.files]
        self.frame_numbers = [int(n) for n in frame_numbers]
        self.fps = fps
        self.layout = layout
        self.skipped = list(skipped or [])
        self._frame_size: tuple[int, int] | None = None

    def read_frame(self, index: int) -> np.ndarray:
        path = self.files[self._check_index(index)]
        frame = read_image(path)
        if self._frame_size is None and index % len(self) == 0:
            self._frame_size = (int(frame.shape[0]), int(frame.shape[1]))
        expected = self.frame_size
        if frame.shape[:2] != expected:
            raise FrameError(
                f"frame {path} is {frame.shape[1]}x{frame.shape[0]} but the first frame of video "
                f"{self.video_id} is {expected[1]}x{expected[0]}; all frames of a video must have "
                "one size",
                path,
                index,
            )
        return frame

    @property
    def frame_size(self) -> tuple[int, int]:
        if self._frame_size is None:
            first = read_image(self.files[0])
            self._frame_size = (int(first.shape[0]), int(first.shape[1]))
        return self._frame_size

    def verify(self, on_bad_frame: str = "error", full: bool = False) -> None:
        """Check every frame file (``full`` decodes them); drop or raise on bad ones."""
        from tqdm.auto import tqdm

        keep_files, keep_numbers = [], []
        for path, number in tqdm(
            list(zip(self.files, self.frame_numbers, strict=True)),
            desc=f"verify {self.video_id}",
            unit="frame",
            disable=not full and len(self.files) < 10_000,
            leave=False,
        ):
            if full:
                try:
                    read_image(path)
                    problem = None
                except FrameError as error:
                    problem = str(error)
            else:
                problem = quick_check(path)
                if problem is not None:
                    problem = f"frame {path} is unreadable: {problem}"
            if problem is None:
                keep_files.append(path)
                keep_numbers.append(number)
            elif on_bad_frame == "skip":
                log.warning("skipping %s", problem)
                self.skipped.append(str(path))
            else:
                raise FrameError(
                    f"{problem}; restore the file or re-run with on_bad_frame=skip", path
                )
        if not keep_files:
            raise FrameError(
                f"video {self.video_id} at {self.path} has no readable frames", self.path
            )
        self.files = keep_files
        self.frame_names = [f.stem for f in keep_files]
        self.frame_numbers = keep_numbers
        self._frame_size = None


class VideoFileSource(VideoSource):
    """A video file decoded with PyAV; the file is opened lazily in each process."""

    def __init__(self, path: Path, video_id: str | None = None, participant: str | None = None):
        import av

        self.path = Path(path)
        self.video_id = video_id or self.path.stem
        self.participant = participant or self.video_id.split("_")[0]
        self.layout = "video"
        self.skipped = []
        try:
            with av.open(str(self.path)) as container:
                if not container.streams.video:
                    raise FrameError(f"{self.path} has no video stream", self.path)
                stream = container.streams.video[0]
                rate = stream.average_rate or stream.guessed_rate
                self.fps = float(rate) if rate else None
                self._size = (int(stream.codec_context.height), int(stream.codec_context.width))
                # Containers do not reliably store the frame count; the packets do.
                pts = [p.pts for p in container.demux(stream) if p.pts is not None and p.size > 0]
        except av.error.FFmpegError as error:
            raise FrameError(
                f"video file {self.path} cannot be opened ({error}); check that it is a video "
                "file PyAV/ffmpeg can read",
                self.path,
            ) from error
        self._pts = sorted(pts)
        self._skipped_pts: set = set()
        if not self._pts:
            raise FrameError(f"video file {self.path} contains no frames", self.path)
        width = max(5, len(str(len(self._pts) - 1)))
        self.frame_numbers = list(range(len(self._pts)))
        self.frame_names = [f"{self.video_id}_{n:0{width}d}" for n in self.frame_numbers]
        self._reset()

    def _reset(self) -> None:
        self._container = None
        self._frames: Iterator[tuple[int, np.ndarray]] | None = None
        self._next_index = -1
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        for key in ("_container", "_frames", "_lock"):
            state.pop(key, None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._reset()

    @property
    def frame_size(self) -> tuple[int, int]:
        return self._size

    def close(self) -> None:
        if self._container is not None:
            if self._pid == os.getpid():
                self._container.close()
            else:
                # Inherited through fork: closing it would wait for decoder threads that only
                # exist in the parent, and its file offset is shared with the parent's copy.
                # Keep it (and the decoding generator) referenced, untouched, and open a fresh
                # one in this process.
                _INHERITED_CONTAINERS.append((self._container, self._frames))
        self._container = None
        self._frames = None
        self._next_index = -1

    def _decode_from(self, index: int) -> Iterator[tuple[int, np.ndarray]]:
        import av

        fresh = self._container is None or self._pid != os.getpid()
        if fresh:
            self.close()
            self._pid = os.getpid()
            self._container = av.open(str(self.path))
        container = self._container
        stream = container.streams.video[0]
        target = self._pts[index]
        pts_to_index = {pts: i for i, pts in enumerate(self._pts)}
        if index > 0 or not fresh:
            container.seek(target, stream=stream, backward=True, any_frame=False)
        expected = index
        try:
            for frame in container.decode(stream):
                if frame.pts is None or frame.pts < target:
                    continue
                found = pts_to_index.get(frame.pts)
                if found is None and frame.pts in self._skipped_pts:
                    continue
                if found != expected:
                    raise FrameError(
                        f"video file {self.path}: frame {expected} could not be decoded (the "
                        f"decoder went on at timestamp {frame.pts}); re-encode the video or "
                        "open it with verify='full' and on_bad_frame='skip'",
                        self.path,
                        expected,
                    )
                yield found, frame.to_ndarray(format="rgb24")
                expected += 1
        except av.error.FFmpegError as error:
            raise FrameError(
                f"video file {self.path}: decoding failed at frame {expected} ({error}); "
                "re-encode the video",
                self.path,
                expected,
            ) from error
        if expected < len(self._pts):
            raise FrameError(
                f"video file {self.path}: decoding stopped at frame {expected} of "
                f"{len(self._pts)}; the file is truncated or corrupt",
                self.path,
                expected,
            )

    def read_frame(self, index: int) -> np.ndarray:
        index = self._check_index(index)
        if self._pid != os.getpid():  # forked: the lock may have been copied while held
            self._lock = threading.Lock()
            self.close()
        with self._lock:
            if self._frames is None or index != self._next_index:
                self._frames = None
                self._frames = self._decode_from(index)
            found, frame = next(self._frames)
            self._next_index = found + 1
            return frame

    def iter_frames(
        self, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[int, np.ndarray]]:
        stop = len(self) if stop is None else min(stop, len(self))
        if start >= stop:
            return
        # A private decoder, so iterating does not disturb read_frame's position (or vice versa).
        clone = VideoFileSource.__new__(VideoFileSource)
        clone.__setstate__(self.__getstate__())
        try:
            for index, frame in clone._decode_from(start):
                if index >= stop:
                    break
                yield index, frame
        finally:
            clone.close()


# ----------------------------------------------------------------------------- layouts


def _images_in(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if is_image(p)]


def _subdirs(folder: Path) -> list[Path]:
    """Sub-folders in natural order, without hidden ones and unfinished ``*.partial`` outputs."""
    return natsorted(
        (
            p
            for p in folder.iterdir()
            if p.is_dir() and not p.name.startswith(".") and not p.name.endswith(PARTIAL_SUFFIX)
        ),
        key=lambda p: p.name,
        alg=ns.IGNORECASE,
    )


@dataclass
class _Numbered:
    files: list[Path]
    numbers: list[int]
    width: int  # digits of the frame number in the file names
    prefix: str
    suffix: str


def _number_frames(folder: Path, files: list[Path], pattern: re.Pattern | None) -> _Numbered | None:
    """Order files by their frame number; None if the names carry no consistent number.

    With a layout ``pattern`` (last group = the number) every file must match it; without one,
    the trailing digits are used when all files share one prefix.
    """
    numbered = []
    for path in files:
        match = (pattern or _TRAILING_NUMBER).match(path.stem)
        if match is None:
            if pattern is not None:
                raise LayoutError(
                    f"frame file {path} does not match the expected name pattern "
                    f"{pattern.pattern!r}; move it out of {folder} or choose another layout"
                )
            return None
        digits = match.lastindex
        numbered.append((int(match.group(digits)), path.stem[: match.start(digits)], path))
    if len({prefix.lower() for _, prefix, _ in numbered}) > 1:
        if pattern is not None:
            raise LayoutError(f"{folder} mixes frame name prefixes; keep one video per folder")
        return None
    numbered.sort(key=lambda item: item[0])
    numbers = [n for n, _, _ in numbered]
    if len(set(numbers)) != len(numbers):
        duplicates = sorted({n for n in numbers if numbers.count(n) > 1})[:5]
        raise LayoutError(
            f"{folder} has several files with frame number(s) {duplicates}; keep one file per frame"
        )
    first_number, prefix, first = numbered[0]
    width = len(first.stem) - len(prefix)
    return _Numbered([p for _, _, p in numbered], numbers, width, prefix, first.suffix)


def _missing_frames(
    video_id: str, folder: Path, numbered: _Numbered, on_bad_frame: str
) -> list[str]:
    """The frames missing from a numbered sequence: an error, or (when skipping) their names."""
    expected = set(range(numbered.numbers[0], numbered.numbers[-1] + 1))
    missing = sorted(expected.difference(numbered.numbers))
    if not missing:
        return []
    names = [
        str(folder / f"{numbered.prefix}{n:0{numbered.width}d}{numbered.suffix}") for n in missing
    ]
    if on_bad_frame == "skip":
        log.warning(
            "video %s: %d frame(s) missing from the numbering, skipped: %s%s",
            video_id,
            len(names),
            ", ".join(names[:5]),
            " ..." if len(names) > 5 else "",
        )
        return names
    raise FrameError(
        f"video {video_id}: frame {names[0]} is missing (numbering jumps from "
        f"{max(n for n in numbered.numbers if n < missing[0])} to "
        f"{min(n for n in numbered.numbers if n > missing[0])}; {len(names)} missing in total); "
        "restore it or re-run with on_bad_frame=skip",
        names[0],
    )


def _folder_source(
    folder: Path,
    video_id: str,
    participant: str,
    layout: str,
    fps: float | None,
    pattern: re.Pattern | None,
    on_bad_frame: str,
) -> FrameFolderSource:
    files = _images_in(folder)
    if not files:
        raise LayoutError(f"{folder} holds no image files ({sorted(IMAGE_SUFFIXES)})")
    numbered = _number_frames(folder, files, pattern)
    if numbered is None:
        ordered = natsorted(files, key=lambda p: p.name, alg=ns.IGNORECASE)
        return FrameFolderSource(
            video_id, participant, folder, ordered, list(range(len(ordered))), fps, layout
        )
    skipped = _missing_frames(video_id, folder, numbered, on_bad_frame)
    return FrameFolderSource(
        video_id, participant, folder, numbered.files, numbered.numbers, fps, layout, skipped
    )


def _samm_pattern(video_dir: Path) -> re.Pattern:
    return re.compile(rf"^({re.escape(video_dir.name)}_)(\d{{4,5}})$")


def _is_samm_video(folder: Path, images: list[Path]) -> bool:
    if "_" not in folder.name or not images:
        return False
    pattern = _samm_pattern(folder)
    return all(pattern.match(p.stem) for p in images)


def _samm_sources(path: Path, on_bad_frame: str) -> list[FrameFolderSource]:
    images = _images_in(path)
    folders = [path] if images else _subdirs(path)
    sources = []
    for folder in folders:
        if folder is not path and not _images_in(folder):
            log.debug("skipping %s: no frames", folder)
            continue
        if "_" not in folder.name:
            raise LayoutError(
                f"{folder} is not a SAMM-LV video folder: expected '<subject>_<video>' holding "
                f"'<subject>_<video>_<frame>.jpg'; use layout=folder for other names"
            )
        participant = folder.name.split("_")[0]
        sources.append(
            _folder_source(
                folder,
                folder.name,
                participant,
                "samm_lv",
                SAMM_LV_FPS,
                _samm_pattern(folder),
                on_bad_frame,
            )
        )
    if not sources:
        raise LayoutError(f"{path} holds no SAMM-LV video folders ('<subject>_<video>/')")
    return sources


def _casme2_video_id(participant: str, folder_name: str) -> str:
    match = _CASME2_VIDEO.match(folder_name)
    code = match.group(1) if match else folder_name
    return f"{participant.lower()}_{code}"


def _casme2_sources(path: Path, on_bad_frame: str) -> list[FrameFolderSource]:
    if (path / "rawpic").is_dir():
        path = path / "rawpic"
    if _images_in(path):  # a single video folder: rawpic/sNN/<code>/
        video_dirs = [(path.parent.name, path)]
    elif _CASME2_PARTICIPANT.match(path.name):  # one participant: rawpic/sNN/
        video_dirs = [(path.name, d) for d in _subdirs(path)]
    else:
        participant_dirs = [d for d in _subdirs(path) if _CASME2_PARTICIPANT.match(d.name)]
        if not participant_dirs:
            raise LayoutError(
                f"{path} is not a CAS(ME)^2 root: expected 'rawpic/sNN/<video>/imgN.jpg' "
                "(participant folders named sNN)"
            )
        video_dirs = [(p.name, d) for p in participant_dirs for d in _subdirs(p)]
    sources = []
    for participant, folder in video_dirs:
        if not _images_in(folder):
            log.debug("skipping %s: no frames", folder)
            continue
        sources.append(
            _folder_source(
                folder,
                _casme2_video_id(participant, folder.name),
                participant.lower(),
                "casme2",
                CASME2_FPS,
                re.compile(r"^(img)(\d+)$", re.IGNORECASE),
                on_bad_frame,
            )
        )
    if not sources:
        raise LayoutError(f"{path} holds no CAS(ME)^2 videos ('sNN/<video>/imgN.jpg')")
    return sources


def _generic_folder_sources(path: Path, on_bad_frame: str) -> list[FrameFolderSource]:
    if _images_in(path):
        folders = [path]
    else:
        folders = [d for d in _subdirs(path) if _images_in(d)]
    if not folders:
        raise LayoutError(f"{path} holds no image files nor folders of image files")
    return [
        _folder_source(d, d.name, d.name.split("_")[0], "folder", None, None, on_bad_frame)
        for d in folders
    ]


def _video_sources(path: Path) -> list[VideoFileSource]:
    if path.is_file():
        files = [path]
    else:
        files = natsorted(
            (p for p in path.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES),
            key=lambda p: p.name,
            alg=ns.IGNORECASE,
        )
    if not files:
        raise LayoutError(f"{path} holds no video files ({sorted(VIDEO_SUFFIXES)})")
    return [VideoFileSource(f) for f in files]


def _looks_casme2(path: Path) -> bool:
    if (path / "rawpic").is_dir() or path.name.lower() == "rawpic":
        return True
    candidates = [path] if _CASME2_PARTICIPANT.match(path.name) else _subdirs(path)
    for participant in candidates[:3]:
        if not _CASME2_PARTICIPANT.match(participant.name):
            continue
        for video in _subdirs(participant)[:1]:
            images = _images_in(video)
            if images and all(_CASME2_FRAME.match(p.stem) for p in images):
                return True
    images = _images_in(path)
    return (
        bool(images)
        and _CASME2_PARTICIPANT.match(path.parent.name) is not None
        and all(_CASME2_FRAME.match(p.stem) for p in images)
    )


def detect_layout(path: str | Path) -> str:
    """Which of ``samm_lv|casme2|folder|video`` the dataset at ``path`` uses."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"source {path} does not exist; point source= at a video file, "
            "a folder of frames or a dataset root"
        )
    if path.is_file():
        if path.suffix.lower() in VIDEO_SUFFIXES:
            return "video"
        raise LayoutError(
            f"source {path} is a file but not a video ({sorted(VIDEO_SUFFIXES)}); point source= "
            "at a video file, a folder of frames or a dataset root"
        )
    if _looks_casme2(path):
        return "casme2"
    images = _images_in(path)
    if images:
        return "samm_lv" if _is_samm_video(path, images) else "folder"
    video_dirs = [d for d in _subdirs(path) if _images_in(d)]
    if video_dirs:
        if all(_is_samm_video(d, _images_in(d)) for d in video_dirs):
            return "samm_lv"
        return "folder"
    if any(p.suffix.lower() in VIDEO_SUFFIXES for p in path.iterdir()):
        return "video"
    raise LayoutError(
        f"no frames or videos found under {path}: expected a video file, a folder of frames, "
        "'<subject>_<video>/<subject>_<video>_<frame>.jpg' (SAMM-LV) or "
        "'rawpic/sNN/<video>/imgN.jpg' (CAS(ME)^2)"
    )


def open_sources(
    path: str | Path,
    layout: str = "auto",
    on_bad_frame: str = "error",
    verify: str | None = None,
) -> list[VideoSource]:
    """Open every video under ``path`` (a video file, a frame folder or a dataset root).

    ``verify``: ``none`` trusts the listing (bad files raise when read), ``quick`` checks every
    file's size and JPEG/PNG end markers at open, ``full`` decodes every frame at open. The
    default is ``quick`` when skipping bad frames (so the video length is final before any frame
    is read) and ``none`` otherwise (reading then still raises on any bad frame).
    """
    path = Path(path)
    check_choice("layout", layout, LAYOUTS)
    check_choice("on_bad_frame", on_bad_frame, BAD_FRAME_POLICIES)
    if verify is None:
        verify = "quick" if on_bad_frame == "skip" else "none"
    check_choice("verify", verify, VERIFY_MODES)
    if not path.exists():
        raise FileNotFoundError(
            f"source {path} does not exist; point source= at a video file, a folder of frames "
            "or a dataset root"
        )
    chosen = detect_layout(path) if layout == "auto" else layout
    if chosen == "video":
        sources: list[VideoSource] = _video_sources(path)
    elif path.is_file():
        raise LayoutError(f"layout {chosen} needs a folder but {path} is a file; use layout=video")
    elif chosen == "samm_lv":
        sources = _samm_sources(path, on_bad_frame)
    elif chosen == "casme2":
        sources = _casme2_sources(path, on_bad_frame)
    else:
        sources = _generic_folder_sources(path, on_bad_frame)
    if verify != "none":
        for source in sources:
            if isinstance(source, FrameFolderSource):
                source.verify(on_bad_frame, full=verify == "full")
            else:
                _verify_video(source, on_bad_frame)
    ids = [s.video_id for s in sources]
    if len(set(ids)) != len(ids):
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        raise LayoutError(f"{path}: several videos share the id(s) {duplicates}")
    log.info(
        "opened %d video(s) from %s: layout %s (%s), %s, %d frames in total",
        len(sources),
        path,
        chosen,
        "detected" if layout == "auto" else "as set",
        describe_frame_rates(sources),
        sum(len(s) for s in sources),
    )
    return sources


def describe_frame_rates(sources: list[VideoSource]) -> str:
    """The sources' frame rates in a few words, e.g. ``200 fps`` or ``frame rate unknown``."""
    rates = sorted({round(s.fps, 3) for s in sources if s.fps})
    unknown = sum(1 for s in sources if not s.fps)
    parts = [f"{rate:g} fps" for rate in rates[:3]] + (["..."] if len(rates) > 3 else [])
    if unknown:
        parts.append(f"frame rate unknown for {unknown} (set fps= where it matters)")
    return ", ".join(parts) or "no videos"


def _verify_video(source: VideoFileSource, on_bad_frame: str) -> None:
    """Decode a whole video file; with ``skip`` keep only the frames that decode."""
    import av

    decoded: set = set()
    try:
        with av.open(str(source.path)) as container:
            for frame in container.decode(container.streams.video[0]):
                if frame.pts is not None:
                    decoded.add(frame.pts)
    except av.error.FFmpegError as error:
        if on_bad_frame != "skip":
            raise FrameError(
                f"video file {source.path} fails to decode ({error}); re-encode it",
                source.path,
            ) from error
        log.warning("video file %s fails to decode part way (%s)", source.path, error)
    bad = [i for i, pts in enumerate(source._pts) if pts not in decoded]
    if not bad:
        return
    if on_bad_frame != "skip":
        raise FrameError(
            f"video file {source.path}: frame {bad[0]} ({len(bad)} in total) does not decode; "
            "re-encode the video or re-run with on_bad_frame=skip",
            source.path,
            bad[0],
        )
    log.warning("video file %s: skipping %d undecodable frame(s)", source.path, len(bad))
    source.skipped.extend(source.frame_names[i] for i in bad)
    bad_set = set(bad)
    source._skipped_pts.update(source._pts[i] for i in bad)
    keep = [i for i in range(len(source._pts)) if i not in bad_set]
    source._pts = [source._pts[i] for i in keep]
    source.frame_names = [source.frame_names[i] for i in keep]
    source.frame_numbers = [source.frame_numbers[i] for i in keep]
