"""The generator: image size kept, content encoded once and decoded per style."""

from __future__ import annotations

import pytest
import torch

from mesynth.nets import build_nets


@pytest.mark.parametrize("img_size", [64, 128, 256, 512])
@pytest.mark.parametrize("w_hpf", [0.0, 1.0])
def test_generator_keeps_the_image_size(img_size, w_hpf):
    nets = build_nets(img_size=img_size, max_conv_dim=64, w_hpf=w_hpf, style_dim=8)
    nets.generator.eval()
    x = torch.rand(1, 3, img_size, img_size) * 2 - 1
    masks = None
    if w_hpf:
        mask = torch.rand(1, 1, 256, 256)
        masks = (mask, mask)
    with torch.no_grad():
        style = nets.mapping_network(torch.randn(1, 16), torch.tensor([1]))
        out = nets.generator(x, style, masks=masks)
        logits = nets.discriminator(x, torch.tensor([0]))
    assert out.shape == x.shape
    assert style.shape == (1, 8)
    assert logits.shape == (1,)


@pytest.mark.parametrize("w_hpf", [0.0, 1.0])
def test_encoding_once_and_decoding_per_style_is_forward_exactly(w_hpf):
    torch.manual_seed(0)
    nets = build_nets(img_size=64, max_conv_dim=64, w_hpf=w_hpf, style_dim=8)
    generator = nets.generator.eval()
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    masks = nets.fan.get_heatmap(x) if w_hpf else None
    styles = [torch.randn(2, 8) for _ in range(3)]
    with torch.no_grad():
        content = generator.encode_content(x, masks)
        assert sorted(content.details) == ([32, 64] if w_hpf else [])
        for style in styles:
            separate = generator(x, style, masks=masks)
            shared = generator.decode_style(content, style)
            assert torch.equal(shared, separate)
        assert not torch.equal(generator.decode_style(content, styles[0]), shared)
