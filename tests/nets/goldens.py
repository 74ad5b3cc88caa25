"""Deterministic weights and inputs shared by the golden-output file and the tests.

The golden file ``reference_outputs.pt`` holds outputs of the StarGAN v2 reference
implementation for these weights and inputs (made by ``make_reference_outputs.py``); the tests
compare mesynth's networks against it without needing the reference code.
"""

from __future__ import annotations

from pathlib import Path

import torch

GOLDEN_PATH = Path(__file__).with_name("reference_outputs.pt")
# (img_size, w_hpf); the high-pass case at 128 px exercises all three skip resolutions.
CASES = ((64, 0.0), (128, 1.0))
SETTINGS = dict(style_dim=16, latent_dim=8, num_domains=3, max_conv_dim=128)
HEATMAP_CHANNELS = slice(0, 98, 7)


def fill_state(state: dict[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    """A reproducible state dict: small random weights, positive variances, kept buffers."""
    generator = torch.Generator().manual_seed(seed)
    filled = {}
    for key in sorted(state):
        value = state[key]
        if not value.dtype.is_floating_point or key.endswith("hpf.filter"):
            filled[key] = value.clone()
        elif key.endswith("running_var"):
            filled[key] = torch.rand(value.shape, generator=generator) + 0.5
        elif key.endswith("running_mean"):
            filled[key] = torch.randn(value.shape, generator=generator) * 0.1
        else:
            filled[key] = torch.randn(value.shape, generator=generator) * 0.05
    return filled


def inputs(img_size: int, seed: int = 7) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return dict(
        x=torch.rand(2, 3, img_size, img_size, generator=generator) * 2 - 1,
        y=torch.tensor([2, 0]),
        z=torch.randn(2, SETTINGS["latent_dim"], generator=generator),
        fan_x=torch.rand(1, 3, 256, 256, generator=generator) * 2 - 1,
    )


def blob_heatmaps(seed: int = 3, batch: int = 1, size: int = 256) -> torch.Tensor:
    """98 Gaussian-blob heatmaps at random face-like positions, with a little noise."""
    generator = torch.Generator().manual_seed(seed)
    rows, cols = torch.meshgrid(
        torch.arange(size, dtype=torch.float32),
        torch.arange(size, dtype=torch.float32),
        indexing="ij",
    )
    centres = torch.rand(batch, 98, 2, generator=generator) * (size * 0.78) + size * 0.11
    sigma = torch.rand(batch, 98, generator=generator) * 6 + 2
    squared = (rows - centres[..., 0, None, None]) ** 2 + (cols - centres[..., 1, None, None]) ** 2
    heatmaps = torch.exp(-squared / (2 * sigma[..., None, None] ** 2))
    heatmaps = heatmaps * (torch.rand(batch, 98, 1, 1, generator=generator) * 0.8 + 0.2)
    return heatmaps + torch.rand(batch, 98, size, size, generator=generator) * 0.05
