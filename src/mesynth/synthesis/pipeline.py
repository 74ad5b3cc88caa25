"""One synthesis run: videos in, a synthetic dataset with its labels out.

``run(cfg)`` is plan -> execute -> record:

1. :func:`mesynth.synthesis.plan.plan_videos` decides every video's reference, name, frames and
   style code, and which videos an earlier run finished; it writes nothing and raises on
   anything that would be refused.
2. :func:`execute` computes the style codes and runs ``trainer.predict``: frames -> face crop ->
   tensor in [-1, 1] -> masks (landmark network) -> generator(x, style code of the video) ->
   writer; the K identities of one source video share one pass over its frames.
3. :func:`record_outcomes` joins videos cut between ranks and is the one place that decides
   whether each video is done or failed (after a crash too) and says so in ``manifest.json``.

Alongside the frames the run writes ``references.csv``, ``crops/<video>.json`` and (given
``annotations=``) ``annotations.csv`` re-keyed to the synthetic videos; the folder's layout is
:class:`mesynth.synthesis.output.SynthesisOutput`'s.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import warnings
from pathlib import Path

from omegaconf import DictConfig

from mesynth.config import check_choice, resolve_num_workers, to_plain
from mesynth.launch import launch_rank
from mesynth.synthesis.networks import Networks, StyleCodes, banner, torch_threads
from mesynth.synthesis.output import WRITER_KINDS, SynthesisOutput
from mesynth.synthesis.plan import RunPlan, open_videos, plan_videos
from mesynth.synthesis.references import write_references_csv

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# Settings


def writer_settings(cfg: DictConfig) -> dict[str, dict]:
    """Writer kind -> codec options: the main writer and, with ``preview=true``, the mp4 one."""
    main = dict(to_plain(cfg.writer))
    kind = main.pop("kind", None)
    check_choice("writer", kind, WRITER_KINDS, hint="e.g. writer=ffv1")
    writers = {kind: main}
    if cfg.preview and kind != "mp4":
        preview = dict(to_plain(cfg.preview_writer))
        preview.pop("kind", None)
        writers["mp4"] = preview
    return writers


# The settings that decide which frames a run makes and how they are named: the same values
# give the same default output folder.
FOLDER_SETTINGS = (
    "source",
    "layout",
    "on_bad_frame",
    "videos",
    "max_frames",
    "ckpt",
    "wing",
    "img_size",
    "reference",
    "reference_crop",
    "crop",
    "crop_options",
    "faces",
    "video_name",
    "fps",
    "writer",
    "preview",
)


def output_folder(cfg: DictConfig) -> Path:
    """``output_dir``, or the folder its inputs give when it is null (see conf/infer.yaml)."""
    if cfg.output_dir is not None:
        return Path(str(cfg.output_dir))
    settings = {key: to_plain(cfg.get(key)) for key in FOLDER_SETTINGS}
    for key in ("source", "ckpt", "wing"):
        if settings[key] is not None:
            settings[key] = str(Path(str(settings[key])).resolve())
    if isinstance(settings["crop_options"], dict):
        settings["crop_options"].pop("progress", None)
    if cfg.ckpt is None:  # random networks: their shapes and seed decide the frames too
        settings.update(net=to_plain(cfg.net), seed=int(cfg.seed))
    text = json.dumps(settings, sort_keys=True, default=str)
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    name = Path(str(cfg.source)).name or "source"
    return Path(str(cfg.output_root)) / f"{name}-{digest}"


def speed_settings(cfg: DictConfig, device_type: str) -> tuple[int, bool]:
    """Batch size and memory layout, resolving ``auto`` from ``cfg.auto`` for the device type."""
    batch_size, channels_last = cfg.batch_size, cfg.channels_last
    if batch_size == "auto":
        batch_size = cfg.auto.batch_size.get(device_type, cfg.auto.batch_size.other)
    if channels_last == "auto":
        channels_last = cfg.auto.channels_last.get(device_type, cfg.auto.channels_last.other)
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1 or auto, got {batch_size}")
    if not isinstance(channels_last, bool):
        raise ValueError(f"channels_last must be true, false or auto, got {channels_last!r}")
    return int(batch_size), channels_last


def thread_setting(value: object) -> int | None:
    """``num_threads``: None for ``auto`` (what the device and launcher give), else >= 1."""
    if value == "auto":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"num_threads must be a whole number >= 1 or auto, got {value!r}")
    return value


def make_trainer(cfg: DictConfig, callbacks: list):
    import lightning as L

    # Batches are whole items of the dataset (no sampler to take indices from), and the loader
    # is iterated once per run: Lightning's hints about both do not apply.
    warnings.filterwarnings("ignore", message=".*infer the batch indices.*")
    warnings.filterwarnings("ignore", message=".*persistent_workers=True.*")
    return L.Trainer(
        logger=False,
        enable_progress_bar=False,  # the prediction writer shows per-video and overall bars
        enable_model_summary=False,
        enable_checkpointing=False,
        use_distributed_sampler=False,  # contiguous shards are cut by SynthesisData itself
        inference_mode=True,
        default_root_dir=str(output_folder(cfg)),
        callbacks=callbacks,
        **to_plain(cfg.trainer),
    )


# --------------------------------------------------------------------------------------------
# The run


def run(cfg: DictConfig) -> dict | None:
    """Synthesise every video of ``cfg.source``; returns a summary (None on non-zero ranks)."""
    from mesynth.faces.landmarks import LazyDetector

    started = time.perf_counter()
    output = SynthesisOutput(output_folder(cfg))
    writers = writer_settings(cfg)
    sources = open_videos(cfg)
    previous = output.read_manifest()
    recorded = None if previous is None else previous.to_dict()
    networks = Networks(cfg, previous)
    detector = LazyDetector(**to_plain(cfg.faces))
    reference_detector = detector if str(cfg.reference_crop) != "none" else None
    style = StyleCodes(
        networks, str(cfg.reference_crop), reference_detector, thread_setting(cfg.num_threads)
    )
    plan = plan_videos(cfg, sources, networks, previous, output, list(writers), style.encode_many)
    annotations = carry_annotations(cfg, plan)
    if plan.skipped:
        names = [video.name for video in plan.skipped]
        log.info("%d video(s) already done, skipped: %s", len(names), ", ".join(names[:10]))
    if not plan.todo:
        if launch_rank() != 0:
            return None
        record_finished_folder(plan, output, recorded)
        return finish(cfg, plan, output, started, annotations)

    from mesynth.synthesis.predict import CropFinder, SynthesisWriter

    writer = SynthesisWriter(output, writers, int(cfg.write_queue), bool(cfg.progress))
    trainer = make_trainer(cfg, [writer])
    zero = trainer.is_global_zero
    if zero:
        output.write_manifest(plan.manifest)
        names = [video.name for video in plan.videos]
        write_references_csv(plan.assignments, output.references_path, names)
    nets = networks.nets
    try:
        find_crop = CropFinder(cfg, output, int(nets.config.img_size), detector)
        num_threads = execute(cfg, plan, nets, style, trainer, output, find_crop)
    except BaseException as error:
        if zero:
            record_outcomes(plan, output, writers, error=error)
        raise
    if not zero:
        return None
    record_outcomes(plan, output, writers, world_size=trainer.world_size, num_threads=num_threads)
    return finish(cfg, plan, output, started, annotations)


def execute(
    cfg: DictConfig, plan: RunPlan, nets, style, trainer, output: SynthesisOutput, find_crop
) -> int:
    """The style codes, then ``trainer.predict`` over the videos to make; returns the torch
    threads per process."""
    from mesynth.synthesis.predict import SynthesisData, SynthesisModule

    todo = plan.todo
    log.info(
        "synthesising %d frames of %d video(s) with %d style code(s) into %s",
        sum(video.num_frames for video in todo),
        len(todo),
        len(plan.style_keys),
        output.root,
    )
    device_type = trainer.strategy.root_device.type
    batch_size, channels_last = speed_settings(cfg, device_type)
    workers = resolve_num_workers(cfg.num_workers)
    log.info(
        "batches of %d frame(s), %s memory layout on %s, %d loader worker(s)",
        batch_size,
        "channels-last" if channels_last else "contiguous",
        device_type,
        workers,
    )
    module = SynthesisModule(
        nets.generator,
        nets.fan,
        style.stacked(plan.style_keys),
        channels_last=channels_last,
        bf16=bool(cfg.bf16),
        compile=bool(cfg.compile),
        num_threads=thread_setting(cfg.num_threads),
    )
    data = SynthesisData(todo, output, find_crop, batch_size, workers, int(cfg.prefetch_factor))
    with torch_threads(None):  # the module sets the run's count; the process gets its own back
        trainer.predict(module, datamodule=data, return_predictions=False)
    return int(module.num_threads)


def record_outcomes(
    plan: RunPlan,
    output: SynthesisOutput,
    writers: dict[str, dict],
    world_size: int = 1,
    num_threads: int | None = None,
    error: BaseException | None = None,
) -> None:
    """Decide, from the outputs on disk, which videos are done and which failed; record it.

    Videos cut between ranks are joined first (after a successful predict only). A video is done
    when every output of it is complete (:meth:`SynthesisOutput.is_complete`).
    """
    from mesynth.synthesis.predict import cut_videos, merge_segments, source_jobs

    todo = plan.todo
    failures: dict[str, str] = {}
    if error is None and world_size > 1:
        jobs = source_jobs(todo)
        for job, segments in cut_videos([j.num_frames for j in jobs], world_size).items():
            for video in jobs[job].videos:
                try:
                    final = merge_segments(output, writers, video, segments)
                    log.info("joined %d segments of %s into %s", len(segments), video.name, final)
                except Exception as merge_error:  # recorded per video and raised below
                    failures[video.name] = f"{type(merge_error).__name__}: {merge_error}"
    updates = {}
    for video in todo:
        if output.is_complete(video.name, plan.kinds, video.frame_names):
            updates[video.name] = output.finished_fields(video.name, plan.kinds, video.num_frames)
            continue
        reason = failures.get(video.name) or (error and f"{type(error).__name__}: {error}")
        updates[video.name] = {
            "status": "failed",
            "frames_written": 0,
            "output": None,
            "error": reason or "the output is incomplete",
        }
    top = {} if num_threads is None else {"num_threads": num_threads}
    output.update_records(updates, **top)
    remove_leftovers(plan, output, [name for name, f in updates.items() if f["status"] == "done"])
    failed = sorted(name for name, fields in updates.items() if fields["status"] != "done")
    if failed and error is None:
        raise RuntimeError(
            f"{len(failed)} video(s) were not completed: {failed[:5]}; see "
            f"{output.manifest_path}. Re-running the same command redoes them."
        )


def remove_leftovers(plan: RunPlan, output: SynthesisOutput, made: list[str]) -> None:
    """Segments of finished videos (left by a crashed multi-process run, whatever its process
    count) and the per-rank progress files."""
    for name in [*made, *(video.name for video in plan.skipped)]:
        output.remove_segments(name)
    output.remove_progress()


def record_finished_folder(plan: RunPlan, output: SynthesisOutput, recorded: dict | None) -> None:
    """A re-run with nothing to make: records what an interrupted run finished but did not get
    to record (``recorded``: the manifest as it was read)."""
    if recorded is None or {**recorded, "updated": ""} != {
        **plan.manifest.to_dict(),
        "updated": "",
    }:
        output.write_manifest(plan.manifest)
    remove_leftovers(plan, output, [])


# --------------------------------------------------------------------------------------------
# After the frames


def carry_annotations(cfg: DictConfig, plan: RunPlan):
    """The source annotations for the videos of this run, keyed by the synthetic video ids (a
    DataFrame, None without ``annotations=``); read and checked before any frame is made."""
    if cfg.annotations is None:
        return None
    from mesynth.video.annotations import check_against_sources, read_annotations, rekey_annotations

    table = read_annotations(cfg.annotations, fmt=cfg.annotations_format)
    # Frames outside their video (an offset past the last frame...) are tagged in `quirks`.
    sources = {video.source.video_id: video.source for video in plan.videos}
    ours = table["video"].astype(str).isin(sources)
    table.loc[ours, "quirks"] = check_against_sources(table[ours], sources.values())["quirks"]
    videos = [
        {
            "source_video": video.source.video_id,
            "video": video.name,
            "reference": str(video.assignment.reference),
            "domain": int(video.assignment.domain),
        }
        for video in plan.videos
    ]
    carried = rekey_annotations(table, videos)
    if carried.empty:
        annotated = sorted(table["video"].astype(str).unique())
        raise ValueError(
            f"annotations {cfg.annotations} name the videos {annotated[:5]} but this run made "
            f"{[v['source_video'] for v in videos][:5]}; none match - check annotations= and source="
        )
    return carried


def finish(
    cfg: DictConfig, plan: RunPlan, output: SynthesisOutput, started: float, annotations=None
) -> dict:
    """Annotations, the summary, the log line and the logger (rank zero, after the frames)."""
    if annotations is not None:
        from mesynth.video.annotations import write_annotations

        final = write_annotations(annotations, output.annotations_path)
        events, videos = len(annotations), annotations["video"].nunique()
        log.info("wrote %s (%d events of %d videos)", final, events, videos)
    frames = sum(video.num_frames for video in plan.todo)
    seconds = time.perf_counter() - started
    summary = {
        "output_dir": str(output.root),
        "videos_made": [video.name for video in plan.todo],
        "videos_skipped": [video.name for video in plan.skipped],
        "frames": frames,
        "seconds": seconds,
        "frames_per_second": frames / seconds if seconds > 0 else 0.0,
        "style_codes": len(plan.style_keys),
        "untrained": plan.manifest.untrained,
    }
    log.info(
        "made %d video(s) (%d frames, %.1f frames/s overall), skipped %d; output in %s",
        len(plan.todo),
        frames,
        summary["frames_per_second"],
        len(plan.skipped),
        output.root,
    )
    if plan.manifest.untrained:
        banner(f"The frames in {output.root} come from UNTRAINED weights (see above).")
    _log_to_logger(cfg, summary)
    return summary


def _log_to_logger(cfg: DictConfig, summary: dict) -> None:
    from mesynth.tracking import log_results

    numbers = {
        "frames": summary["frames"],
        "frames_per_second": summary["frames_per_second"],
        "videos": len(summary["videos_made"]),
    }
    log_results(cfg, {}, {}, {"synthesis": numbers})


__all__ = ["run", "execute", "record_outcomes", "writer_settings", "speed_settings"]
