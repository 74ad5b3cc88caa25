"""Frames in, synthetic frames out, on one device or many: the ``trainer.predict`` side.

The work of a run is a list of :class:`VideoJob`. All their frames, concatenated in job order,
are cut into one contiguous shard per rank (:func:`shard_pieces`); each rank reads its shard in
batches of consecutive frames of one video (DataLoader workers decode and crop), runs the
landmark network and the generator with the video's precomputed style code, and hands the
frames to :class:`SynthesisWriter`, whose thread writes them behind a bounded queue so that
writing overlaps compute.

A rank that holds a whole video writes it straight to its final output. A video cut between
ranks is written as one raw segment per rank (``.segments/<video>/<start>-<stop>.npy``) and
joined into its final output by :func:`merge_segments` after all ranks are done, so every
frame is written exactly once and no output is ever assembled from two processes at once.
"""

from __future__ import annotations

import logging
import queue
import shutil
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from mesynth.faces.crop import Crop
from mesynth.video.sources import VideoSource
from mesynth.video.writers import open_writer

log = logging.getLogger(__name__)

SEGMENTS_DIR = ".segments"


# --------------------------------------------------------------------------------------------
# Images <-> network tensors (the one normaliser used for frames and references alike)


def images_to_tensor(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float (N, 3, H, W) in [-1, 1], channels-last in memory."""
    # Permuting NHWC gives an NCHW view with channels-last strides: no copy, and the layout
    # oneDNN/cuDNN convolutions are fastest with.
    return images.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def tensor_to_images(x: torch.Tensor) -> torch.Tensor:
    """float (N, 3, H, W) in [-1, 1] -> uint8 (N, H, W, 3), rounded to nearest."""
    return (
        x.float().add(1.0).mul_(127.5).add_(0.5).clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
    )


# --------------------------------------------------------------------------------------------
# The work


@dataclass
class VideoJob:
    """One video to make: where its frames come from, how they are cropped, where they go."""

    name: str  # output (synthetic) video id
    source: VideoSource
    crop: Crop
    frame_names: list[str]  # the frames to make (all of the source's, or the first max_frames)
    fps: float | None

    @property
    def num_frames(self) -> int:
        return len(self.frame_names)


@dataclass(frozen=True)
class Piece:
    """Frames ``start <= i < stop`` of job ``job``, all on one rank."""

    job: int
    start: int
    stop: int
    whole: bool  # the piece is the entire video


def shard_pieces(frame_counts: Sequence[int], rank: int, world_size: int) -> list[Piece]:
    """The contiguous share of rank ``rank`` of all frames (videos concatenated in order).

    Shares differ by at most one frame; a video falls to one rank unless a shard boundary cuts it.
    """
    total = sum(frame_counts)
    begin = total * rank // world_size
    end = total * (rank + 1) // world_size
    pieces, offset = [], 0
    for job, count in enumerate(frame_counts):
        start, stop = max(begin - offset, 0), min(end - offset, count)
        if start < stop:
            pieces.append(Piece(job, start, stop, start == 0 and stop == count))
        offset += count
    return pieces


def all_pieces(frame_counts: Sequence[int], world_size: int) -> list[list[Piece]]:
    return [shard_pieces(frame_counts, rank, world_size) for rank in range(world_size)]


def batches_of(pieces: Sequence[Piece], batch_size: int) -> list[tuple[int, int, int]]:
    """(job, start, stop) batches of at most ``batch_size`` consecutive frames of one video."""
    return [
        (piece.job, start, min(start + batch_size, piece.stop))
        for piece in pieces
        for start in range(piece.start, piece.stop, batch_size)
    ]


class FrameBatches(Dataset):
    """Item ``i``: batch ``i`` of a rank's frames, decoded and cropped (uint8 N x S x S x 3)."""

    def __init__(self, jobs: Sequence[VideoJob], batches: Sequence[tuple[int, int, int]]):
        self.jobs = list(jobs)
        self.batches = list(batches)

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int) -> dict:
        job_index, start, stop = self.batches[index]
        job = self.jobs[job_index]
        frames = np.stack(
            [job.crop.apply(frame, i) for i, frame in job.source.iter_frames(start, stop)]
        )
        if len(frames) != stop - start:
            raise RuntimeError(
                f"video {job.source.video_id}: asked for frames {start}..{stop - 1}, got "
                f"{len(frames)}"
            )
        return {"job": job_index, "start": start, "frames": torch.from_numpy(frames)}


class SynthesisData(L.LightningDataModule):
    """Serves each rank its contiguous shard of frames."""

    def __init__(
        self, jobs: Sequence[VideoJob], batch_size: int, num_workers: int, prefetch_factor: int = 2
    ):
        super().__init__()
        self.jobs = list(jobs)
        self.batch_size = int(batch_size)
        self.num_workers = int(num_workers)
        self.prefetch_factor = int(prefetch_factor)

    def frame_counts(self) -> list[int]:
        return [job.num_frames for job in self.jobs]

    def predict_dataloader(self) -> DataLoader:
        rank, world = self.trainer.global_rank, self.trainer.world_size
        pieces = shard_pieces(self.frame_counts(), rank, world)
        dataset = FrameBatches(self.jobs, batches_of(pieces, self.batch_size))
        extra = {}
        if self.num_workers > 0:
            # OpenCV's thread pool does not survive fork: a worker forked after this process
            # used it hangs in its first OpenCV call. With one thread there is no pool to
            # inherit, and the workers already decode and crop in parallel.
            cv2.setNumThreads(1)
            extra = {"prefetch_factor": self.prefetch_factor, "persistent_workers": False}
        return DataLoader(
            dataset,
            batch_size=None,  # items are whole batches already
            shuffle=False,
            num_workers=self.num_workers,
            pin_memory=self.trainer.strategy.root_device.type == "cuda",
            **extra,
        )


# --------------------------------------------------------------------------------------------
# The networks


class SynthesisModule(L.LightningModule):
    """Landmark masks + generator with one precomputed style code per job."""

    def __init__(
        self,
        generator: torch.nn.Module,
        fan: torch.nn.Module | None,
        style_codes: torch.Tensor,
        channels_last: bool = True,
        bf16: bool = True,
        compile: bool = False,
    ):
        super().__init__()
        self.generator = generator.eval()
        self.fan = fan.eval() if fan is not None else None
        self.register_buffer("style_codes", style_codes.detach().float(), persistent=False)
        self.channels_last = channels_last
        self.bf16 = bf16
        self.compile_nets = compile
        self._compiled = False

    def on_predict_start(self) -> None:
        if self.style_codes.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # one input shape all run long
        if self.channels_last:
            self.generator.to(memory_format=torch.channels_last)
            if self.fan is not None:
                self.fan.to(memory_format=torch.channels_last)
        if self.compile_nets and not self._compiled:
            self.generator = torch.compile(self.generator)
            if self.fan is not None:
                self.fan.get_heatmap = torch.compile(self.fan.get_heatmap)
            self._compiled = True

    def synthesize(self, frames: torch.Tensor, job: int) -> torch.Tensor:
        """uint8 frames (N, S, S, 3) of job ``job`` -> synthetic uint8 frames (N, S, S, 3)."""
        x = images_to_tensor(frames)
        if not self.channels_last:
            x = x.contiguous()
        use_bf16 = self.bf16 and x.device.type == "cuda"
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=use_bf16):
            masks = self.fan.get_heatmap(x) if self.fan is not None else None
            style = self.style_codes[job].expand(x.size(0), -1)
            fake = self.generator(x, style, masks=masks)
        return tensor_to_images(fake)

    def predict_step(self, batch: dict, batch_idx: int) -> dict:
        job = int(batch["job"])
        frames = self.synthesize(batch["frames"], job)
        frames = frames.contiguous().cpu().numpy()
        return {"job": job, "start": int(batch["start"]), "frames": frames}


# --------------------------------------------------------------------------------------------
# Writing


def segment_path(output_dir: Path, name: str, start: int, stop: int) -> Path:
    return Path(output_dir) / SEGMENTS_DIR / name / f"{start:09d}-{stop:09d}.npy"


class SegmentSink:
    """Raw frames of part of a video, to be joined by :func:`merge_segments`; atomic like a writer."""

    def __init__(self, path: Path, num_frames: int, frame_size: tuple[int, int]):
        self.final_path = path
        self.temp_path = path.with_name(path.name + ".partial")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.expected = num_frames
        self.array = np.lib.format.open_memmap(
            self.temp_path, mode="w+", dtype=np.uint8, shape=(num_frames, *frame_size, 3)
        )
        self.frames_written = 0

    def write(self, frames: np.ndarray) -> None:
        self.array[self.frames_written : self.frames_written + len(frames)] = frames
        self.frames_written += len(frames)

    def close(self) -> Path:
        if self.frames_written != self.expected:
            raise RuntimeError(
                f"segment {self.final_path}: {self.frames_written} of {self.expected} frames"
            )
        self.array.flush()
        del self.array
        self.temp_path.replace(self.final_path)
        return self.final_path

    def abort(self) -> None:
        self.array = None
        self.temp_path.unlink(missing_ok=True)


class VideoSink:
    """The final outputs of one video: the main writer and, optionally, an mp4 preview."""

    def __init__(self, kinds: Sequence[str], output_dir: Path, job: VideoJob, img_size: int):
        self.writers = []
        try:
            for kind in kinds:
                self.writers.append(
                    open_writer(
                        kind,
                        output_dir,
                        job.name,
                        job.frame_names,
                        job.fps,
                        (img_size, img_size),
                        overwrite=True,  # only videos not recorded as done are (re)made
                    )
                )
        except BaseException:
            self.abort()
            raise
        self.expected = job.num_frames
        self.frames_written = 0

    @property
    def final_path(self) -> Path:
        return self.writers[0].final_path

    def write(self, frames: np.ndarray) -> None:
        for writer in self.writers:
            writer.write(frames)
        self.frames_written += len(frames)

    def close(self) -> Path:
        for writer in self.writers:
            writer.close()
        return self.final_path

    def abort(self) -> None:
        for writer in self.writers:
            writer.abort()


def merge_segments(
    job: VideoJob,
    starts_stops: Sequence[tuple[int, int]],
    kinds: Sequence[str],
    output_dir: Path,
    img_size: int,
    chunk: int = 64,
) -> Path:
    """Join the segments of a video cut between ranks into its final output; remove them."""
    paths = [segment_path(output_dir, job.name, a, b) for a, b in starts_stops]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise RuntimeError(
            f"video {job.name}: segment(s) {missing} are missing, so a rank did not finish; "
            "re-run to redo this video"
        )
    sink = VideoSink(kinds, output_dir, job, img_size)
    try:
        for path, (start, stop) in zip(paths, starts_stops, strict=True):
            frames = np.load(path, mmap_mode="r")
            if len(frames) != stop - start:
                raise RuntimeError(f"segment {path} holds {len(frames)} frames, not {stop - start}")
            for begin in range(0, len(frames), chunk):
                sink.write(np.ascontiguousarray(frames[begin : begin + chunk]))
        final = sink.close()
    except BaseException:
        sink.abort()
        raise
    segments = Path(output_dir) / SEGMENTS_DIR
    shutil.rmtree(segments / job.name, ignore_errors=True)
    if segments.is_dir() and not any(segments.iterdir()):
        segments.rmdir()
    return final


class SynthesisWriter(BasePredictionWriter):
    """Writes predicted frames on a thread behind a bounded queue, with progress bars.

    ``on_video_done(job_index, final_path)`` is called (on global rank zero only) as soon as a
    whole video held by this rank is complete, so the manifest can say so before the run ends.
    """

    def __init__(
        self,
        output_dir: str | Path,
        kinds: Sequence[str],
        img_size: int = 256,
        queue_size: int = 8,
        on_video_done: Callable[[int, Path], None] | None = None,
        progress: bool = True,
    ):
        super().__init__(write_interval="batch")
        self.output_dir = Path(output_dir)
        self.kinds = list(kinds)
        self.img_size = int(img_size)
        self.queue_size = int(queue_size)
        self.on_video_done = on_video_done
        self.progress = progress
        self.thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def on_predict_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.jobs: list[VideoJob] = trainer.datamodule.jobs
        self.pieces = {
            p.job: p
            for p in shard_pieces(
                [job.num_frames for job in self.jobs], trainer.global_rank, trainer.world_size
            )
        }
        self.is_zero = trainer.is_global_zero
        self.sinks: dict[int, VideoSink | SegmentSink] = {}
        self.error: BaseException | None = None
        self.finished: list[int] = []
        self.queue: queue.Queue = queue.Queue(maxsize=self.queue_size)
        self.thread = threading.Thread(target=self._drain, name="synthesis-writer", daemon=True)
        self.thread.start()
        show = self.progress and self.is_zero
        rank_note = f" (rank 0 of {trainer.world_size})" if trainer.world_size > 1 else ""
        total = sum(p.stop - p.start for p in self.pieces.values())
        self.overall = tqdm(
            total=total, desc=f"all videos{rank_note}", unit="frame", disable=not show, position=0
        )
        self.current_bar: tqdm | None = None
        self.current_job: int | None = None

    def write_on_batch_end(
        self, trainer, pl_module, prediction, batch_indices, batch, batch_idx, dataloader_idx=0
    ) -> None:
        self._raise_if_failed()
        job = prediction["job"]
        self._progress(job, len(prediction["frames"]))
        self.queue.put((job, prediction["start"], prediction["frames"]))

    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._stop_thread()
        self._close_bars()
        if self.error is not None:
            self._abort_all()
        self._raise_if_failed()
        unfinished = [self.jobs[j].name for j in self.sinks]
        if unfinished:
            self._abort_all()
            raise RuntimeError(
                f"rank {trainer.global_rank}: video(s) {unfinished} were not finished"
            )
        # Every rank's segments must exist before rank zero joins them.
        trainer.strategy.barrier("synthesis-written")

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        if not hasattr(self, "sinks"):
            return  # failed before prediction started
        self._stop_thread()
        self._close_bars()
        self._abort_all()

    # -- internals -----------------------------------------------------------------------------
    def _progress(self, job: int, count: int) -> None:
        if job != self.current_job:
            if self.current_bar is not None:
                self.current_bar.close()
            piece = self.pieces[job]
            self.current_bar = tqdm(
                total=piece.stop - piece.start,
                desc=self.jobs[job].name,
                unit="frame",
                disable=self.overall.disable,
                leave=False,
                position=1,
            )
            self.current_job = job
        self.current_bar.update(count)
        self.overall.update(count)

    def _close_bars(self) -> None:
        if self.current_bar is not None:
            self.current_bar.close()
            self.current_bar = None
        self.overall.close()

    def _stop_thread(self) -> None:
        if self.thread is None:
            return
        self.queue.put(None)
        self.thread.join()
        self.thread = None

    def _raise_if_failed(self) -> None:
        if self.error is not None:
            raise RuntimeError(f"writing synthetic frames failed: {self.error}") from self.error

    def _abort_all(self) -> None:
        for sink in self.sinks.values():
            sink.abort()
        self.sinks.clear()

    def _drain(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            if self.error is not None:
                continue  # keep emptying the queue so the compute side never blocks
            try:
                self._write(*item)
            except BaseException as error:  # handed to the main thread by _raise_if_failed
                self.error = error

    def _write(self, job_index: int, start: int, frames: np.ndarray) -> None:
        job, piece = self.jobs[job_index], self.pieces[job_index]
        sink = self.sinks.get(job_index)
        if sink is None:
            if piece.whole:
                sink = VideoSink(self.kinds, self.output_dir, job, self.img_size)
            else:
                path = segment_path(self.output_dir, job.name, piece.start, piece.stop)
                size = (self.img_size, self.img_size)
                sink = SegmentSink(path, piece.stop - piece.start, size)
            self.sinks[job_index] = sink
        if start != piece.start + sink.frames_written:
            raise RuntimeError(
                f"video {job.name}: frames arrived out of order (expected frame "
                f"{piece.start + sink.frames_written}, got {start})"
            )
        sink.write(frames)
        if sink.frames_written == piece.stop - piece.start:
            final = sink.close()
            del self.sinks[job_index]
            self.finished.append(job_index)
            if piece.whole and self.is_zero and self.on_video_done is not None:
                self.on_video_done(job_index, final)
