"""The landmark network stays frozen in eval mode."""

from __future__ import annotations

from mesynth.nets import build_nets


def test_landmark_network_stays_in_eval_mode_and_frozen():
    fan = build_nets(img_size=64, max_conv_dim=64, w_hpf=1).fan
    fan.train()
    assert not fan.training
    assert not any(module.training for module in fan.modules())
    assert not any(parameter.requires_grad for parameter in fan.parameters())
