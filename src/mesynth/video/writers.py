"""Frame writers: PNG sequence, lossless FFV1 ``.mkv`` and an mp4 preview, all atomic.

Every writer writes to ``<final path>.partial`` and renames it to the final path in ``close()``
only when exactly one frame per source frame name was written, so a final file or folder always
means a complete video and a ``.partial`` one an interrupted run. Where the final path is (and
which suffix each kind gets) is for the caller to say: see :mod:`mesynth.synthesis.output`.
Codec settings come from ``conf/writer/``.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from mesynth.atomic import partial_path
from mesynth.config import check_choice

log = logging.getLogger(__name__)


class IncompleteVideoError(RuntimeError):
    """``close()`` found fewer or more frames than the video has; the output stays partial."""


def frame_ranges(numbers: list[int]) -> str:
    """Frame numbers as compact ranges: ``[1, 2, 3, 5, 7, 8]`` -> ``"1-3,5,7-8"``."""
    parts: list[str] = []
    start = previous = None
    for number in numbers:
        if previous is not None and number == previous + 1:
            previous = number
            continue
        if start is not None:
            parts.append(str(start) if start == previous else f"{start}-{previous}")
        start = previous = number
    if start is not None:
        parts.append(str(start) if start == previous else f"{start}-{previous}")
    return ",".join(parts)


def parse_frame_ranges(text: str) -> list[int]:
    """The inverse of :func:`frame_ranges`."""
    numbers: list[int] = []
    for part in filter(None, text.split(",")):
        first, _, last = part.partition("-")
        numbers.extend(range(int(first), int(last or first) + 1))
    return numbers


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


class FrameWriter:
    """Base class: frame bookkeeping, atomic finish, context manager (aborts on exception)."""

    kind = ""

    def __init__(
        self,
        final_path: str | Path,
        frame_names: list[str],
        fps: float | None,
        frame_size: tuple[int, int],
        *,
        overwrite: bool = False,
        frame_numbers: list[int] | None = None,
        video_id: str | None = None,
        fallback_fps: float = 30.0,
    ):
        self.final_path = Path(final_path)
        self.video_id = video_id or self.final_path.name
        self.frame_names = list(frame_names)
        if not self.frame_names:
            raise ValueError(f"video {self.video_id}: no frame names given to the writer")
        self.frame_size = (int(frame_size[0]), int(frame_size[1]))
        self.frame_numbers = (
            list(range(len(self.frame_names))) if frame_numbers is None else list(frame_numbers)
        )
        if len(self.frame_numbers) != len(self.frame_names):
            raise ValueError(
                f"video {self.video_id}: {len(self.frame_numbers)} frame numbers for "
                f"{len(self.frame_names)} frame names"
            )
        self.fps = float(fps) if fps is not None and fps > 0 else None
        self.fallback_fps = float(fallback_fps)
        self.temp_path = partial_path(self.final_path)
        if self.final_path.exists() and not overwrite:
            raise FileExistsError(
                f"{self.final_path} already exists (a finished video); skip this video or pass "
                "overwrite=True to replace it"
            )
        self.final_path.parent.mkdir(parents=True, exist_ok=True)
        if self.temp_path.exists():
            log.info("removing the partial output of an earlier run: %s", self.temp_path)
            _remove(self.temp_path)
        self.frames_written = 0
        self.closed = False

    # -- subclass hooks
    def _write_frame(self, index: int, frame: np.ndarray) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        """Flush and close the temp output (called before the rename)."""

    def _discard(self) -> None:
        """Release resources without finishing (called before deleting the temp output)."""

    # -- public API
    def write(self, frames: np.ndarray) -> None:
        """Append a batch of frames, ``N x H x W x 3`` (or one ``H x W x 3``) RGB uint8."""
        if self.closed:
            raise RuntimeError(f"writer for {self.video_id} is already closed")
        frames = np.asarray(frames)
        if frames.ndim == 3:
            frames = frames[None]
        height, width = self.frame_size
        if frames.ndim != 4 or frames.shape[1:] != (height, width, 3):
            raise ValueError(
                f"video {self.video_id}: frames must be N x {height} x {width} x 3, got "
                f"{tuple(frames.shape)}"
            )
        if frames.dtype != np.uint8:
            raise ValueError(f"video {self.video_id}: frames must be uint8, got {frames.dtype}")
        if self.frames_written + len(frames) > len(self.frame_names):
            raise IncompleteVideoError(
                f"video {self.video_id} has {len(self.frame_names)} frames but "
                f"{self.frames_written + len(frames)} were written"
            )
        for frame in frames:
            self._write_frame(self.frames_written, frame)
            self.frames_written += 1

    def close(self) -> Path:
        """Finish the video; rename the temp output to ``final_path`` if it is complete."""
        if self.closed:
            return self.final_path
        self.closed = True
        self._finish()
        expected = len(self.frame_names)
        if self.frames_written != expected:
            raise IncompleteVideoError(
                f"video {self.video_id}: {self.frames_written} of {expected} frames were written; "
                f"the output stays at {self.temp_path} and will be redone on the next run"
            )
        if self.final_path.exists():  # overwrite=True
            _remove(self.final_path)
        self.temp_path.rename(self.final_path)
        log.debug("wrote %s (%d frames)", self.final_path, expected)
        return self.final_path

    def abort(self) -> None:
        """Drop everything written so far; neither the final nor the temp output remains."""
        if not self.closed:
            self.closed = True
            try:
                self._discard()
            finally:
                _remove(self.temp_path)
        elif self.temp_path.exists():
            _remove(self.temp_path)

    def __enter__(self) -> FrameWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()


def writer_threads(value: object) -> int:
    """``writer.threads``: a whole number >= 1, or ``auto`` (half the CPU cores, 1 to 8)."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # platforms without affinity masks
            cores = os.cpu_count() or 1
        return max(1, min(8, cores // 2))
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"writer.threads={value!r} must be a whole number >= 1 or auto")
    return value


class PngWriter(FrameWriter):
    """``<out>/<video>/<source frame stem>.png``, one lossless PNG per frame.

    With ``threads > 1`` frames are encoded on a pool of threads (OpenCV releases the GIL while
    it encodes), at most two per thread in flight; every file holds the same bytes either way.
    """

    kind = "png"

    def __init__(self, *args, compression: int = 1, threads: int | str = 1, **kwargs):
        super().__init__(*args, **kwargs)
        if not 0 <= int(compression) <= 9:
            raise ValueError(f"writer.compression={compression} must be 0..9 (zlib level)")
        self.compression = int(compression)
        self.threads = writer_threads(threads)
        self.temp_path.mkdir(parents=True)
        self._pool = None
        if self.threads > 1:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="png-writer")
        self._pending: deque[Future] = deque()

    def _encode(self, path: Path, bgr: np.ndarray) -> None:
        if not cv2.imwrite(str(path), bgr, [cv2.IMWRITE_PNG_COMPRESSION, self.compression]):
            raise OSError(f"could not write {path}; check the disk space and permissions")

    def _write_frame(self, index: int, frame: np.ndarray) -> None:
        path = self.temp_path / f"{self.frame_names[index]}.png"
        bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)  # a copy: the caller may reuse `frame`
        if self._pool is None:
            self._encode(path, bgr)
            return
        while len(self._pending) >= 2 * self.threads:
            self._pending.popleft().result()  # raises the error of a failed frame
        self._pending.append(self._pool.submit(self._encode, path, bgr))

    def _finish(self) -> None:
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._discard()

    def _discard(self) -> None:
        if self._pool is not None:
            for future in self._pending:
                future.cancel()
            self._pool.shutdown(wait=True)
            self._pool = None
        self._pending.clear()


class _AvWriter(FrameWriter):
    """Shared PyAV encoding loop."""

    container_format = ""

    def _open_stream(self, codec: str, pix_fmt: str, options: dict[str, str]) -> None:
        import av

        self._av = av
        self._container = av.open(str(self.temp_path), mode="w", format=self.container_format)
        fps = self.fps
        if fps is None:
            log.warning(
                "video %s has no known frame rate; writing it at %g fps (writer.fallback_fps)",
                self.video_id,
                self.fallback_fps,
            )
            fps = self.fallback_fps
        self._rate = Fraction(fps).limit_denominator(1001)
        self._stream = self._container.add_stream(codec, rate=self._rate, options=options)
        self._stream.height, self._stream.width = self._encoded_size()
        self._stream.pix_fmt = pix_fmt
        self._container.metadata["mesynth_video_id"] = self.video_id
        self._container.metadata["mesynth_frames"] = str(len(self.frame_names))
        self._container.metadata["mesynth_first_frame"] = self.frame_names[0]
        # Which source frame each output frame is (frames skipped in the source leave gaps).
        self._container.metadata["mesynth_source_frames"] = frame_ranges(self.frame_numbers)

    def _encoded_size(self) -> tuple[int, int]:
        return self.frame_size

    def _to_av_frame(self, frame: np.ndarray):
        return self._av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")

    def _write_frame(self, index: int, frame: np.ndarray) -> None:
        av_frame = self._to_av_frame(frame)
        av_frame.pts = index
        av_frame.time_base = 1 / self._rate
        for packet in self._stream.encode(av_frame):
            self._container.mux(packet)

    def _finish(self) -> None:
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()

    def _discard(self) -> None:
        self._container.close()


class Ffv1Writer(_AvWriter):
    """``<out>/<video>.mkv``: FFV1 in Matroska, bit-exact RGB (pixel format bgr0)."""

    kind = "ffv1"
    container_format = "matroska"

    def __init__(self, *args, level: int = 3, slicecrc: int = 1, gop: int = 1, **kwargs):
        super().__init__(*args, **kwargs)
        # bgr0 stores the RGB values untouched (no YUV conversion), so decoding gives back the
        # exact frames; FFV1 level 3 codes slices in parallel and checksums them.
        options = {"level": str(level), "slicecrc": str(slicecrc), "g": str(gop)}
        self._open_stream("ffv1", "bgr0", options)


def codec_available(name: str) -> bool:
    """Whether PyAV's ffmpeg can encode with ``name``."""
    import av

    try:
        av.codec.Codec(name, "w")
        return True
    except Exception:  # noqa: BLE001 - PyAV raises different types across versions
        return False


class Mp4PreviewWriter(_AvWriter):
    """``<out>/<video>.preview.mp4``: a small lossy preview (yuv420p, even frame size)."""

    kind = "mp4"
    container_format = "mp4"

    def __init__(
        self,
        *args,
        codec: str = "libx264",
        crf: int = 18,
        preset: str = "veryfast",
        fallback_codec: str = "mpeg4",
        fallback_qscale: int = 3,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        if codec_available(codec):
            options = {"crf": str(crf), "preset": str(preset)} if codec == "libx264" else {}
        else:
            log.info(
                "%s is not available in PyAV's ffmpeg; the preview uses %s", codec, fallback_codec
            )
            codec, options = fallback_codec, {"qscale": str(fallback_qscale)}
        self._open_stream(codec, "yuv420p", options)

    def _encoded_size(self) -> tuple[int, int]:
        # 4:2:0 chroma needs even sides; the odd last row/column is dropped from the preview.
        height, width = self.frame_size
        return height - height % 2, width - width % 2

    def _to_av_frame(self, frame: np.ndarray):
        height, width = self._encoded_size()
        return super()._to_av_frame(frame[:height, :width])


_WRITERS = {"png": PngWriter, "ffv1": Ffv1Writer, "mp4": Mp4PreviewWriter}
WRITER_KINDS = tuple(_WRITERS)


def open_writer(
    kind: str,
    final_path: str | Path,
    frame_names: list[str],
    fps: float | None,
    frame_size: tuple[int, int],
    *,
    overwrite: bool = False,
    frame_numbers: list[int] | None = None,
    video_id: str | None = None,
    **options: object,
) -> FrameWriter:
    """Start writing one video to ``final_path``; ``kind`` is ``png``, ``ffv1`` or ``mp4``.

    ``options`` are the kind's codec settings (``conf/writer/<kind>.yaml`` without ``kind``).
    """
    check_choice("writer kind", kind, WRITER_KINDS)
    return _WRITERS[kind](
        final_path,
        frame_names,
        fps,
        frame_size,
        overwrite=overwrite,
        frame_numbers=frame_numbers,
        video_id=video_id,
        **options,
    )


def source_frame_numbers(path: str | Path) -> list[int] | None:
    """The source frame numbers a video file written here records, or None if it records none.

    (Matroska upper-cases metadata keys, so they are compared without case.)
    """
    import av

    with av.open(str(path)) as container:
        metadata = {key.lower(): value for key, value in container.metadata.items()}
    text = metadata.get("mesynth_source_frames")
    return None if text is None else parse_frame_ranges(text)


def read_video(path: str | Path) -> np.ndarray:
    """Decode a whole (small) video file to ``N x H x W x 3`` RGB uint8; for checks and tests."""
    import av

    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    if not frames:
        raise ValueError(f"{path} holds no frames")
    return np.stack(frames)
