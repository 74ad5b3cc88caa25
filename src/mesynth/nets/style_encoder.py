"""Style encoder: image -> style code, one linear head per domain."""

from __future__ import annotations

import math

import torch
from torch import nn

from mesynth.nets.blocks import ResBlk, check_img_size, encoder_widths
from mesynth.nets.mapping_network import pick_domain


def downsampling_trunk(img_size: int, max_conv_dim: int) -> tuple[list[nn.Module], int]:
    """Layers shared by the style encoder and the discriminator, down to a 1x1 feature map."""
    check_img_size(img_size)
    widths = encoder_widths(img_size, max_conv_dim, int(math.log2(img_size)) - 2)
    layers: list[nn.Module] = [nn.Conv2d(3, widths[0][0], 3, 1, 1)]
    layers += [ResBlk(dim_in, dim_out, downsample=True) for dim_in, dim_out in widths]
    dim_out = widths[-1][1]
    layers += [nn.LeakyReLU(0.2), nn.Conv2d(dim_out, dim_out, 4, 1, 0), nn.LeakyReLU(0.2)]
    return layers, dim_out


class StyleEncoder(nn.Module):
    def __init__(
        self,
        img_size: int = 256,
        style_dim: int = 64,
        num_domains: int = 2,
        max_conv_dim: int = 512,
    ) -> None:
        super().__init__()
        layers, dim_out = downsampling_trunk(img_size, max_conv_dim)
        self.shared = nn.Sequential(*layers)
        self.unshared = nn.ModuleList(nn.Linear(dim_out, style_dim) for _ in range(num_domains))

    def forward(self, x: torch.Tensor, domain: torch.Tensor) -> torch.Tensor:
        features = self.shared(x).flatten(1)
        per_domain = torch.stack([head(features) for head in self.unshared], dim=1)
        return pick_domain(per_domain, domain)
