"""The landmark network (a one-stack hourglass predicting 98 facial-landmark heatmaps).

StarGAN v2 uses it frozen: its heatmaps become the masks that decide which encoder details
(eyes, nose, mouth) pass through the generator's high-pass skips. Input images are 256x256 in
[0, 1]; the heatmaps are 64x64. The layer and parameter names follow the released ``wing.ckpt``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mesynth.nets.masks import heatmaps_to_masks

NUM_LANDMARKS = 98
INPUT_SIZE = 256
HEATMAP_SIZE = 64


def coordinate_channels(height: int, width: int, with_radius: bool) -> torch.Tensor:
    """Row and column coordinates in [-1, 1] (and optionally their normalised radius)."""
    rows = torch.arange(height, dtype=torch.float32)[:, None].expand(height, width)
    cols = torch.arange(width, dtype=torch.float32)[None, :].expand(height, width)
    rows = rows / (height - 1) * 2 - 1
    cols = cols / (width - 1) * 2 - 1
    channels = [rows, cols]
    if with_radius:
        radius = torch.sqrt(rows**2 + cols**2)
        channels.append(radius / radius.max())
    return torch.stack(channels)[None]


class CoordConv(nn.Module):
    """A convolution that sees fixed coordinate channels appended to its input."""

    def __init__(self, size: int, in_channels: int, out_channels: int, **conv_args) -> None:
        super().__init__()
        # Not a registered buffer: the released weights carry no such entry.
        self.coords = coordinate_channels(size, size, with_radius=True)
        self.conv = nn.Conv2d(in_channels + 3, out_channels, **conv_args)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        coords = self.coords.to(device=x.device, dtype=x.dtype).expand(x.size(0), -1, -1, -1)
        return self.conv(torch.cat([x, coords], dim=1))


class ConvBlock(nn.Module):
    """Hierarchical residual block: three 3x3 convs of width out/2, out/4, out/4, concatenated."""

    def __init__(self, in_planes: int, out_planes: int) -> None:
        super().__init__()
        half, quarter = out_planes // 2, out_planes // 4
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, half, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(half)
        self.conv2 = nn.Conv2d(half, quarter, 3, 1, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(quarter)
        self.conv3 = nn.Conv2d(quarter, quarter, 3, 1, 1, bias=False)
        self.downsample = None
        if in_planes != out_planes:
            self.downsample = nn.Sequential(
                nn.BatchNorm2d(in_planes),
                nn.ReLU(True),
                nn.Conv2d(in_planes, out_planes, 1, 1, bias=False),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out1 = self.conv1(F.relu(self.bn1(x)))
        out2 = self.conv2(F.relu(self.bn2(out1)))
        out3 = self.conv3(F.relu(self.bn3(out2)))
        residual = x if self.downsample is None else self.downsample(x)
        return torch.cat((out1, out2, out3), 1) + residual


class HourGlass(nn.Module):
    """Recursive hourglass of the given depth over 256-channel 64x64 features."""

    def __init__(self, depth: int = 4, features: int = 256) -> None:
        super().__init__()
        self.depth = depth
        self.coordconv = CoordConv(
            HEATMAP_SIZE, features, features, kernel_size=1, stride=1, padding=0
        )
        for level in range(depth, 0, -1):
            self.add_module(f"b1_{level}", ConvBlock(features, features))
            self.add_module(f"b2_{level}", ConvBlock(features, features))
        self.add_module("b2_plus_1", ConvBlock(features, features))
        for level in range(1, depth + 1):
            self.add_module(f"b3_{level}", ConvBlock(features, features))

    def level(self, depth: int, x: torch.Tensor) -> torch.Tensor:
        upper = self._modules[f"b1_{depth}"](x)
        lower = self._modules[f"b2_{depth}"](F.avg_pool2d(x, 2, stride=2))
        if depth > 1:
            lower = self.level(depth - 1, lower)
        else:
            lower = self._modules["b2_plus_1"](lower)
        lower = self._modules[f"b3_{depth}"](lower)
        return upper + F.interpolate(lower, scale_factor=2, mode="nearest")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.level(self.depth, self.coordconv(x))


class LandmarkNetwork(nn.Module):
    """Frozen landmark-heatmap network; always in eval mode, never trained."""

    def __init__(self, num_landmarks: int = NUM_LANDMARKS) -> None:
        super().__init__()
        self.conv1 = CoordConv(INPUT_SIZE, 3, 64, kernel_size=7, stride=2, padding=3)
        self.bn1 = nn.BatchNorm2d(64)
        self.conv2 = ConvBlock(64, 128)
        self.conv3 = ConvBlock(128, 128)
        self.conv4 = ConvBlock(128, 256)
        self.m0 = HourGlass(depth=4, features=256)
        self.top_m_0 = ConvBlock(256, 256)
        self.conv_last0 = nn.Conv2d(256, 256, 1, 1, 0)
        self.bn_end0 = nn.BatchNorm2d(256)
        # One extra output channel (a boundary map) that the masks do not use.
        self.l0 = nn.Conv2d(256, num_landmarks + 1, 1, 1, 0)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> LandmarkNetwork:
        # Batch-norm statistics are those of the released weights: training mode would replace
        # them with batch statistics, so the network stays in eval mode whatever its parent does.
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Raw heatmaps (N, 99, 64, 64) of images (N, 3, 256, 256) in [0, 1]."""
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.avg_pool2d(self.conv2(x), 2, stride=2)
        x = self.conv4(self.conv3(x))
        x = self.top_m_0(self.m0(x))
        x = F.relu(self.bn_end0(self.conv_last0(x)))
        return self.l0(x)

    @torch.no_grad()
    def landmark_heatmaps(self, x: torch.Tensor) -> torch.Tensor:
        """The 98 landmark heatmaps (N, 98, 64, 64) of images in [-1, 1] of any size."""
        x = F.interpolate(x, size=INPUT_SIZE, mode="bilinear")
        return self(x * 0.5 + 0.5)[:, :-1]

    @torch.no_grad()
    def get_heatmap(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The generator's two high-pass masks (N, 1, 256, 256) in [0, 1] for images in [-1, 1]."""
        heatmaps = self.landmark_heatmaps(x)
        heatmaps = F.interpolate(
            heatmaps, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=True
        )
        return heatmaps_to_masks(heatmaps)
