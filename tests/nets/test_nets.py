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
