"""The StarGAN v2 networks and :func:`build_nets`."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from munch import Munch

from mesynth.nets.blocks import check_img_size
from mesynth.nets.discriminator import Discriminator
from mesynth.nets.generator import Generator
from mesynth.nets.landmark_network import LandmarkNetwork
from mesynth.nets.mapping_network import MappingNetwork
from mesynth.nets.masks import heatmaps_to_masks
from mesynth.nets.style_encoder import StyleEncoder

NET_NAMES = ("generator", "mapping_network", "style_encoder", "discriminator", "fan")


@dataclass(frozen=True)
class NetConfig:
    """Everything that determines the networks' shapes (and the high-pass weight)."""

    img_size: int = 256
    style_dim: int = 64
    latent_dim: int = 16
    num_domains: int = 2
    max_conv_dim: int = 512
    w_hpf: float = 1.0

    def __post_init__(self) -> None:
        check_img_size(self.img_size)
        for name in ("style_dim", "latent_dim", "num_domains", "max_conv_dim"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if self.w_hpf < 0:
            raise ValueError(
                f"w_hpf must be >= 0 (0 turns the high-pass path off), got {self.w_hpf}"
            )

    def to_dict(self) -> dict:
        return asdict(self)


def build_nets(
    img_size: int = 256,
    style_dim: int = 64,
    latent_dim: int = 16,
    num_domains: int = 2,
    max_conv_dim: int = 512,
    w_hpf: float = 1.0,
) -> Munch:
    """The five networks, randomly initialised; ``fan`` is None when ``w_hpf == 0``."""
    config = NetConfig(img_size, style_dim, latent_dim, num_domains, max_conv_dim, float(w_hpf))
    return Munch(
        generator=Generator(img_size, style_dim, max_conv_dim, w_hpf=config.w_hpf),
        mapping_network=MappingNetwork(latent_dim, style_dim, num_domains),
        style_encoder=StyleEncoder(img_size, style_dim, num_domains, max_conv_dim),
        discriminator=Discriminator(img_size, num_domains, max_conv_dim),
        fan=LandmarkNetwork() if config.w_hpf > 0 else None,
        config=config,
    )


def count_parameters(module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())


__all__ = [
    "NET_NAMES",
    "Discriminator",
    "Generator",
    "LandmarkNetwork",
    "MappingNetwork",
    "NetConfig",
    "StyleEncoder",
    "build_nets",
    "count_parameters",
    "heatmaps_to_masks",
]
