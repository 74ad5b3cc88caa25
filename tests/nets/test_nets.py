"""The networks: parameter counts, official key names and shapes, reference outputs."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import torch

from mesynth.nets import build_nets, count_parameters, heatmaps_to_masks
from tests.nets.goldens import (
    CASES,
    GOLDEN_PATH,
    HEATMAP_CHANNELS,
    SETTINGS,
    blob_heatmaps,
    fill_state,
    inputs,
)

OFFICIAL_KEYS = json.loads(Path(__file__).with_name("official_keys_256.json").read_text())


@pytest.fixture(scope="module")
def nets_256():
    return build_nets()


def test_parameter_counts_at_256(nets_256):
    assert count_parameters(nets_256.generator) == 43_467_395
    assert count_parameters(build_nets(w_hpf=0).generator) == 33_892_995
    assert count_parameters(nets_256.mapping_network) == 2_438_272
    assert count_parameters(nets_256.style_encoder) == 20_916_928
    assert count_parameters(nets_256.discriminator) == 20_852_290


def test_every_official_key_present_with_its_shape(nets_256):
    for name, expected in OFFICIAL_KEYS.items():
        ours = {key: list(value.shape) for key, value in nets_256[name].state_dict().items()}
        assert ours == expected, name


def test_fan_is_none_without_high_pass():
    assert build_nets(img_size=64, max_conv_dim=64, w_hpf=0).fan is None


@pytest.mark.parametrize("img_size", [32, 100, 1024])
def test_wrong_image_size_is_a_clear_error(img_size):
    with pytest.raises(ValueError, match="power of two from 64 to 512"):
        build_nets(img_size=img_size)


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


def test_landmark_network_stays_in_eval_mode_and_frozen():
    fan = build_nets(img_size=64, max_conv_dim=64, w_hpf=1).fan
    fan.train()
    assert not fan.training
    assert not any(module.training for module in fan.modules())
    assert not any(parameter.requires_grad for parameter in fan.parameters())


def _our_nets_for(img_size: int, w_hpf: float):
    nets = build_nets(img_size=img_size, w_hpf=w_hpf, **SETTINGS)
    names = ["discriminator", "generator", "mapping_network", "style_encoder"]
    if w_hpf > 0:
        names.append("fan")
    for seed, name in enumerate(sorted(names)):
        nets[name].load_state_dict(fill_state(nets[name].state_dict(), seed))
        nets[name].eval()
    return nets


def _outputs(nets, img_size: int, w_hpf: float) -> dict[str, torch.Tensor]:
    data = inputs(img_size)
    with torch.no_grad():
        style = nets.style_encoder(data["x"], data["y"])
        outputs = dict(
            style_encoder=style,
            mapping_network=nets.mapping_network(data["z"], data["y"]),
            discriminator=nets.discriminator(data["x"], data["y"]),
        )
        if w_hpf > 0:
            outputs["fan_heatmaps"] = nets.fan.landmark_heatmaps(data["fan_x"])[:, HEATMAP_CHANNELS]
            masks = heatmaps_to_masks(blob_heatmaps())
            outputs["blob_masks"] = torch.cat(masks, dim=1)
            masks = [mask.expand(2, -1, -1, -1) for mask in masks]
            outputs["generator"] = nets.generator(data["x"], style, masks=masks)
        else:
            outputs["generator"] = nets.generator(data["x"], style)
    return outputs


@pytest.mark.parametrize("img_size,w_hpf", CASES)
def test_outputs_equal_the_reference_implementation(img_size, w_hpf):
    golden = torch.load(GOLDEN_PATH)[f"{img_size}_{w_hpf}"]
    ours = _outputs(_our_nets_for(img_size, w_hpf), img_size, w_hpf)
    assert set(ours) == set(golden)
    for name, expected in golden.items():
        assert ours[name].shape == expected.shape, name
        torch.testing.assert_close(ours[name], expected, atol=1e-4, rtol=0, msg=name)
        assert expected.abs().max() > 1e-3, f"{name} golden output is degenerate"


REFERENCE_DIR = os.environ.get("MESYNTH_REFERENCE_DIR")


@pytest.mark.skipif(
    not REFERENCE_DIR, reason="set MESYNTH_REFERENCE_DIR to a StarGAN v2 reference checkout"
)
@pytest.mark.parametrize("img_size", [64, 128, 256, 512])
@pytest.mark.parametrize("w_hpf", [0.0, 1.0])
def test_live_against_reference_checkout(img_size, w_hpf, tmp_path):
    """Official-format file written by the reference nets -> load_official -> same outputs."""
    from mesynth.checkpoint import load_official

    sys.path.insert(0, REFERENCE_DIR)
    from core.model import Discriminator, Generator, MappingNetwork, StyleEncoder
    from core.wing import FAN

    reference = dict(
        generator=Generator(img_size, 64, w_hpf=w_hpf),
        mapping_network=MappingNetwork(16, 64, 2),
        style_encoder=StyleEncoder(img_size, 64, 2),
        discriminator=Discriminator(img_size, 2),
    )
    if w_hpf:
        reference["fan"] = FAN()
    for seed, net in enumerate(reference.values()):
        net.load_state_dict(fill_state(net.state_dict(), seed))
        net.eval()
    path = tmp_path / "100000_nets.ckpt"
    torch.save({name: net.state_dict() for name, net in reference.items()}, path)
    ours = load_official(path)
    x = torch.rand(2, 3, img_size, img_size) * 2 - 1
    y, z = torch.tensor([1, 0]), torch.randn(2, 16)
    with torch.no_grad():
        style = reference["style_encoder"](x, y)
        pairs = [
            (reference["style_encoder"](x, y), ours.style_encoder(x, y)),
            (reference["mapping_network"](z, y), ours.mapping_network(z, y)),
            (reference["discriminator"](x, y), ours.discriminator(x, y)),
        ]
        masks = None
        if w_hpf:
            masks = reference["fan"].get_heatmap(x)
            for expected, actual in zip(masks, ours.fan.get_heatmap(x), strict=True):
                pairs.append((expected, actual))
        pairs.append((reference["generator"](x, style, masks), ours.generator(x, style, masks)))
    for expected, actual in pairs:
        torch.testing.assert_close(actual, expected, atol=1e-4, rtol=0)


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
