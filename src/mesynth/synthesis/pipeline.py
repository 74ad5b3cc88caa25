"""One synthesis run: videos in, a synthetic dataset with its labels out.

``run(cfg)`` reads straight through: open the sources, load the networks, choose references,
find each video's face crop, compute one style code per (video, reference), then
``trainer.predict`` turns frames -> crop -> tensor in [-1, 1] -> masks -> generator -> writer.
Alongside the frames it writes ``manifest.json``, ``references.csv``, ``crops/<video>.json`` and
(given ``annotations=``) ``annotations.csv`` re-keyed to the synthetic videos.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import lightning as L
import numpy as np
import torch
from munch import Munch
from omegaconf import DictConfig, OmegaConf

from mesynth.faces.crop import CROP_MODES, Crop
from mesynth.synthesis.manifest import Manifest, sha256_of
from mesynth.synthesis.predict import (
    SynthesisData,
    SynthesisModule,
    SynthesisWriter,
    VideoJob,
    all_pieces,
    images_to_tensor,
    merge_segments,
)
from mesynth.synthesis.references import (
    Assignment,
    VideoInfo,
    prepare_reference,
    select_references,
    write_references_csv,
)
from mesynth.video.sources import VideoSource, open_sources
from mesynth.video.writers import WRITER_KINDS, output_path

log = logging.getLogger(__name__)

UNTRAINED_BANNER = (
    "UNTRAINED WEIGHTS: no checkpoint was given (ckpt=null), so the networks are random and the "
    "output is NOT style transfer - only a test of the pipeline. Pass ckpt=checkpoints/"
    "celeba_hq/100000_nets_ema.ckpt (official CelebA-HQ weights, `mesynth download celeba-hq`) or a "
    "mesynth training checkpoint."
)


# --------------------------------------------------------------------------------------------
# Networks


def _banner(message: str) -> None:
    line = "!" * 100
    log.warning(line)
    log.warning(message)
    log.warning(line)


def load_networks(cfg: DictConfig) -> tuple[Munch, dict, bool]:
    """The networks (eval mode, CPU), the checkpoint record for the manifest, and ``untrained``."""
    if cfg.ckpt is None:
        # Every rank (and every re-run) must build the same random networks.
        torch.manual_seed(int(cfg.seed))
        from mesynth.nets import build_nets

        img_size = 256 if cfg.img_size is None else int(cfg.img_size)
        nets = build_nets(img_size=img_size, **OmegaConf.to_container(cfg.net))
        record = {"path": None, "sha256": None, "format": "untrained"}
        if cfg.wing is not None:
            from mesynth.checkpoint import load_wing

            if nets.fan is None:
                raise ValueError(
                    f"wing={cfg.wing} was given but net.w_hpf=0 turns the landmark network off; "
                    "drop wing= or set net.w_hpf=1"
                )
            nets.fan = load_wing(cfg.wing)
            record.update(wing=str(Path(cfg.wing).resolve()), wing_sha256=sha256_of(cfg.wing))
        _banner(UNTRAINED_BANNER)
        untrained = True
    else:
        from mesynth.checkpoint import load_nets

        path = Path(cfg.ckpt)
        nets = load_nets(path, wing=cfg.wing)
        if cfg.img_size is not None and int(nets.config.img_size) != int(cfg.img_size):
            raise ValueError(
                f"checkpoint {path} is for {nets.config.img_size}x{nets.config.img_size} images "
                f"but img_size={cfg.img_size}; set img_size={nets.config.img_size}"
            )
        record = {
            "path": str(path.resolve()),
            "sha256": sha256_of(path),
            "format": nets.get("source", "official"),
            "net_config": nets.config.to_dict(),
        }
        if cfg.wing is not None:
            record.update(wing=str(Path(cfg.wing).resolve()), wing_sha256=sha256_of(cfg.wing))
        untrained = False
    for name in ("generator", "style_encoder", "fan"):
        if nets.get(name) is not None:
            nets[name].eval().requires_grad_(False)
    return nets, record, untrained


class StyleCodes:
    """Style codes of reference images, computed once per (image, domain) and kept."""

    def __init__(
        self, style_encoder: torch.nn.Module, img_size: int, crop: str = "none", detector=None
    ):
        self.style_encoder = style_encoder
        self.img_size = img_size
        self.crop = crop
        self.detector = detector
        self.cache: dict[tuple[str, int], torch.Tensor] = {}

    def __call__(self, path: str | Path, domain: int) -> torch.Tensor:
        key = (str(path), int(domain))
        if key not in self.cache:
            image = prepare_reference(path, self.img_size, self.crop, self.detector)
            image = torch.from_numpy(image)[None]
            with torch.inference_mode():
                code = self.style_encoder(images_to_tensor(image), torch.tensor([int(domain)]))
            self.cache[key] = code[0].float().clone()
        return self.cache[key]

    def encode_many(self, paths: Sequence[Path], domains: Sequence[int]) -> np.ndarray:
        return torch.stack([self(p, d) for p, d in zip(paths, domains, strict=True)]).numpy()


# --------------------------------------------------------------------------------------------
# Sources, crops, outputs


def open_videos(cfg: DictConfig) -> list[VideoSource]:
    source = Path(str(cfg.source))
    if not source.exists():
        demo_hint = ""
        if source.name == "frames" and source.parent.name == "demo":
            demo_hint = (
                " This is the default demo clip: make it with `make demo` or "
                f"`python -m mesynth.video.demo --output {source.parent}`."
            )
        raise FileNotFoundError(
            f"source {source} does not exist; set source= to a video file, a folder of frames or "
            f"a dataset root.{demo_hint}"
        )
    sources = open_sources(source, layout=cfg.layout, on_bad_frame=cfg.on_bad_frame)
    if cfg.videos is not None:
        wanted = [str(v) for v in cfg.videos]
        by_id = {s.video_id: s for s in sources}
        missing = [v for v in wanted if v not in by_id]
        if missing:
            raise ValueError(
                f"videos {missing} are not in {source}; it holds {sorted(by_id)[:10]}"
                f"{' ...' if len(by_id) > 10 else ''}"
            )
        sources = [by_id[v] for v in wanted]
    return sources


def output_name(template: str, source: VideoSource, assignment: Assignment) -> str:
    name = template.format(
        video=source.video_id,
        participant=source.participant,
        reference=assignment.reference.stem,
        domain=assignment.domain,
    )
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"video_name={template!r} gives the invalid output name {name!r}")
    return name


def crop_path(output_dir: Path, name: str) -> Path:
    return output_dir / "crops" / f"{name}.json"


class Detector:
    """One landmark detector for all crops of a run, loaded on first use (dlib's model is big)."""

    def __init__(self) -> None:
        self._detector = None

    def get(self):
        if self._detector is None:
            from mesynth.faces.landmarks import LandmarkDetector

            self._detector = LandmarkDetector()
        return self._detector

    def detect(self, frame: np.ndarray, near: np.ndarray | None = None):
        return self.get().detect(frame, near=near)


def video_crop(
    cfg: DictConfig,
    source: VideoSource,
    name: str,
    output_dir: Path,
    img_size: int,
    save: bool,
    detector: Detector | None = None,
) -> Crop:
    """The video's crop: reused from ``crops/<name>.json`` when it fits, else estimated."""
    mode, size = str(cfg.crop), int(img_size)
    if mode not in CROP_MODES:
        raise ValueError(f"crop={mode!r} is not one of {CROP_MODES}")
    path = crop_path(output_dir, name)
    if path.is_file():
        saved = Crop.load(path)
        fits = (
            saved.mode == mode
            and saved.output_size == size
            and saved.source_size == tuple(source.frame_size)
            and (mode != "tracked" or len(saved.matrices) == len(source))
        )
        if fits:
            log.info("video %s: reusing crop %s", name, path)
            return saved
        log.info(
            "video %s: the saved crop %s does not fit this run; estimating it again", name, path
        )
    if mode == "none":
        crop = Crop.full_frame(source.frame_size, size)
    else:
        from mesynth.faces.align import estimate_crop

        options = OmegaConf.to_container(cfg.crop_options) if cfg.crop_options else {}
        options.setdefault("progress", bool(cfg.progress))
        if detector is not None:
            options.setdefault("detector", detector.get())
        crop = estimate_crop(source, mode, size, **options)
    if save:
        crop.save(path)
    return crop


def count_output_frames(kind: str, output_dir: Path, name: str, frame_names: Sequence[str]) -> int:
    """Frames present in a finished output (-1 when missing or not made of these frames)."""
    final = output_path(kind, output_dir, name)
    if not final.exists():
        return -1
    if kind == "png":
        stems = {p.stem for p in final.glob("*.png")}
        return len(stems) if stems == set(frame_names) else -1
    import av

    with av.open(str(final)) as container:
        stream = container.streams.video[0]
        return sum(1 for packet in container.demux(stream) if packet.size)


def output_kinds(cfg: DictConfig) -> list[str]:
    kinds = [str(cfg.writer)]
    if kinds[0] not in WRITER_KINDS:
        raise ValueError(f"writer={cfg.writer!r} is not one of {WRITER_KINDS}")
    if cfg.preview and "mp4" not in kinds:
        kinds.append("mp4")
    return kinds


class MarkDone:
    """Records a finished video in the manifest (picklable, for spawned ranks)."""

    def __init__(self, output_dir: Path, names: list[str], num_frames: list[int]):
        self.output_dir, self.names, self.num_frames = output_dir, names, num_frames

    def __call__(self, job: int, final_path: Path) -> None:
        Manifest(self.output_dir).update_video(
            self.names[job],
            status="done",
            frames_written=self.num_frames[job],
            output=str(final_path),
        )


# `auto` speed settings per device type. On CPU one frame at a time in the default layout is
# fastest (measured by benchmarks/synth_throughput.py: a 256x256 frame's activations, 16 MiB
# per feature map, stay in cache; batches and channels-last were 10-20% slower); GPUs want
# batches and channels-last for their tensor cores.
AUTO_BATCH_SIZE = {"cuda": 16, "cpu": 1}
AUTO_CHANNELS_LAST = {"cuda": True, "cpu": False}


def speed_settings(batch_size: object, channels_last: object, device_type: str) -> tuple[int, bool]:
    """Resolve ``auto`` batch size and memory layout for a device type (``cuda``, ``cpu``...)."""
    if batch_size == "auto":
        batch_size = AUTO_BATCH_SIZE.get(device_type, 8)
    if channels_last == "auto":
        channels_last = AUTO_CHANNELS_LAST.get(device_type, True)
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1 or auto, got {batch_size}")
    if not isinstance(channels_last, bool):
        raise ValueError(f"channels_last must be true, false or auto, got {channels_last!r}")
    return int(batch_size), channels_last


def make_trainer(cfg: DictConfig, callbacks: list) -> L.Trainer:
    # Batches are whole items of the dataset (no sampler to take indices from), and the loader
    # is iterated once per run: Lightning's hints about both do not apply.
    warnings.filterwarnings("ignore", message=".*infer the batch indices.*")
    warnings.filterwarnings("ignore", message=".*persistent_workers=True.*")
    options = OmegaConf.to_container(cfg.trainer, resolve=True)
    return L.Trainer(
        logger=False,
        enable_progress_bar=False,  # the prediction writer shows per-video and overall bars
        enable_model_summary=False,
        enable_checkpointing=False,
        use_distributed_sampler=False,  # contiguous shards are cut by SynthesisData itself
        inference_mode=True,
        default_root_dir=str(cfg.output_dir),
        callbacks=callbacks,
        **options,
    )


# --------------------------------------------------------------------------------------------
# Annotations


def carry_annotations(
    cfg: DictConfig, plan: list[tuple[VideoSource, Assignment, str]], output_dir: Path
) -> Path:
    """The source annotations for the videos of this run, keyed by the synthetic video ids."""
    from mesynth.video.annotations import read_annotations, rekey_annotations, write_annotations

    table = read_annotations(cfg.annotations, fmt=cfg.annotations_format)
    videos = [
        {
            "source_video": source.video_id,
            "video": name,
            "reference": str(assignment.reference),
            "domain": int(assignment.domain),
        }
        for source, assignment, name in plan
    ]
    carried = rekey_annotations(table, videos)
    if carried.empty:
        annotated = sorted(table["video"].astype(str).unique())
        raise ValueError(
            f"annotations {cfg.annotations} name the videos {annotated[:5]} but this run made "
            f"{[v['source_video'] for v in videos][:5]}; none match - check annotations= and source="
        )
    final = write_annotations(carried, output_dir / "annotations.csv")
    log.info("wrote %s (%d events of %d videos)", final, len(carried), carried["video"].nunique())
    return final


# --------------------------------------------------------------------------------------------
# The run


def _config_record(cfg: DictConfig) -> dict:
    return OmegaConf.to_container(cfg, resolve=True)


def run(cfg: DictConfig) -> dict | None:
    """Synthesise every video of ``cfg.source``; returns a summary (None on non-zero ranks)."""
    started = time.perf_counter()
    output_dir = Path(str(cfg.output_dir))
    kinds = output_kinds(cfg)

    writer_callback = SynthesisWriter(
        output_dir, kinds, queue_size=int(cfg.write_queue), progress=bool(cfg.progress)
    )
    trainer = make_trainer(cfg, [writer_callback])
    zero = trainer.is_global_zero

    sources = open_videos(cfg)
    nets, checkpoint, untrained = load_networks(cfg)
    img_size = int(nets.config.img_size)
    writer_callback.img_size = img_size
    if zero:
        output_dir.mkdir(parents=True, exist_ok=True)
    detector = Detector()
    reference_crop = str(cfg.reference_crop)
    style_codes = StyleCodes(
        nets.style_encoder, img_size, reference_crop, detector if reference_crop != "none" else None
    )
    assignments = select_references(
        cfg.reference,
        [VideoInfo(s.video_id, s.participant) for s in sources],
        encode_style=style_codes.encode_many,
        num_domains=int(nets.config.num_domains),
    )
    names = [
        output_name(str(cfg.video_name), s, a) for s, a in zip(sources, assignments, strict=True)
    ]
    if len(set(names)) != len(names):
        raise ValueError(f"video_name={cfg.video_name!r} gives several videos the same name")
    plan = list(zip(sources, assignments, names, strict=True))

    manifest = Manifest(output_dir)
    if zero:
        manifest.start_run(_config_record(cfg), checkpoint, untrained)
        write_references_csv(assignments, output_dir / "references.csv")
    recorded = manifest.videos()

    max_frames = cfg.max_frames
    jobs, job_codes, skipped, updates = [], [], [], {}
    for source, assignment, name in plan:
        frame_names = list(source.frame_names)
        if max_frames is not None:
            frame_names = frame_names[: int(max_frames)]
        entry = recorded.get(name, {})
        finished = entry.get("status") == "done" and all(
            count_output_frames(kind, output_dir, name, frame_names) == len(frame_names)
            for kind in kinds
        )
        if finished:
            same = entry.get("reference") == str(assignment.reference) and entry.get(
                "domain"
            ) == int(assignment.domain)
            if not same:
                raise ValueError(
                    f"{manifest.path}: video {name} was made with reference {entry.get('reference')} "
                    f"(domain {entry.get('domain')}), but this run gives it {assignment.reference} "
                    f"(domain {assignment.domain}); use a new output_dir or delete {name}'s outputs"
                )
            skipped.append(name)
            continue
        crop = video_crop(cfg, source, name, output_dir, img_size, save=zero, detector=detector)
        fps = float(cfg.fps) if cfg.fps is not None else source.fps
        jobs.append(VideoJob(name, source, crop, frame_names, fps))
        job_codes.append(style_codes(assignment.reference, assignment.domain))
        updates[name] = {
            "status": "partial",
            "source_video": source.video_id,
            "participant": source.participant,
            "source": str(source.path),
            "reference": str(assignment.reference),
            "domain": int(assignment.domain),
            "strategy": assignment.strategy,
            "frames": len(frame_names),
            "source_frames": len(source),
            "skipped_source_frames": list(source.skipped),
            "crop": str(crop_path(output_dir, name)),
            "crop_mode": crop.mode,
            "untrained": untrained,
        }
    if skipped:
        log.info("%d video(s) already done, skipped: %s", len(skipped), ", ".join(skipped[:10]))
    if zero and updates:
        manifest.update_videos(updates)

    total_frames = sum(job.num_frames for job in jobs)
    if jobs:
        log.info(
            "synthesising %d frames of %d video(s) with %d style code(s) into %s",
            total_frames,
            len(jobs),
            len(style_codes.cache),
            output_dir,
        )
        device_type = trainer.strategy.root_device.type
        batch_size, channels_last = speed_settings(cfg.batch_size, cfg.channels_last, device_type)
        log.info(
            "batches of %d frame(s), %s memory layout on %s",
            batch_size,
            "channels-last" if channels_last else "contiguous",
            device_type,
        )
        module = SynthesisModule(
            nets.generator,
            nets.fan,
            torch.stack(job_codes),
            channels_last=channels_last,
            bf16=bool(cfg.bf16),
            compile=bool(cfg.compile),
        )
        data = SynthesisData(jobs, batch_size, int(cfg.num_workers))
        writer_callback.on_video_done = MarkDone(
            output_dir, [j.name for j in jobs], [j.num_frames for j in jobs]
        )
        try:
            trainer.predict(module, datamodule=data, return_predictions=False)
        except BaseException as error:
            if zero:
                _mark_failed(manifest, jobs, kinds, output_dir, error)
            raise
    if not zero:
        return None

    # Videos cut between ranks are joined here, after every rank has finished.
    world = trainer.world_size
    failures = {}
    if jobs and world > 1:
        spans: dict[int, list[tuple[int, int]]] = {}
        for rank_pieces in all_pieces([j.num_frames for j in jobs], world):
            for piece in rank_pieces:
                if not piece.whole:
                    spans.setdefault(piece.job, []).append((piece.start, piece.stop))
        for job_index, starts_stops in spans.items():
            job = jobs[job_index]
            try:
                final = merge_segments(job, sorted(starts_stops), kinds, output_dir, img_size)
                log.info("joined %d segments of %s into %s", len(starts_stops), job.name, final)
            except Exception as error:  # recorded per video and raised below
                failures[job.name] = error

    results = {}
    for job in jobs:
        counts = {k: count_output_frames(k, output_dir, job.name, job.frame_names) for k in kinds}
        complete = all(c == job.num_frames for c in counts.values())
        status = "done" if complete else "failed"
        fields = {"status": status, "frames_written": min(counts.values())}
        fields["output"] = str(output_path(kinds[0], output_dir, job.name))
        if job.name in failures:
            fields["error"] = str(failures[job.name])
        results[job.name] = fields
    if results:
        manifest.update_videos(results)
    bad = {name: f for name, f in results.items() if f["status"] != "done"}
    if bad:
        raise RuntimeError(
            f"{len(bad)} video(s) were not completed: {sorted(bad)[:5]}; see {manifest.path}. "
            "Re-running the same command redoes them."
        )

    if cfg.annotations is not None:
        carry_annotations(cfg, plan, output_dir)

    seconds = time.perf_counter() - started
    summary = {
        "output_dir": str(output_dir),
        "videos_made": [job.name for job in jobs],
        "videos_skipped": skipped,
        "frames": total_frames,
        "seconds": seconds,
        "frames_per_second": total_frames / seconds if seconds > 0 else 0.0,
        "style_codes": len(style_codes.cache),
        "untrained": untrained,
    }
    log.info(
        "made %d video(s) (%d frames, %.1f frames/s overall), skipped %d; output in %s",
        len(jobs),
        total_frames,
        summary["frames_per_second"],
        len(skipped),
        output_dir,
    )
    if untrained:
        _banner("The frames in " + str(output_dir) + " come from UNTRAINED weights (see above).")
    _log_to_logger(cfg, summary)
    return summary


def _mark_failed(
    manifest: Manifest,
    jobs: list[VideoJob],
    kinds: list[str],
    output_dir: Path,
    error: BaseException,
) -> None:
    """After a crash: videos whose outputs are complete are done, the others failed."""
    updates = {}
    for job in jobs:
        counts = [count_output_frames(k, output_dir, job.name, job.frame_names) for k in kinds]
        if all(c == job.num_frames for c in counts):
            updates[job.name] = {"status": "done", "frames_written": job.num_frames}
        else:
            updates[job.name] = {"status": "failed", "error": f"{type(error).__name__}: {error}"}
    manifest.update_videos(updates)


def _log_to_logger(cfg: DictConfig, summary: dict) -> None:
    logger_cfg = cfg.get("logger")
    if not logger_cfg or "_target_" not in logger_cfg:
        return
    from hydra.utils import instantiate

    logger = instantiate(logger_cfg)
    logger.log_metrics(
        {
            "synthesis/frames": summary["frames"],
            "synthesis/frames_per_second": summary["frames_per_second"],
            "synthesis/videos": len(summary["videos_made"]),
        }
    )
    logger.finalize("success")


__all__ = ["run", "load_networks", "StyleCodes", "count_output_frames"]
