"""Frames in, synthetic frames out, on one device or many: the ``trainer.predict`` side.

The videos to make (:class:`mesynth.synthesis.plan.VideoPlan`) are grouped into jobs, one per
source video (:func:`source_jobs`: the K identities of ``reference.per_video=K`` share one),
and the jobs, concatenated in order, are cut into one contiguous shard per rank
(:func:`shard_pieces`), once, in :class:`SynthesisData`. Each rank reads its shard in batches of
consecutive frames of one source (DataLoader workers decode and crop, once for all identities),
runs the landmark network and the generator's encoder once per frame and its decoder once per
identity with that video's precomputed style code (:class:`SynthesisModule`), and hands the
frames to :class:`SynthesisWriter`, whose thread writes them behind a bounded queue so that
writing overlaps compute.

A rank that holds a whole video writes it straight to its final output. A video cut between
ranks is written as one raw segment per rank and joined into its final output by
:func:`merge_segments` after all ranks are done, so every frame is written exactly once and no
output is ever assembled from two processes at once.
"""

from __future__ import annotations

import logging
import queue
import shutil
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from torch.utils.data import DataLoader, Dataset, get_worker_info
from tqdm.auto import tqdm

from mesynth.atomic import partial_path
from mesynth.config import check_choice, to_plain
from mesynth.faces.crop import CROP_MODES, Crop
from mesynth.synthesis.networks import images_to_tensor
from mesynth.synthesis.output import SynthesisOutput
from mesynth.synthesis.plan import VideoPlan
from mesynth.video.writers import open_writer

log = logging.getLogger(__name__)


def tensor_to_images(x: torch.Tensor) -> torch.Tensor:
    """float (N, 3, H, W) in [-1, 1] -> uint8 (N, H, W, 3), rounded to nearest."""
    return (
        x.float().add(1.0).mul_(127.5).add_(0.5).clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
    )


# --------------------------------------------------------------------------------------------
# Jobs and sharding


@dataclass
class SourceJob:
    """The videos made from one source video's frames in one pass: one per identity."""

    videos: list[VideoPlan]

    @property
    def source(self):
        return self.videos[0].source

    @property
    def num_frames(self) -> int:
        return self.videos[0].num_frames

    @property
    def crop(self) -> Crop | None:
        return self.videos[0].crop

    @property
    def style_indices(self) -> list[int]:
        return [video.style_index for video in self.videos]

    @property
    def label(self) -> str:
        names = [video.name for video in self.videos]
        return names[0] if len(names) == 1 else f"{names[0]} (+{len(names) - 1} identities)"


def source_jobs(videos: Sequence[VideoPlan]) -> list[SourceJob]:
    """The videos grouped by source video, in the order the sources first appear."""
    jobs: dict[int, SourceJob] = {}
    for video in videos:
        job = jobs.setdefault(id(video.source), SourceJob([]))
        if job.videos and video.frame_names != job.videos[0].frame_names:
            raise ValueError(
                f"videos {job.videos[0].name} and {video.name} come from one source but with "
                "different frames; one pass makes the same frames for every identity"
            )
        job.videos.append(video)
    return list(jobs.values())


@dataclass(frozen=True)
class Piece:
    """Frames ``start <= i < stop`` of job ``job`` (its position in the list), on one rank."""

    job: int
    start: int
    stop: int
    whole: bool  # the piece is the entire video

    @property
    def size(self) -> int:
        return self.stop - self.start


def shard_pieces(frame_counts: Sequence[int], rank: int, world_size: int) -> list[Piece]:
    """The contiguous share of rank ``rank`` of all frames (jobs concatenated in order).

    Shares differ by at most one frame; a job falls to one rank unless a shard boundary cuts it.
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


def cut_videos(frame_counts: Sequence[int], world_size: int) -> dict[int, list[tuple[int, int]]]:
    """Jobs cut between ranks: job -> its (start, stop) segments in order."""
    spans: dict[int, list[tuple[int, int]]] = {}
    for pieces in all_pieces(frame_counts, world_size):
        for piece in pieces:
            if not piece.whole:
                spans.setdefault(piece.job, []).append((piece.start, piece.stop))
    return {job: sorted(segments) for job, segments in spans.items()}


def batches_of(pieces: Sequence[Piece], batch_size: int) -> list[tuple[int, int, int]]:
    """(job, start, stop) batches of at most ``batch_size`` consecutive frames of one job."""
    return [
        (piece.job, start, min(start + batch_size, piece.stop))
        for piece in pieces
        for start in range(piece.start, piece.stop, batch_size)
    ]


# --------------------------------------------------------------------------------------------
# Reading


class FrameBatches(Dataset):
    """Item ``i``: batch ``i`` of a rank's frames, decoded and cropped (uint8 N x S x S x 3).

    In a DataLoader worker, an error reading the frames is handed over as the item instead of
    raised there, so the main process raises the original error (its message names the file)
    rather than a worker traceback.
    """

    def __init__(self, jobs: Sequence[SourceJob], batches: Sequence[tuple[int, int, int]]):
        self.jobs = list(jobs)
        self.batches = list(batches)

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int) -> dict:
        job, start, stop = self.batches[index]
        try:
            return {"job": job, "start": start, "frames": self.read(job, start, stop)}
        except Exception as error:
            if get_worker_info() is None:
                raise
            return {"job": job, "start": start, "error": error}

    def read(self, job: int, start: int, stop: int) -> torch.Tensor:
        source, crop = self.jobs[job].source, self.jobs[job].crop
        frames = [crop.apply(frame, i) for i, frame in source.iter_frames(start, stop)]
        if len(frames) != stop - start:
            raise RuntimeError(
                f"video {source.video_id}: asked for frames {start}..{stop - 1}, got {len(frames)}"
            )
        return torch.from_numpy(np.stack(frames))


class CropFinder:
    """A source's face crop, shared by all its identities' videos: reused from a saved
    ``crops/<video>.json`` that fits, else estimated; saved for every video that lacks it. Runs
    on rank zero only (see SynthesisData.setup)."""

    def __init__(self, cfg, output: SynthesisOutput, img_size: int, detector) -> None:
        self.mode = str(cfg.crop)
        check_choice("crop", self.mode, CROP_MODES)
        self.options = dict(to_plain(cfg.crop_options) or {})
        self.options.setdefault("progress", bool(cfg.progress))
        self.output, self.size, self.detector = output, int(img_size), detector

    def fits(self, crop: Crop, source) -> bool:
        return (
            crop.mode == self.mode
            and crop.output_size == self.size
            and crop.source_size == tuple(source.frame_size)
            and (self.mode != "tracked" or len(crop.matrices) == len(source))
        )

    def saved(self, job: SourceJob) -> Crop | None:
        for video in job.videos:
            path = self.output.crop_path(video.name)
            if path.is_file():
                crop = Crop.load(path)
                if self.fits(crop, job.source):
                    log.info("video %s: reusing crop %s", video.name, path)
                    return crop
                log.info("the saved crop %s does not fit this run; estimating it again", path)
        return None

    def __call__(self, job: SourceJob) -> Crop:
        crop, source = self.saved(job), job.source
        if crop is None and self.mode == "none":
            crop = Crop.full_frame(source.frame_size, self.size)
        elif crop is None:
            from mesynth.faces.align import estimate_crop

            crop = estimate_crop(
                source, self.mode, self.size, detector=self.detector, **self.options
            )
        for video in job.videos:
            path = self.output.crop_path(video.name)
            if not path.is_file() or Crop.load(path) != crop:
                crop.save(path)
        return crop


class SynthesisData(L.LightningDataModule):
    """Serves each rank its contiguous shard of frames, cropped with each source's face crop.

    ``setup`` cuts the shards (once: the writer reads them from here) and finds the crops:
    rank zero estimates (or reuses) and saves them, the other ranks read them after a barrier.
    """

    def __init__(
        self,
        videos: Sequence[VideoPlan],
        output: SynthesisOutput,
        find_crop,
        batch_size: int,
        num_workers: int,
        prefetch_factor: int,
    ):
        super().__init__()
        self.videos = list(videos)
        self.jobs = source_jobs(self.videos)
        self.output = output
        self.find_crop = find_crop  # (SourceJob) -> Crop, on rank zero
        self.batch_size = int(batch_size)
        self.num_workers = int(num_workers)
        self.prefetch_factor = int(prefetch_factor)
        self.pieces: list[Piece] = []

    def setup(self, stage: str) -> None:
        trainer = self.trainer
        counts = [job.num_frames for job in self.jobs]
        self.pieces = shard_pieces(counts, trainer.global_rank, trainer.world_size)
        if trainer.is_global_zero:
            for job in self.jobs:
                crop = self.find_crop(job)
                for video in job.videos:
                    video.crop = crop
        trainer.strategy.barrier("synthesis-crops")
        if not trainer.is_global_zero:
            for video in self.videos:
                video.crop = Crop.load(self.output.crop_path(video.name))

    def predict_dataloader(self) -> DataLoader:
        dataset = FrameBatches(self.jobs, batches_of(self.pieces, self.batch_size))
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
    """Landmark masks + generator with one precomputed style code per video.

    The masks and the generator's encoder run once per frame; its decoder once per identity of
    the frame's source (``SourceJob.style_indices``), on the same batch as a run of one identity
    would, so every identity's frames are bit-identical to those of a run of it alone.

    ``num_threads``: torch threads per process (None keeps what the device and launcher give).
    The landmark heatmap is truncated at 0.1 before it becomes the high-pass masks, so the float
    rounding of another thread count can flip single mask pixels; a fixed count makes the output
    independent of how many processes share the work.
    """

    def __init__(
        self,
        generator: torch.nn.Module,
        fan: torch.nn.Module | None,
        style_codes: torch.Tensor,
        channels_last: bool,
        bf16: bool,
        compile: bool,
        num_threads: int | None = None,
    ):
        super().__init__()
        self.generator = generator.eval()
        self.encode = self.generator.encode_content
        self.decode = self.generator.decode_style
        self.fan = fan.eval() if fan is not None else None
        self.register_buffer("style_codes", style_codes.detach().float(), persistent=False)
        self.channels_last = channels_last
        self.bf16 = bf16
        self.compile_nets = compile
        self.num_threads = num_threads
        self._compiled = False

    def on_predict_start(self) -> None:
        if self.num_threads is not None:
            torch.set_num_threads(int(self.num_threads))
        self.num_threads = torch.get_num_threads()
        if self.style_codes.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # one input shape all run long
        if self.channels_last:
            self.generator.to(memory_format=torch.channels_last)
            if self.fan is not None:
                self.fan.to(memory_format=torch.channels_last)
        if self.compile_nets and not self._compiled:
            self.encode = torch.compile(self.generator.encode_content)
            self.decode = torch.compile(self.generator.decode_style)
            if self.fan is not None:
                self.fan.get_heatmap = torch.compile(self.fan.get_heatmap)
            self._compiled = True

    def synthesize(self, frames: torch.Tensor, style_indices: Sequence[int]) -> torch.Tensor:
        """uint8 frames (N, S, S, 3) -> synthetic uint8 frames (K, N, S, S, 3), one set per
        style code (row of ``style_codes``) in ``style_indices``."""
        x = images_to_tensor(frames)
        if not self.channels_last:
            x = x.contiguous()
        use_bf16 = self.bf16 and x.device.type == "cuda"
        fakes = []
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=use_bf16):
            masks = self.fan.get_heatmap(x) if self.fan is not None else None
            content = self.encode(x, masks)
            for style_index in style_indices:
                style = self.style_codes[style_index].expand(x.size(0), -1)
                fakes.append(tensor_to_images(self.decode(content, style)))
        return torch.stack(fakes)

    def predict_step(self, batch: dict, batch_idx: int) -> dict:
        if "error" in batch:
            raise batch["error"]  # read in a DataLoader worker; see FrameBatches
        job = int(batch["job"])
        style_indices = self.trainer.datamodule.jobs[job].style_indices
        frames = self.synthesize(batch["frames"], style_indices)
        return {
            "job": job,
            "start": int(batch["start"]),
            "frames": frames.contiguous().cpu().numpy(),  # (identities, N, S, S, 3)
        }


# --------------------------------------------------------------------------------------------
# Writing


class SegmentSink:
    """Raw frames of part of a video, to be joined by :func:`merge_segments`; atomic like a writer."""

    def __init__(self, path: Path, num_frames: int, frame_size: tuple[int, int]):
        self.final_path = path
        self.temp_path = partial_path(path)
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
    """The final outputs of one video (the main writer and an optional mp4 preview), and the
    frame map of a video file (which source frame each output frame is)."""

    def __init__(
        self,
        output: SynthesisOutput,
        writers: Mapping[str, Mapping],
        video: VideoPlan,
        frame_size: tuple[int, int],
    ):
        self.output, self.video = output, video
        self.writers = []
        try:
            for kind, options in writers.items():
                self.writers.append(
                    open_writer(
                        kind,
                        output.video_path(video.name, kind),
                        video.frame_names,
                        video.fps,
                        frame_size,
                        overwrite=True,  # only videos not found complete are (re)made
                        frame_numbers=video.frame_numbers,
                        video_id=video.name,
                        **options,
                    )
                )
        except BaseException:
            self.abort()
            raise
        self.frames_written = 0

    def write(self, frames: np.ndarray) -> None:
        for writer in self.writers:
            writer.write(frames)
        self.frames_written += len(frames)

    def close(self) -> Path:
        if self.output.needs_frame_map([writer.kind for writer in self.writers]):
            self.output.write_frame_map(
                self.video.name, self.video.frame_numbers, self.video.frame_names
            )
        for writer in self.writers:
            writer.close()
        return self.writers[0].final_path

    def abort(self) -> None:
        for writer in self.writers:
            writer.abort()


def merge_segments(
    output: SynthesisOutput,
    writers: Mapping[str, Mapping],
    video: VideoPlan,
    segments: Sequence[tuple[int, int]],
    chunk: int = 64,
) -> Path:
    """Join the segments of a video cut between ranks into its final output; remove them."""
    paths = [output.segment_path(video.name, a, b) for a, b in segments]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise RuntimeError(
            f"video {video.name}: segment(s) {missing} are missing, so a rank did not finish; "
            "re-run to redo this video"
        )
    arrays = [np.load(path, mmap_mode="r") for path in paths]
    sink = VideoSink(output, writers, video, tuple(arrays[0].shape[1:3]))
    try:
        for path, frames, (start, stop) in zip(paths, arrays, segments, strict=True):
            if len(frames) != stop - start:
                raise RuntimeError(f"segment {path} holds {len(frames)} frames, not {stop - start}")
            for begin in range(0, len(frames), chunk):
                sink.write(np.ascontiguousarray(frames[begin : begin + chunk]))
        final = sink.close()
    except BaseException:
        sink.abort()
        raise
    shutil.rmtree(output.segments_dir(video.name), ignore_errors=True)
    return final


class RankProgress:
    """Frames done per rank, shared through small files so rank zero can show the whole run."""

    def __init__(self, output: SynthesisOutput, rank: int, world_size: int, every_s: float = 0.5):
        self.output, self.rank, self.world_size, self.every_s = output, rank, world_size, every_s
        self.done, self.last = 0, 0.0
        self.others: dict[int, int] = {}  # the other ranks' frames as last read

    def add(self, count: int) -> None:
        self.done += count
        if self.world_size > 1 and time.monotonic() - self.last > self.every_s:
            self.flush()

    def flush(self) -> None:
        """Write this rank's count and read the others' (at most every ``every_s`` seconds)."""
        path = self.output.progress_path(self.rank)
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = partial_path(path)
        temp.write_text(str(self.done))
        temp.replace(path)
        for rank in range(self.world_size):
            if rank == self.rank:
                continue
            try:
                self.others[rank] = int(self.output.progress_path(rank).read_text() or 0)
            except (OSError, ValueError):
                continue  # not written yet, or being replaced this instant: keep the last count
        self.last = time.monotonic()

    def total(self) -> int:
        """Frames done by all ranks (this rank's exact, the others' as last read)."""
        return self.done + sum(self.others.values())


class SynthesisWriter(BasePredictionWriter):
    """Writes predicted frames on a thread behind a bounded queue, with progress bars.

    ``writers``: writer kind -> its codec options (``conf/writer``). The shard, the jobs and
    the frame size all come from the datamodule and the frames themselves; a prediction holds
    the frames of every identity of its job, each written to that identity's own video.
    """

    def __init__(
        self,
        output: SynthesisOutput,
        writers: Mapping[str, Mapping],
        queue_size: int,
        progress: bool,
    ):
        super().__init__(write_interval="batch")
        self.output = output
        self.writers = {kind: dict(options) for kind, options in writers.items()}
        self.queue_size = int(queue_size)
        self.progress = progress
        self.thread: threading.Thread | None = None
        self.sinks: dict[tuple[int, int], VideoSink | SegmentSink] = {}  # (job, identity)

    # -- lifecycle -----------------------------------------------------------------------------
    def on_predict_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        data: SynthesisData = trainer.datamodule
        self.jobs = data.jobs
        self.pieces = {piece.job: piece for piece in data.pieces}
        self.error: BaseException | None = None
        self.queue: queue.Queue = queue.Queue(maxsize=self.queue_size)
        self.thread = threading.Thread(target=self._drain, name="synthesis-writer", daemon=True)
        self.thread.start()
        world = trainer.world_size
        self.ranks = RankProgress(self.output, trainer.global_rank, world)
        show = self.progress and trainer.is_global_zero
        total = sum(job.num_frames * len(job.videos) for job in self.jobs)
        desc = f"all videos ({world} processes)" if world > 1 else "all videos"
        self.overall = tqdm(total=total, desc=desc, unit="frame", disable=not show, position=0)
        self.video_bar: tqdm | None = None
        self.video_job: int | None = None
        self.video_started = time.time()  # tqdm's clock

    def write_on_batch_end(
        self, trainer, pl_module, prediction, batch_indices, batch, batch_idx, dataloader_idx=0
    ) -> None:
        self._raise_if_failed()
        job = prediction["job"]
        identities, count = prediction["frames"].shape[:2]
        self._progress(job, count, identities)
        self.queue.put((job, prediction["start"], prediction["frames"]))

    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._stop_thread()
        self.ranks.flush()
        self._close_bars()
        if self.error is not None:
            self._abort_all()
        self._raise_if_failed()
        unfinished = [self.jobs[job].videos[identity].name for job, identity in self.sinks]
        if unfinished:
            self._abort_all()
            raise RuntimeError(
                f"rank {trainer.global_rank}: video(s) {unfinished} were not finished"
            )
        # Every rank's segments must exist before rank zero joins them.
        trainer.strategy.barrier("synthesis-written")

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        self._stop_thread()
        if hasattr(self, "overall"):
            self._close_bars()
        self._abort_all()

    # -- internals -----------------------------------------------------------------------------
    def _progress(self, job: int, count: int, identities: int) -> None:
        """``count`` frames of ``job`` made, for each of its ``identities``."""
        if job != self.video_job:
            if self.video_bar is not None:
                self.video_bar.close()
            self.video_bar = tqdm(
                total=self.pieces[job].size,
                desc=self.jobs[job].label,
                unit="frame",
                disable=self.overall.disable,
                leave=False,
                position=1,
            )
            # The video's first batch was computed before it got here: measure from its start.
            self.video_bar.start_t = self.video_bar.last_print_t = self.video_started
            self.video_job = job
        self.video_bar.update(count)
        if self.video_bar.n >= self.video_bar.total:
            self.video_started = time.time()
        self.ranks.add(count * identities)
        if not self.overall.disable:
            self.overall.update(self.ranks.total() - self.overall.n)

    def _close_bars(self) -> None:
        if self.video_bar is not None:
            self.video_bar.close()
            self.video_bar = None
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

    def _open_sink(self, job: int, identity: int, piece: Piece, frame_size: tuple[int, int]):
        video = self.jobs[job].videos[identity]
        if piece.whole:
            return VideoSink(self.output, self.writers, video, frame_size)
        path = self.output.segment_path(video.name, piece.start, piece.stop)
        return SegmentSink(path, piece.size, frame_size)

    def _write(self, job: int, start: int, frames: np.ndarray) -> None:
        """Frames (identities, N, S, S, 3) of ``job`` from frame ``start`` on."""
        piece = self.pieces[job]
        for identity, identity_frames in enumerate(frames):
            key = (job, identity)
            sink = self.sinks.get(key)
            if sink is None:
                size = tuple(identity_frames.shape[1:3])
                sink = self.sinks[key] = self._open_sink(job, identity, piece, size)
            if start != piece.start + sink.frames_written:
                raise RuntimeError(
                    f"video {self.jobs[job].videos[identity].name}: frames arrived out of order "
                    f"(expected frame {piece.start + sink.frames_written}, got {start})"
                )
            sink.write(identity_frames)
            if sink.frames_written == piece.size:
                sink.close()
                del self.sinks[key]
