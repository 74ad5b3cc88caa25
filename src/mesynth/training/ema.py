"""Exponential moving average of network weights, and the diversity-loss weight schedule."""

from __future__ import annotations

import copy

import torch
from torch import nn


def ema_copy(net: nn.Module) -> nn.Module:
    """An fp32, gradient-free copy of ``net`` to hold its moving average."""
    average = copy.deepcopy(net).float()
    average.requires_grad_(False)
    return average.eval()


@torch.no_grad()
def update_ema(net: nn.Module, average: nn.Module, beta: float = 0.999) -> None:
    """``average <- beta * average + (1 - beta) * net`` for every parameter.

    As in the reference, buffers are not averaged (StarGAN v2's nets only have constant ones)
    and the update is ``lerp(net, average, beta)``, computed in fp32.
    """
    averaged = dict(average.named_parameters())
    for name, parameter in net.named_parameters():
        target = averaged.get(name)
        if target is None or target.shape != parameter.shape:
            raise ValueError(f"EMA copy does not match the network at parameter {name!r}")
        target.copy_(torch.lerp(parameter.detach().float(), target, beta))


def lambda_ds_at(iteration: int, initial: float, ds_iter: int) -> float:
    """Weight of the diversity-sensitive loss during iteration ``iteration`` (0-based).

    It falls linearly from ``initial`` to 0 over ``ds_iter`` iterations and stays at 0; a
    non-positive ``ds_iter`` keeps it constant. Being a function of the iteration (not a value
    decremented in place, as in the reference) it continues correctly after a resume.
    """
    if ds_iter <= 0:
        return float(initial)
    return float(initial) * max(0.0, 1.0 - iteration / ds_iter)
