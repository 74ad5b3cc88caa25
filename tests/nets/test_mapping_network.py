"""Mapping network: one head per domain, the target domain's style is returned."""

from __future__ import annotations

import torch

from mesynth.nets.mapping_network import MappingNetwork, pick_domain


def test_pick_domain_takes_each_rows_own_domain():
    per_domain = torch.arange(12.0).reshape(2, 3, 2)
    picked = pick_domain(per_domain, torch.tensor([2, 0]))
    assert picked.tolist() == [[4.0, 5.0], [6.0, 7.0]]


def test_each_domain_has_its_own_head():
    torch.manual_seed(0)
    network = MappingNetwork(latent_dim=4, style_dim=3, num_domains=2).eval()
    z = torch.randn(1, 4).expand(2, 4)
    with torch.no_grad():
        styles = network(z, torch.tensor([0, 1]))
        again = network(z, torch.tensor([1, 1]))
    assert styles.shape == (2, 3)
    assert not torch.allclose(styles[0], styles[1])
    assert torch.equal(again[0], styles[1])
