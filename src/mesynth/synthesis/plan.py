"""The plan of a synthesis run: which videos to make, how, and which are already done.

:func:`plan_videos` decides everything before anything is written: the reference and domain of
every video (one synthetic video per identity, ``reference.per_video`` of them per source video),
its output name and frames, which style code it needs, and whether an earlier run already
finished it. Every refusal (another checkpoint, reference or domain for a finished video, a
name clash) happens here, so a refused run leaves the output folder exactly as it was.

The plan holds no tensors and loads nothing: the style codes themselves are computed when the
run executes (:mod:`mesynth.synthesis.networks`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import DictConfig

from mesynth.config import to_plain
from mesynth.faces.crop import Crop
from mesynth.synthesis.output import Manifest, SynthesisOutput, VideoRecord, sha256_of
from mesynth.synthesis.references import (
    Assignment,
    StyleEncodeFn,
    VideoInfo,
    select_references,
)
from mesynth.video.decoders import VideoSource
from mesynth.video.layouts import open_sources

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# Inputs: sources and the networks' identity


def open_videos(cfg: DictConfig) -> list[VideoSource]:
    """The source videos of the run (``source=``, optionally only ``videos=``)."""
    source = Path(str(cfg.source))
    if not source.exists():
        demo_hint = ""
        if source.name == "frames" and source.parent.name == "demo":
            demo_hint = (
                " This is the default demo clip: make it with `make demo` or "
                f"`python -m mesynth.video.demo_clip --output {source.parent}`."
            )
        raise FileNotFoundError(
            f"source {source} does not exist; set source= to a video file, a folder of frames or "
            f"a dataset root.{demo_hint}"
        )
    sources = open_sources(source, layout=cfg.layout, on_bad_frame=cfg.on_bad_frame)
    if cfg.videos is None:
        return sources
    wanted = [str(v) for v in cfg.videos]
    by_id = {s.video_id: s for s in sources}
    missing = [v for v in wanted if v not in by_id]
    if missing:
        raise ValueError(
            f"videos {missing} are not in {source}; it holds {sorted(by_id)[:10]}"
            f"{' ...' if len(by_id) > 10 else ''}"
        )
    return [by_id[v] for v in wanted]


def checkpoint_identity(cfg: DictConfig) -> dict:
    """Which networks the run uses, without loading them: paths and sha256 of the files."""
    if cfg.ckpt is None:
        # The seed makes the random networks: it is part of their identity.
        record = {"path": None, "sha256": None, "format": "untrained", "seed": int(cfg.seed)}
    else:
        path = Path(str(cfg.ckpt))
        if not path.is_file():
            raise FileNotFoundError(
                f"checkpoint {path} not found; set ckpt= to an official *_nets_ema.ckpt "
                "(`mesynth download celeba-hq`) or a mesynth training checkpoint"
            )
        record = {"path": str(path.resolve()), "sha256": sha256_of(path)}
    if cfg.wing is not None:
        wing = Path(str(cfg.wing))
        if not wing.is_file():
            raise FileNotFoundError(
                f"wing={wing} not found; `mesynth download wing` puts it in checkpoints/"
            )
        record.update(wing=str(wing.resolve()), wing_sha256=sha256_of(wing))
    return record


def config_record(cfg: DictConfig, net_config: dict) -> dict:
    """The run's config as the manifest keeps it: the networks' real settings, not the yaml's."""
    record = to_plain(cfg)
    net = dict(net_config)
    record["img_size"] = int(net.pop("img_size"))
    record["net"] = net
    return record


# --------------------------------------------------------------------------------------------
# The plan


@dataclass
class VideoPlan:
    """One video of the run: where its frames come from, its reference, where it goes."""

    name: str  # output (synthetic) video id
    source: VideoSource
    assignment: Assignment
    frame_names: list[str]  # the frames to make (all of the source's, or the first max_frames)
    frame_numbers: list[int]
    fps: float | None
    record: VideoRecord
    done: bool = False  # finished by an earlier run: skipped
    style_index: int = -1  # position of its (reference, domain) in RunPlan.style_keys (to make)
    crop: Crop | None = None  # found when the run starts (rank zero), see SynthesisData

    @property
    def num_frames(self) -> int:
        return len(self.frame_names)


@dataclass
class RunPlan:
    videos: list[VideoPlan]
    kinds: list[str]  # writer kinds of every video: the main one, and mp4 with preview=true
    style_keys: list[tuple[Path, int]]  # distinct (reference, domain) of the videos to make
    manifest: Manifest  # what the manifest says once the run starts
    assignments: list[Assignment] = field(default_factory=list)

    @property
    def todo(self) -> list[VideoPlan]:
        return [video for video in self.videos if not video.done]

    @property
    def skipped(self) -> list[VideoPlan]:
        return [video for video in self.videos if video.done]


def name_template(template: str, per_video: int) -> str:
    """``video_name``; with several identities per video and no ``{identity}`` in it,
    ``_{identity}`` is appended so that each identity's video has its own name."""
    if per_video > 1 and "{identity}" not in template:
        return template + "_{identity}"
    return template


def output_name(template: str, source: VideoSource, assignment: Assignment) -> str:
    name = template.format(
        video=source.video_id,
        participant=source.participant,
        reference=assignment.reference.stem,
        domain=assignment.domain,
        identity=assignment.identity,
    )
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"video_name={template!r} gives the invalid output name {name!r}")
    return name


# What makes two runs' networks the same: the checkpoint, the landmark network, and for random
# networks the seed they are made from.
IDENTITY_KEYS = ("sha256", "wing_sha256", "seed")


def _describe_networks(checkpoint: dict, untrained: bool) -> str:
    if untrained:
        text = f"untrained networks of seed {checkpoint.get('seed')}"
    else:
        text = f"checkpoint {checkpoint.get('path')} (sha256 {checkpoint.get('sha256')})"
    if checkpoint.get("wing_sha256"):
        text += f" and landmark network {checkpoint['wing']} (sha256 {checkpoint['wing_sha256']})"
    return text


def _check_checkpoint(previous: Manifest | None, checkpoint: dict, untrained: bool, where: Path):
    """Refuse to mix outputs of different networks (or landmark networks, or seeds of random
    networks) in one folder."""
    if previous is None or not previous.done():
        return
    same = all(previous.checkpoint.get(key) == checkpoint.get(key) for key in IDENTITY_KEYS)
    if not same or previous.untrained != untrained:
        raise ValueError(
            f"{where} records {len(previous.done())} video(s) made with "
            f"{_describe_networks(previous.checkpoint, previous.untrained)}, but this run uses "
            f"{_describe_networks(checkpoint, untrained)}; use a new output_dir, or delete the "
            "old outputs first"
        )


def _new_record(
    cfg: DictConfig, source: VideoSource, assignment: Assignment, output: SynthesisOutput, name
) -> VideoRecord:
    return VideoRecord(
        source_video=source.video_id,
        participant=source.participant,
        source=str(source.path),
        reference=str(assignment.reference),
        domain=int(assignment.domain),
        strategy=assignment.strategy,
        frames=0,
        source_frames=len(source) + len(source.skipped),
        skipped_source_frames=list(source.skipped),
        crop=str(output.crop_path(name)),
        crop_mode=str(cfg.crop),
        untrained=cfg.ckpt is None,
    )


def _finished(
    video: VideoPlan, previous: VideoRecord | None, kinds: list[str], output: SynthesisOutput
) -> bool:
    """Whether an earlier run already made this video with the same reference and domain."""
    if previous is None or not output.is_complete(video.name, kinds, video.frame_names):
        return False
    reference, domain = str(video.assignment.reference), int(video.assignment.domain)
    if (previous.reference, previous.domain) != (reference, domain):
        raise ValueError(
            f"{output.manifest_path}: video {video.name} was made with reference "
            f"{previous.reference} (domain {previous.domain}), but this run gives it {reference} "
            f"(domain {domain}); use a new output_dir or delete {video.name}'s outputs"
        )
    return True


def _plan_video(
    cfg: DictConfig,
    source: VideoSource,
    assignment: Assignment,
    name: str,
    limit: int | None,
    earlier: VideoRecord | None,
    kinds: list[str],
    output: SynthesisOutput,
) -> VideoPlan:
    """One video's plan; ``done`` (with the earlier record) when an earlier run finished it."""
    record = _new_record(cfg, source, assignment, output, name)
    fps = float(cfg.fps) if cfg.fps is not None else source.fps
    frame_names, frame_numbers = source.frame_names[:limit], source.frame_numbers[:limit]
    video = VideoPlan(name, source, assignment, frame_names, frame_numbers, fps, record)
    record.frames = video.num_frames
    video.done = _finished(video, earlier, kinds, output)
    if video.done:  # recorded as found, also when a crash kept the earlier run from it
        video.record = earlier
        for key, value in output.finished_fields(name, kinds, video.num_frames).items():
            setattr(earlier, key, value)
    return video


def _assign_references(
    cfg, sources, networks, encode_style
) -> list[tuple[VideoSource, Assignment]]:
    """Every (source, assignment) pair of the run, source after source, identity after identity."""
    from hydra.utils import instantiate

    assignments = select_references(
        instantiate(cfg.reference),
        [VideoInfo(s.video_id, s.participant) for s in sources],
        encode_style=encode_style,
        num_domains=int(networks.config["num_domains"]),
    )
    by_video: dict[str, list[Assignment]] = {}
    for assignment in assignments:
        by_video.setdefault(assignment.video, []).append(assignment)
    return [(source, a) for source in sources for a in by_video.get(source.video_id, [])]


def plan_videos(
    cfg: DictConfig,
    sources: Sequence[VideoSource],
    networks,
    previous: Manifest | None,
    output: SynthesisOutput,
    kinds: list[str],
    encode_style: StyleEncodeFn | None = None,
) -> RunPlan:
    """Decide the whole run without writing anything; raise on anything that would be refused.

    ``networks`` tells the checkpoint's identity and the network settings
    (:class:`mesynth.synthesis.networks.Networks`); ``encode_style`` gives style codes to the
    strategies that choose by them (``diverse``).
    """
    checkpoint, untrained = networks.checkpoint, networks.untrained
    _check_checkpoint(previous, checkpoint, untrained, output.manifest_path)
    pairs = _assign_references(cfg, sources, networks, encode_style)
    per_video = max((a.identity + 1 for _, a in pairs), default=1)
    template = name_template(str(cfg.video_name), per_video)
    names = [output_name(template, s, a) for s, a in pairs]
    if len(set(names)) != len(names):
        raise ValueError(f"video_name={cfg.video_name!r} gives several videos the same name")

    limit = None if cfg.max_frames is None else int(cfg.max_frames)
    videos, style_keys, index_of = [], [], {}
    for (source, assignment), name in zip(pairs, names, strict=True):
        earlier = previous.videos.get(name) if previous is not None else None
        video = _plan_video(cfg, source, assignment, name, limit, earlier, kinds, output)
        if not video.done:
            video.record.wing_sha256 = checkpoint.get("wing_sha256")
            video.record.seed = checkpoint.get("seed")
            key = (assignment.reference, int(assignment.domain))
            video.style_index = index_of.setdefault(key, len(style_keys))
            if video.style_index == len(style_keys):
                style_keys.append(key)
        videos.append(video)

    manifest = previous or Manifest()
    manifest.config = config_record(cfg, networks.config)
    manifest.checkpoint = checkpoint
    manifest.untrained = untrained
    for video in videos:
        manifest.videos[video.name] = video.record
    return RunPlan(videos, kinds, style_keys, manifest, [a for _, a in pairs])
