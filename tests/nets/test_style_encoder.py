"""Style encoder: image -> one style code per domain head."""

from __future__ import annotations

import torch

from mesynth.nets.style_encoder import StyleEncoder, downsampling_trunk


def test_trunk_reduces_the_image_to_one_feature_vector():
    layers, dim_out = downsampling_trunk(64, 32)
    assert dim_out == 32
    with torch.no_grad():
        features = torch.nn.Sequential(*layers)(torch.zeros(1, 3, 64, 64))
    assert features.shape == (1, 32, 1, 1)


def test_the_domain_chooses_the_head():
    torch.manual_seed(0)
    encoder = StyleEncoder(img_size=64, style_dim=5, num_domains=3, max_conv_dim=32).eval()
    image = torch.rand(1, 3, 64, 64).expand(3, -1, -1, -1) * 2 - 1
    with torch.no_grad():
        styles = encoder(image, torch.tensor([0, 1, 2]))
    assert styles.shape == (3, 5)
    assert not torch.allclose(styles[0], styles[1])
    assert not torch.allclose(styles[1], styles[2])
