"""Sample grids from fixed inputs, to watch a run: reference-guided and latent-guided."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torchvision.utils import make_grid, save_image

from mesynth.atomic import write_atomically


def to_unit_range(x: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] -> [0, 1] (clamped)."""
    return ((x + 1) / 2).clamp(0, 1)


def _masks(nets: Mapping, x: torch.Tensor):
    return nets["fan"].get_heatmap(x) if nets.get("fan") is not None else None


@torch.no_grad()
def reference_grid(
    nets: Mapping, x_src: torch.Tensor, x_ref: torch.Tensor, y_ref: torch.Tensor
) -> torch.Tensor:
    """First row: a blank cell, then the sources; each further row: one reference image, then
    every source translated with its style. Returns one image (3, H, W) in [0, 1]."""
    masks = _masks(nets, x_src)
    styles = nets["style_encoder"](x_ref, y_ref)
    blank = torch.ones_like(x_src[:1])
    rows = [torch.cat([blank, x_src])]
    for index in range(x_ref.size(0)):
        style = styles[index : index + 1].expand(x_src.size(0), -1)
        rows.append(torch.cat([x_ref[index : index + 1], nets["generator"](x_src, style, masks)]))
    cells = to_unit_range(torch.cat(rows))
    return make_grid(cells, nrow=x_src.size(0) + 1, padding=0)


@torch.no_grad()
def latent_grid(nets: Mapping, x_src: torch.Tensor, z_codes: torch.Tensor, num_domains: int):
    """First row: the sources; then, for each target domain, one row per latent code (the same
    codes for every domain). Returns one image (3, H, W) in [0, 1]."""
    masks = _masks(nets, x_src)
    count = x_src.size(0)
    rows = [x_src]
    for domain in range(num_domains):
        labels = torch.full((count,), domain, dtype=torch.long, device=x_src.device)
        for z in z_codes:
            style = nets["mapping_network"](z.expand(count, -1), labels)
            rows.append(nets["generator"](x_src, style, masks))
    return make_grid(to_unit_range(torch.cat(rows)), nrow=count, padding=0)


def captioned(grid: torch.Tensor, caption: str) -> torch.Tensor:
    """``grid`` (3, H, W) in [0, 1] under a white band that reads ``caption``."""
    from PIL import Image, ImageDraw

    band = Image.new("RGB", (grid.shape[2], 14), "white")
    ImageDraw.Draw(band).text((2, 1), caption, fill=(200, 0, 0))
    pixels = torch.from_numpy(np.asarray(band).copy()).permute(2, 0, 1).to(grid)
    return torch.cat([pixels / 255.0, grid], dim=1)


def save_grid(grid: torch.Tensor, path: str | Path) -> Path:
    """Write a grid as PNG via a temporary name, so a file that exists is complete."""
    return write_atomically(path, lambda partial: save_image(grid, partial, format="PNG"))
