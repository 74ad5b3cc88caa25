"""Shared blocks: the image-size check, encoder widths, the high-pass filter."""

from __future__ import annotations

import pytest
import torch

from mesynth.nets import build_nets
from mesynth.nets.blocks import HighPass, encoder_widths


@pytest.mark.parametrize("img_size", [32, 100, 1024])
def test_wrong_image_size_is_a_clear_error(img_size):
    with pytest.raises(ValueError, match="power of two from 64 to 512"):
        build_nets(img_size=img_size)


def test_encoder_widths_double_up_to_the_cap():
    assert encoder_widths(256, 512, 6) == [
        (64, 128),
        (128, 256),
        (256, 512),
        (512, 512),
        (512, 512),
        (512, 512),
    ]
    assert encoder_widths(64, 300, 3) == [(256, 300), (300, 300), (300, 300)]


def test_high_pass_removes_flat_images_and_scales_by_one_over_w_hpf():
    flat = torch.full((1, 2, 5, 5), 3.0)
    assert torch.equal(HighPass(1.0)(flat)[..., 1:-1, 1:-1], torch.zeros(1, 2, 3, 3))
    spike = torch.zeros(1, 1, 3, 3)
    spike[0, 0, 1, 1] = 1.0
    out = HighPass(2.0)(spike)
    assert out[0, 0, 1, 1].item() == 4.0  # 8 / w_hpf at the centre
    assert out[0, 0, 0, 0].item() == -0.5  # -1 / w_hpf around it
