"""The StarGAN v2 generator: encoder, style-modulated decoder, optional high-pass skips."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from mesynth.nets.blocks import AdainResBlk, HighPass, ResBlk, check_img_size, encoder_widths

# Feature-map sizes (in pixels, whatever the image size) at which encoder features are passed
# through the high-pass filter to the decoder. The coarsest one uses the first mask (whole face),
# the finer ones the second mask (without face outline and mouth).
SKIP_SIZES = (32, 64, 128)
COARSE_SKIP_SIZE = 32
BOTTLENECK_BLOCKS = 2


class Content(NamedTuple):
    """What the encoder makes of a frame: bottleneck features, and per feature-map size the
    high-passed, masked encoder features added back in the decoder (empty without masks)."""

    features: torch.Tensor
    details: dict[int, torch.Tensor]


class Generator(nn.Module):
    def __init__(
        self, img_size: int = 256, style_dim: int = 64, max_conv_dim: int = 512, w_hpf: float = 1
    ) -> None:
        super().__init__()
        check_img_size(img_size)
        self.img_size = img_size
        dim_base = 2**14 // img_size
        self.from_rgb = nn.Conv2d(3, dim_base, 3, 1, 1)
        self.encode = nn.ModuleList()
        self.decode = nn.ModuleList()
        self.to_rgb = nn.Sequential(
            nn.InstanceNorm2d(dim_base, affine=True),
            nn.LeakyReLU(0.2),
            nn.Conv2d(dim_base, 3, 1, 1, 0),
        )
        num_down = int(math.log2(img_size)) - 4 + (1 if w_hpf > 0 else 0)
        widths = encoder_widths(img_size, max_conv_dim, num_down)
        for dim_in, dim_out in widths:
            self.encode.append(ResBlk(dim_in, dim_out, normalize=True, downsample=True))
        bottleneck_dim = widths[-1][1]
        for _ in range(BOTTLENECK_BLOCKS):
            self.encode.append(ResBlk(bottleneck_dim, bottleneck_dim, normalize=True))
        # The decoder mirrors the encoder: bottleneck blocks first, then up-sampling blocks in
        # reverse order of the down-sampling ones.
        for _ in range(BOTTLENECK_BLOCKS):
            self.decode.append(AdainResBlk(bottleneck_dim, bottleneck_dim, style_dim, w_hpf=w_hpf))
        for dim_in, dim_out in reversed(widths):
            self.decode.append(AdainResBlk(dim_out, dim_in, style_dim, w_hpf=w_hpf, upsample=True))
        if w_hpf > 0:
            self.hpf = HighPass(w_hpf)

    def encode_content(
        self, x: torch.Tensor, masks: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> Content:
        """The reference-independent part: encoder features and the high-passed skip details.

        It depends on the frame only, so one frame restyled with several style codes needs it
        once (:meth:`decode_style` per code); ``forward`` is exactly the two in sequence.
        """
        x = self.from_rgb(x)
        skips: dict[int, torch.Tensor] = {}
        for block in self.encode:
            if masks is not None and x.size(2) in SKIP_SIZES:
                skips[x.size(2)] = x
            x = block(x)
        details = {}
        for size, skip in skips.items():
            mask = masks[0] if size == COARSE_SKIP_SIZE else masks[1]
            mask = F.interpolate(mask, size=size, mode="bilinear")
            details[size] = self.hpf(mask * skip)
        return Content(x, details)

    def decode_style(self, content: Content, style_code: torch.Tensor) -> torch.Tensor:
        """The style-dependent part: the decoder blocks modulated by ``style_code``."""
        x = content.features
        for block in self.decode:
            x = block(x, style_code)
            detail = content.details.get(x.size(2))
            if detail is not None:
                x = x + detail
        return self.to_rgb(x)

    def forward(
        self,
        x: torch.Tensor,
        style_code: torch.Tensor,
        masks: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        return self.decode_style(self.encode_content(x, masks), style_code)
