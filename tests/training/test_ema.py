"""EMA of the weights and the lambda_ds schedule."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mesynth.training.ema import ema_copy, lambda_ds_at, update_ema


def test_update_ema_is_the_reference_lerp_on_parameters():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    average = ema_copy(net)
    assert not any(p.requires_grad for p in average.parameters())
    before = {k: v.clone() for k, v in average.state_dict().items()}
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.add_(1.0)
        net[1].running_mean.fill_(5.0)
    update_ema(net, average, beta=0.9)
    for name, parameter in net.named_parameters():
        expected = 0.9 * before[name] + 0.1 * parameter.detach()
        assert torch.allclose(average.state_dict()[name], expected, atol=1e-7)
    # Buffers are not averaged (as in the reference).
    assert torch.equal(average[1].running_mean, before["1.running_mean"])
    update_ema(net, average, beta=0.0)
    assert torch.equal(average[0].weight, net[0].weight.detach())


def test_lambda_ds_decays_linearly_to_zero_like_the_reference():
    initial, ds_iter = 2.0, 8
    # The reference subtracts initial/ds_iter after every iteration while the value is > 0.
    value, reference = initial, []
    for _ in range(12):
        reference.append(value)
        if value > 0:
            value -= initial / ds_iter
    ours = [lambda_ds_at(i, initial, ds_iter) for i in range(12)]
    assert ours[:9] == pytest.approx(reference[:9], abs=1e-12)
    assert ours[0] == 2.0 and ours[4] == 1.0 and ours[8:] == [0.0] * 4
    assert lambda_ds_at(50, 1.5, 0) == 1.5  # ds_iter <= 0 keeps it constant
