"""Mapping network: latent code z -> style code, one output head per domain."""

from __future__ import annotations

import torch
from torch import nn

HIDDEN = 512


def _mlp(dims: list[int]) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for index, (dim_in, dim_out) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
        layers.append(nn.Linear(dim_in, dim_out))
        if index < len(dims) - 2:
            layers.append(nn.ReLU())
    return layers


def pick_domain(per_domain: torch.Tensor, domain: torch.Tensor) -> torch.Tensor:
    """Select row ``domain[i]`` of ``per_domain[i]`` (batch, num_domains, ...) for each i."""
    return per_domain[torch.arange(domain.size(0), device=domain.device), domain]


class MappingNetwork(nn.Module):
    def __init__(self, latent_dim: int = 16, style_dim: int = 64, num_domains: int = 2) -> None:
        super().__init__()
        # The shared trunk ends in a ReLU; each domain head is a 4-layer MLP without final ReLU.
        self.shared = nn.Sequential(*_mlp([latent_dim] + [HIDDEN] * 4), nn.ReLU())
        self.unshared = nn.ModuleList(
            nn.Sequential(*_mlp([HIDDEN] * 4 + [style_dim])) for _ in range(num_domains)
        )

    def forward(self, z: torch.Tensor, domain: torch.Tensor) -> torch.Tensor:
        hidden = self.shared(z)
        per_domain = torch.stack([head(hidden) for head in self.unshared], dim=1)
        return pick_domain(per_domain, domain)
