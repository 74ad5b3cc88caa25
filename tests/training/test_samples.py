"""Sample grids: layout of the reference- and latent-guided grids, caption band, PNG file."""

from __future__ import annotations

import torch
from PIL import Image

from mesynth.nets import build_nets
from mesynth.training.samples import (
    captioned,
    latent_grid,
    reference_grid,
    save_grid,
    to_unit_range,
)


def tiny_nets():
    torch.manual_seed(0)
    nets = build_nets(img_size=64, style_dim=8, latent_dim=4, max_conv_dim=32, w_hpf=0)
    for name in ("generator", "mapping_network", "style_encoder"):
        nets[name].eval()
    return nets


def test_to_unit_range_maps_and_clamps():
    values = to_unit_range(torch.tensor([-2.0, -1.0, 0.0, 0.5, 1.0, 3.0]))
    assert values.tolist() == [0.0, 0.0, 0.5, 0.75, 1.0, 1.0]


def test_reference_grid_has_a_blank_corner_sources_on_top_and_a_row_per_reference():
    nets = tiny_nets()
    x_src = torch.rand(2, 3, 64, 64) * 2 - 1
    x_ref = torch.rand(3, 3, 64, 64) * 2 - 1
    grid = reference_grid(nets, x_src, x_ref, torch.tensor([0, 1, 0]))
    assert grid.shape == (3, 4 * 64, 3 * 64)
    assert torch.equal(grid[:, :64, :64], torch.ones(3, 64, 64))
    torch.testing.assert_close(grid[:, :64, 64:128], to_unit_range(x_src[0]))
    torch.testing.assert_close(grid[:, 192:, :64], to_unit_range(x_ref[2]))


def test_latent_grid_has_one_row_per_domain_and_code():
    nets = tiny_nets()
    x_src = torch.rand(2, 3, 64, 64) * 2 - 1
    grid = latent_grid(nets, x_src, torch.randn(3, 4), num_domains=2)
    assert grid.shape == (3, (1 + 2 * 3) * 64, 2 * 64)
    torch.testing.assert_close(grid[:, :64, 64:], to_unit_range(x_src[1]))


def test_a_captioned_grid_is_saved_as_png(tmp_path):
    grid = torch.zeros(3, 64, 128)
    with_caption = captioned(grid, "run A")
    assert with_caption.shape == (3, 64 + 14, 128)
    assert with_caption[:, :14].mean() > 0.9  # a white band with red text
    path = save_grid(with_caption, tmp_path / "samples" / "000004_latent.png")
    assert Image.open(path).size == (128, 78)
    assert sorted(p.name for p in path.parent.iterdir()) == ["000004_latent.png"]
