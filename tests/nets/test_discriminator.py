"""Discriminator: one real/fake logit per domain, the asked domain's is returned."""

from __future__ import annotations

import torch

from mesynth.nets.discriminator import Discriminator


def test_one_logit_per_image_from_the_asked_domain():
    torch.manual_seed(0)
    discriminator = Discriminator(img_size=64, num_domains=2, max_conv_dim=32).eval()
    image = torch.rand(1, 3, 64, 64).expand(2, -1, -1, -1) * 2 - 1
    with torch.no_grad():
        logits = discriminator(image, torch.tensor([0, 1]))
        all_domains = discriminator.main(image[:1]).flatten(1)
    assert logits.shape == (2,)
    torch.testing.assert_close(logits, all_domains[0], rtol=0, atol=1e-6)
    assert logits[0] != logits[1]
