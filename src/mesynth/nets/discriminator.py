"""Multi-task discriminator: one real/fake logit per domain, the target domain's is returned."""

from __future__ import annotations

import torch
from torch import nn

from mesynth.nets.mapping_network import pick_domain
from mesynth.nets.style_encoder import downsampling_trunk


class Discriminator(nn.Module):
    def __init__(self, img_size: int = 256, num_domains: int = 2, max_conv_dim: int = 512) -> None:
        super().__init__()
        layers, dim_out = downsampling_trunk(img_size, max_conv_dim)
        self.main = nn.Sequential(*layers, nn.Conv2d(dim_out, num_domains, 1, 1, 0))

    def forward(self, x: torch.Tensor, domain: torch.Tensor) -> torch.Tensor:
        logits = self.main(x).flatten(1)
        return pick_domain(logits, domain)
