"""Decoders: one API over a video file and a folder of frame files.

A :class:`VideoSource` yields RGB uint8 frames (greyscale becomes 3-channel) and knows the stems
of its frame files, so outputs can be named like the inputs. A frame that is missing (a gap in
the numbering) or unreadable is an error naming the file; with ``on_bad_frame="skip"`` it is
left out and listed in ``source.skipped`` instead - the video never silently gets shorter.
Which files make up a video, and with which id, is the dataset layout's business
(:mod:`mesynth.video.layouts`).

Sources are cheap to pickle (DataLoader workers, process pools): frame-folder sources hold only
paths, video-file sources open their file lazily in each process.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mesynth.media import MediaError, quick_check
from mesynth.media import read_image as read_media_image

log = logging.getLogger(__name__)

BAD_FRAME_FIX = "restore the file or re-run with on_bad_frame=skip"

# Decoders inherited through fork, kept alive but unused (see VideoFileSource.close).
_INHERITED_CONTAINERS: list = []


class FrameError(MediaError):
    """A frame that is missing or cannot be decoded; ``path`` names it."""


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

    def verify(self, on_bad_frame: str = "error", full: bool = False) -> None:
        """Check every frame (``full`` decodes them); drop (``skip``) or raise on bad ones."""
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

    def verify(self, on_bad_frame: str = "error", full: bool = False) -> None:
        """Decode the whole file (``full`` or not: a compressed stream has no quick check);
        with ``skip`` keep only the frames that decode."""
        import av

        decoded: set = set()
        try:
            with av.open(str(self.path)) as container:
                for frame in container.decode(container.streams.video[0]):
                    if frame.pts is not None:
                        decoded.add(frame.pts)
        except av.error.FFmpegError as error:
            if on_bad_frame != "skip":
                raise FrameError(
                    f"video file {self.path} fails to decode ({error}); re-encode it",
                    self.path,
                ) from error
            log.warning("video file %s fails to decode part way (%s)", self.path, error)
        bad = [i for i, pts in enumerate(self._pts) if pts not in decoded]
        if not bad:
            return
        if on_bad_frame != "skip":
            raise FrameError(
                f"video file {self.path}: frame {bad[0]} ({len(bad)} in total) does not decode; "
                "re-encode the video or re-run with on_bad_frame=skip",
                self.path,
                bad[0],
            )
        log.warning("video file %s: skipping %d undecodable frame(s)", self.path, len(bad))
        self.skipped.extend(self.frame_names[i] for i in bad)
        bad_set = set(bad)
        self._skipped_pts.update(self._pts[i] for i in bad)
        keep = [i for i in range(len(self._pts)) if i not in bad_set]
        self._pts = [self._pts[i] for i in keep]
        self.frame_names = [self.frame_names[i] for i in keep]
        self.frame_numbers = [self.frame_numbers[i] for i in keep]


# ----------------------------------------------------------------------------- frame numbers


@dataclass
class NumberedFrames:
    """The frame files of a folder in frame-number order, and how their names are made."""

    files: list[Path]
    numbers: list[int]
    width: int  # digits of the frame number in the file names
    prefix: str
    suffix: str


def missing_frames(
    video_id: str, folder: Path, numbered: NumberedFrames, on_bad_frame: str
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


def describe_frame_rates(sources: list[VideoSource]) -> str:
    """The sources' frame rates in a few words, e.g. ``200 fps`` or ``frame rate unknown``."""
    rates = sorted({round(s.fps, 3) for s in sources if s.fps})
    unknown = sum(1 for s in sources if not s.fps)
    parts = [f"{rate:g} fps" for rate in rates[:3]] + (["..."] if len(rates) > 3 else [])
    if unknown:
        parts.append(f"frame rate unknown for {unknown} (set fps= where it matters)")
    return ", ".join(parts) or "no videos"
