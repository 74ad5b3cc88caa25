"""The plan of a synthesis run: which videos to make, how, and which are already done.

:func:`plan_videos` decides everything before anything is written: the reference and domain of
every video, its output name and frames, its style code, and whether an earlier run already
finished it. Every refusal (another checkpoint, reference or domain for a finished video, a
name clash) happens here, so a refused run leaves the output folder exactly as it was.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from munch import Munch
from omegaconf import DictConfig

from mesynth.config import to_plain
from mesynth.faces.crop import Crop
from mesynth.synthesis.output import Manifest, SynthesisOutput, VideoRecord, sha256_of
from mesynth.synthesis.references import (
    Assignment,
    VideoInfo,
    prepare_reference,
    select_references,
)
from mesynth.video.sources import VideoSource, open_sources

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

UNTRAINED_BANNER = (
    "UNTRAINED WEIGHTS: no checkpoint was given (ckpt=null), so the networks are random and the "
    "output is NOT style transfer - only a test of the pipeline. Pass ckpt=checkpoints/"
    "celeba_hq/100000_nets_ema.ckpt (official CelebA-HQ weights, `mesynth download celeba-hq`) or a "
    "mesynth training checkpoint."
)


def banner(message: str) -> None:
    line = "!" * 100
    log.warning(line)
    log.warning(message)
    log.warning(line)


# --------------------------------------------------------------------------------------------
# Inputs: sources and networks


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


def load_networks(cfg: DictConfig) -> Munch:
    """The networks (eval mode, CPU): the checkpoint's, or untrained ones (said loudly)."""
    import torch

    if cfg.ckpt is None:
        # Every rank (and every re-run) must build the same random networks.
        torch.manual_seed(int(cfg.seed))
        from mesynth.nets import build_nets

        img_size = 256 if cfg.img_size is None else int(cfg.img_size)
        nets = build_nets(img_size=img_size, **to_plain(cfg.net))
        nets.source = "untrained"
        if cfg.wing is not None:
            from mesynth.checkpoint import load_wing

            if nets.fan is None:
                raise ValueError(
                    f"wing={cfg.wing} was given but net.w_hpf=0 turns the landmark network off; "
                    "drop wing= or set net.w_hpf=1"
                )
            nets.fan = load_wing(cfg.wing)
        banner(UNTRAINED_BANNER)
    else:
        from mesynth.checkpoint import load_nets

        path = Path(cfg.ckpt)
        nets = load_nets(path, wing=cfg.wing)
        if cfg.img_size is not None and int(nets.config.img_size) != int(cfg.img_size):
            raise ValueError(
                f"checkpoint {path} is for {nets.config.img_size}x{nets.config.img_size} images "
                f"but img_size={cfg.img_size}; set img_size={nets.config.img_size}"
            )
    for name in ("generator", "style_encoder", "fan"):
        if nets.get(name) is not None:
            nets[name].eval().requires_grad_(False)
    return nets


class Networks:
    """The run's networks, loaded on first use.

    A re-run over a folder whose videos are all done, with the checkpoint its manifest records
    (same sha256), takes the network settings from the manifest and never loads the networks
    (nor torch): it only checks and says so.
    """

    def __init__(self, cfg: DictConfig, previous: Manifest | None) -> None:
        self.cfg = cfg
        self.untrained = cfg.ckpt is None
        self.checkpoint = checkpoint_identity(cfg)
        self._nets: Munch | None = None
        self._recorded: dict | None = None
        recorded = previous.checkpoint if previous is not None else {}
        same_files = all(
            recorded.get(key) == self.checkpoint.get(key) for key in ("sha256", "wing_sha256")
        )
        known = previous is not None and previous.untrained == self.untrained
        if known and same_files and recorded.get("net_config"):
            self._recorded = dict(recorded["net_config"])
            if self.untrained:  # untrained networks are made from the yaml: it must still agree
                wanted = {"img_size": self.cfg.img_size or 256, **to_plain(self.cfg.net)}
                if any(self._recorded.get(k) != v for k, v in wanted.items()):
                    self._recorded = None

    @property
    def nets(self) -> Munch:
        if self._nets is None:
            self._nets = load_networks(self.cfg)
            self.checkpoint["format"] = self._nets.get("source", "official")
            self.checkpoint["net_config"] = self._nets.config.to_dict()
        return self._nets

    @property
    def config(self) -> dict:
        """img_size, style_dim, latent_dim, num_domains, max_conv_dim, w_hpf."""
        if self._nets is None and self._recorded is not None:
            return self._recorded
        return self.nets.config.to_dict()


def config_record(cfg: DictConfig, net_config: dict) -> dict:
    """The run's config as the manifest keeps it: the networks' real settings, not the yaml's."""
    record = to_plain(cfg)
    net = dict(net_config)
    record["img_size"] = int(net.pop("img_size"))
    record["net"] = net
    return record


# --------------------------------------------------------------------------------------------
# Style codes


def images_to_tensor(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float (N, 3, H, W) in [-1, 1], channels-last in memory."""
    # Permuting NHWC gives an NCHW view with channels-last strides: no copy, and the layout
    # oneDNN/cuDNN convolutions are fastest with.
    return images.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


class StyleCodes:
    """Style codes of reference images, computed once per (image, domain) and kept; the
    networks are loaded on the first code."""

    def __init__(self, networks: Networks, crop: str, detector=None):
        self.networks = networks
        self.crop = crop
        self.detector = detector
        self.cache: dict = {}

    def __call__(self, path: str | Path, domain: int):
        import torch

        key = (str(path), int(domain))
        if key not in self.cache:
            nets = self.networks.nets
            image = prepare_reference(path, int(nets.config.img_size), self.crop, self.detector)
            image = torch.from_numpy(image)[None]
            with torch.inference_mode():
                code = nets.style_encoder(images_to_tensor(image), torch.tensor([int(domain)]))
            self.cache[key] = code[0].float().clone()
        return self.cache[key]

    def encode_many(self, paths: Sequence[Path], domains: Sequence[int]) -> np.ndarray:
        import torch

        return torch.stack([self(p, d) for p, d in zip(paths, domains, strict=True)]).numpy()


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
    style_index: int = -1  # row of RunPlan.style_codes (videos to make only)
    crop: Crop | None = None  # found when the run starts (rank zero), see SynthesisData

    @property
    def num_frames(self) -> int:
        return len(self.frame_names)


@dataclass
class RunPlan:
    videos: list[VideoPlan]
    kinds: list[str]  # writer kinds of every video: the main one, and mp4 with preview=true
    style_codes: torch.Tensor | None  # (distinct references of videos to make, style_dim)
    manifest: Manifest  # what the manifest says once the run starts
    assignments: list[Assignment] = field(default_factory=list)

    @property
    def todo(self) -> list[VideoPlan]:
        return [video for video in self.videos if not video.done]

    @property
    def skipped(self) -> list[VideoPlan]:
        return [video for video in self.videos if video.done]


def _stacked(codes: list):
    """The style codes as one (N, style_dim) tensor; None when there are none to make."""
    if not codes:
        return None
    import torch

    return torch.stack(codes)


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


def plan_videos(
    cfg: DictConfig,
    sources: Sequence[VideoSource],
    networks: Networks,
    previous: Manifest | None,
    output: SynthesisOutput,
    kinds: list[str],
    detector=None,
) -> RunPlan:
    """Decide the whole run without writing anything; raise on anything that would be refused.

    The networks are loaded only when a style code is needed (videos to make, or the
    ``diverse`` strategy).
    """
    from hydra.utils import instantiate

    checkpoint, untrained = networks.checkpoint, networks.untrained
    _check_checkpoint(previous, checkpoint, untrained, output.manifest_path)
    style = StyleCodes(networks, str(cfg.reference_crop), detector)
    assignments = select_references(
        instantiate(cfg.reference),
        [VideoInfo(s.video_id, s.participant) for s in sources],
        encode_style=style.encode_many,
        num_domains=int(networks.config["num_domains"]),
    )
    names = [
        output_name(str(cfg.video_name), s, a) for s, a in zip(sources, assignments, strict=True)
    ]
    if len(set(names)) != len(names):
        raise ValueError(f"video_name={cfg.video_name!r} gives several videos the same name")

    limit = None if cfg.max_frames is None else int(cfg.max_frames)
    videos, codes, index_of = [], [], {}
    for source, assignment, name in zip(sources, assignments, names, strict=True):
        earlier = previous.videos.get(name) if previous is not None else None
        video = _plan_video(cfg, source, assignment, name, limit, earlier, kinds, output)
        if not video.done:
            video.record.wing_sha256 = checkpoint.get("wing_sha256")
            video.record.seed = checkpoint.get("seed")
            key = (str(assignment.reference), int(assignment.domain))
            if key not in index_of:
                index_of[key] = len(codes)
                codes.append(style(assignment.reference, assignment.domain))
            video.style_index = index_of[key]
        videos.append(video)

    manifest = previous or Manifest()
    manifest.config = config_record(cfg, networks.config)
    manifest.checkpoint = checkpoint
    manifest.untrained = untrained
    for video in videos:
        manifest.videos[video.name] = video.record
    style_codes = _stacked(codes)
    return RunPlan(videos, kinds, style_codes, manifest, assignments)
