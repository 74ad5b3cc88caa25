"""Frame writers: PNG sequence, lossless FFV1 ``.mkv`` and an mp4 preview, all atomic.

Every writer writes to ``<final name>.partial`` and renames it to the final name in ``close()``
only when exactly one frame per source frame name was written, so a final file or folder always
means a complete video and a ``.partial`` one an interrupted run (see :func:`output_state`).
"""

from __future__ import annotations

import logging
import shutil
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

WRITER_KINDS = ("png", "ffv1", "mp4")
PARTIAL_SUFFIX = ".partial"
DEFAULT_FPS = 30.0
# OpenCV's zlib level: 1 is several times faster than 9 and only ~10% larger.
PNG_COMPRESSION = 1


class IncompleteVideoError(RuntimeError):
    """``close()`` found fewer or more frames than the video has; the output stays partial."""


def output_path(kind: str, output_dir: str | Path, video_id: str) -> Path:
    """Final path of a video's output: ``<out>/<video>/``, ``<out>/<video>.mkv`` or
    ``<out>/<video>.preview.mp4``."""
    output_dir = Path(output_dir)
    if kind == "png":
        return output_dir / video_id
    if kind == "ffv1":
        return output_dir / f"{video_id}.mkv"
    if kind == "mp4":
        return output_dir / f"{video_id}.preview.mp4"
    raise ValueError(f"writer kind {kind!r} is not one of {WRITER_KINDS}")


def partial_path(final: Path) -> Path:
    return final.with_name(final.name + PARTIAL_SUFFIX)


def output_state(kind: str, output_dir: str | Path, video_id: str) -> str:
    """``complete`` (final output exists), ``partial`` (an interrupted write) or ``missing``."""
    final = output_path(kind, output_dir, video_id)
    if final.exists():
        return "complete"
    if partial_path(final).exists():
        return "partial"
    return "missing"


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
        output_dir: str | Path,
        video_id: str,
        frame_names: list[str],
        fps: float | None,
        frame_size: tuple[int, int],
        overwrite: bool = False,
    ):
        self.video_id = video_id
        self.frame_names = list(frame_names)
        if not self.frame_names:
            raise ValueError(f"video {video_id}: no frame names given to the writer")
        self.frame_size = (int(frame_size[0]), int(frame_size[1]))
        if fps is None or fps <= 0:
            log.warning(
                "video %s has no known frame rate; writing it at %.0f fps", video_id, DEFAULT_FPS
            )
            fps = DEFAULT_FPS
        self.fps = float(fps)
        self.final_path = output_path(self.kind, output_dir, video_id)
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


class PngWriter(FrameWriter):
    """``<out>/<video>/<source frame stem>.png``, one lossless PNG per frame."""

    kind = "png"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.temp_path.mkdir(parents=True)

    def _write_frame(self, index: int, frame: np.ndarray) -> None:
        path = self.temp_path / f"{self.frame_names[index]}.png"
        bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        if not cv2.imwrite(str(path), bgr, [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION]):
            raise OSError(f"could not write {path}; check the disk space and permissions")


class _AvWriter(FrameWriter):
    """Shared PyAV encoding loop."""

    container_format = ""

    def _open_stream(self, codec: str, pix_fmt: str, options: dict[str, str]) -> None:
        import av

        self._av = av
        self._container = av.open(str(self.temp_path), mode="w", format=self.container_format)
        self._rate = Fraction(self.fps).limit_denominator(1001)
        self._stream = self._container.add_stream(codec, rate=self._rate, options=options)
        self._stream.height, self._stream.width = self._encoded_size()
        self._stream.pix_fmt = pix_fmt
        self._container.metadata["mesynth_video_id"] = self.video_id
        self._container.metadata["mesynth_frames"] = str(len(self.frame_names))
        self._container.metadata["mesynth_first_frame"] = self.frame_names[0]

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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # bgr0 stores the RGB values untouched (no YUV conversion), so decoding gives back the
        # exact frames; FFV1 level 3 codes slices in parallel and checksums them.
        self._open_stream("ffv1", "bgr0", {"level": "3", "slicecrc": "1", "g": "1"})


def preview_codec() -> str:
    """``libx264`` if PyAV's ffmpeg has it, else ``mpeg4`` (always built in)."""
    import av

    try:
        av.codec.Codec("libx264", "w")
        return "libx264"
    except Exception:  # noqa: BLE001 - PyAV raises different types across versions
        return "mpeg4"


class Mp4PreviewWriter(_AvWriter):
    """``<out>/<video>.preview.mp4``: a small lossy preview (yuv420p, even frame size)."""

    kind = "mp4"
    container_format = "mp4"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        codec = preview_codec()
        if codec != "libx264":
            log.info("libx264 is not available in PyAV's ffmpeg; the preview uses mpeg4")
        options = {"crf": "18", "preset": "veryfast"} if codec == "libx264" else {"qscale": "3"}
        self._open_stream(codec, "yuv420p", options)

    def _encoded_size(self) -> tuple[int, int]:
        # 4:2:0 chroma needs even sides; the odd last row/column is dropped from the preview.
        height, width = self.frame_size
        return height - height % 2, width - width % 2

    def _to_av_frame(self, frame: np.ndarray):
        height, width = self._encoded_size()
        return super()._to_av_frame(frame[:height, :width])


_WRITERS = {"png": PngWriter, "ffv1": Ffv1Writer, "mp4": Mp4PreviewWriter}


def open_writer(
    kind: str,
    output_dir: str | Path,
    video_id: str,
    frame_names: list[str],
    fps: float | None,
    frame_size: tuple[int, int],
    overwrite: bool = False,
) -> FrameWriter:
    """Start writing one video; ``kind`` is ``png``, ``ffv1`` or ``mp4``."""
    if kind not in _WRITERS:
        raise ValueError(f"writer kind {kind!r} is not one of {WRITER_KINDS}")
    return _WRITERS[kind](output_dir, video_id, frame_names, fps, frame_size, overwrite=overwrite)


def read_video(path: str | Path) -> np.ndarray:
    """Decode a whole (small) video file to ``N x H x W x 3`` RGB uint8; for checks and tests."""
    import av

    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    if not frames:
        raise ValueError(f"{path} holds no frames")
    return np.stack(frames)
