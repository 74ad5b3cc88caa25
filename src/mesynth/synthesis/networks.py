"""The run's networks and the style codes of its references: the tensor side of synthesis.

:class:`Networks` loads the networks on first use (a finished folder is checked without them);
:class:`StyleCodes` runs the style encoder once per (reference image, domain). The plan
(:mod:`mesynth.synthesis.plan`) only decides which codes are needed; they are computed here,
when the run executes (and for the ``diverse`` strategy, which chooses by them).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from munch import Munch
from omegaconf import DictConfig

from mesynth.config import to_plain
from mesynth.synthesis.output import Manifest
from mesynth.synthesis.plan import checkpoint_identity
from mesynth.synthesis.references import prepare_reference

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


def images_to_tensor(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float (N, 3, H, W) in [-1, 1], channels-last in memory."""
    # Permuting NHWC gives an NCHW view with channels-last strides: no copy, and the layout
    # oneDNN/cuDNN convolutions are fastest with.
    return images.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


@contextmanager
def torch_threads(count: int | None):
    """Torch's intra-op thread count set to ``count`` inside (None: left as it is), then restored."""
    import torch

    before = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(int(count))
    try:
        yield
    finally:
        torch.set_num_threads(before)


class StyleCodes:
    """Style codes of reference images, computed once per (image, domain) and kept; the
    networks are loaded on the first code.

    ``num_threads``: the torch threads the encoder runs with (None: the process's count). A
    fixed count is what makes a code, and so every frame made with it, the same in every
    process of a run and in a run of one process, whatever ran before in that process.
    """

    def __init__(
        self, networks: Networks, crop: str, detector=None, num_threads: int | None = None
    ):
        self.networks = networks
        self.crop = crop
        self.detector = detector
        self.num_threads = num_threads
        self.cache: dict = {}

    def __call__(self, path: str | Path, domain: int):
        import torch

        key = (str(path), int(domain))
        if key not in self.cache:
            nets = self.networks.nets
            image = prepare_reference(path, int(nets.config.img_size), self.crop, self.detector)
            image = torch.from_numpy(image)[None]
            with torch.inference_mode(), torch_threads(self.num_threads):
                code = nets.style_encoder(images_to_tensor(image), torch.tensor([int(domain)]))
            self.cache[key] = code[0].float().clone()
        return self.cache[key]

    def encode_many(self, paths: Sequence[Path], domains: Sequence[int]) -> np.ndarray:
        import torch

        return torch.stack([self(p, d) for p, d in zip(paths, domains, strict=True)]).numpy()

    def stacked(self, keys: Sequence[tuple[Path, int]]) -> torch.Tensor | None:
        """The codes of ``(reference, domain)`` keys as one (N, style_dim) tensor; None for none."""
        if not keys:
            return None
        import torch

        return torch.stack([self(path, domain) for path, domain in keys])
