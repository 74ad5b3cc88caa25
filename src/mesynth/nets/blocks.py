"""Residual building blocks shared by the StarGAN v2 networks.

Every block divides its output by sqrt(2) after adding the shortcut so that the sum of two
unit-variance branches stays at unit variance.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LEAKY_SLOPE = 0.2
_SQRT2 = math.sqrt(2)


class ResBlk(nn.Module):
    """Pre-activation residual block, optionally instance-normalised and 2x average-pooled."""

    def __init__(
        self, dim_in: int, dim_out: int, normalize: bool = False, downsample: bool = False
    ) -> None:
        super().__init__()
        self.normalize = normalize
        self.downsample = downsample
        self.learned_sc = dim_in != dim_out
        self.conv1 = nn.Conv2d(dim_in, dim_in, 3, 1, 1)
        self.conv2 = nn.Conv2d(dim_in, dim_out, 3, 1, 1)
        if normalize:
            self.norm1 = nn.InstanceNorm2d(dim_in, affine=True)
            self.norm2 = nn.InstanceNorm2d(dim_in, affine=True)
        if self.learned_sc:
            self.conv1x1 = nn.Conv2d(dim_in, dim_out, 1, 1, 0, bias=False)

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.learned_sc:
            x = self.conv1x1(x)
        if self.downsample:
            x = F.avg_pool2d(x, 2)
        return x

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        if self.normalize:
            x = self.norm1(x)
        x = self.conv1(F.leaky_relu(x, LEAKY_SLOPE))
        if self.downsample:
            x = F.avg_pool2d(x, 2)
        if self.normalize:
            x = self.norm2(x)
        return self.conv2(F.leaky_relu(x, LEAKY_SLOPE))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.shortcut(x) + self.residual(x)) / _SQRT2


class AdaIN(nn.Module):
    """Adaptive instance norm: the style code sets a per-channel scale (1 + gamma) and shift."""

    def __init__(self, style_dim: int, num_features: int) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm2d(num_features, affine=False)
        self.fc = nn.Linear(style_dim, num_features * 2)

    def forward(self, x: torch.Tensor, style_code: torch.Tensor) -> torch.Tensor:
        params = self.fc(style_code)[:, :, None, None]
        gamma, beta = params.chunk(2, dim=1)
        return (1 + gamma) * self.norm(x) + beta


class AdainResBlk(nn.Module):
    """Decoder block modulated by a style code, optionally 2x nearest-upsampled.

    With the high-pass path on (``w_hpf > 0``) the shortcut is dropped: the skip connection from
    the encoder carries the identity details instead.
    """

    def __init__(
        self,
        dim_in: int,
        dim_out: int,
        style_dim: int = 64,
        w_hpf: float = 0.0,
        upsample: bool = False,
    ) -> None:
        super().__init__()
        self.w_hpf = w_hpf
        self.upsample = upsample
        self.learned_sc = dim_in != dim_out
        self.conv1 = nn.Conv2d(dim_in, dim_out, 3, 1, 1)
        self.conv2 = nn.Conv2d(dim_out, dim_out, 3, 1, 1)
        self.norm1 = AdaIN(style_dim, dim_in)
        self.norm2 = AdaIN(style_dim, dim_out)
        if self.learned_sc:
            self.conv1x1 = nn.Conv2d(dim_in, dim_out, 1, 1, 0, bias=False)

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        if self.learned_sc:
            x = self.conv1x1(x)
        return x

    def residual(self, x: torch.Tensor, style_code: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.norm1(x, style_code), LEAKY_SLOPE)
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = self.conv1(x)
        x = F.leaky_relu(self.norm2(x, style_code), LEAKY_SLOPE)
        return self.conv2(x)

    def forward(self, x: torch.Tensor, style_code: torch.Tensor) -> torch.Tensor:
        out = self.residual(x, style_code)
        if self.w_hpf == 0:
            out = (out + self.shortcut(x)) / _SQRT2
        return out


class HighPass(nn.Module):
    """Depthwise 3x3 Laplacian-like filter, scaled by ``1 / w_hpf``."""

    def __init__(self, w_hpf: float) -> None:
        super().__init__()
        kernel = torch.tensor([[-1.0, -1.0, -1.0], [-1.0, 8.0, -1.0], [-1.0, -1.0, -1.0]])
        self.register_buffer("filter", kernel / w_hpf)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.size(1)
        weight = self.filter[None, None].expand(channels, 1, 3, 3)
        return F.conv2d(x, weight, padding=1, groups=channels)


def encoder_widths(img_size: int, max_conv_dim: int, num_blocks: int) -> list[tuple[int, int]]:
    """(dim_in, dim_out) of each down-sampling block: width doubles, capped at max_conv_dim."""
    widths = []
    dim_in = 2**14 // img_size
    for _ in range(num_blocks):
        dim_out = min(dim_in * 2, max_conv_dim)
        widths.append((dim_in, dim_out))
        dim_in = dim_out
    return widths


def check_img_size(img_size: int) -> None:
    if img_size not in (64, 128, 256, 512):
        raise ValueError(
            f"img_size must be a power of two from 64 to 512 (64, 128, 256 or 512), got "
            f"{img_size}; set model.net.img_size (train.py) or img_size= (infer.py) to one of these"
        )
