"""Heatmaps to masks: unit range, shape, the second mask smaller."""

from __future__ import annotations

import torch

from mesynth.nets import build_nets, heatmaps_to_masks
from tests.nets.goldens import blob_heatmaps


def test_masks_are_in_unit_range_with_the_right_shape():
    nets = build_nets(img_size=64, max_conv_dim=64, w_hpf=1)
    for size in (64, 256):
        masks = nets.fan.get_heatmap(torch.rand(2, 3, size, size) * 2 - 1)
        assert len(masks) == 2
        for mask in masks:
            assert mask.shape == (2, 1, 256, 256)
            assert mask.min() >= 0 and mask.max() <= 1
    blob_masks = heatmaps_to_masks(blob_heatmaps())
    for mask in blob_masks:
        assert 0 < mask.mean() < 0.5  # partial masks: not all zeros, not saturated
        assert mask.min() == 0 and mask.max() <= 1
    # The second mask leaves out outline, eyebrows and mouth, so it covers less.
    assert blob_masks[1].sum() < blob_masks[0].sum()
