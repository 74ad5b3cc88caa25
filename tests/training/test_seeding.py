"""Random streams by (seed, rank, iteration, purpose): reproducible, independent, 63-bit."""

from __future__ import annotations

import pytest
import torch

from mesynth.training.seeding import LATENTS, PAIRS, stream, stream_seed


def test_the_same_arguments_give_the_same_stream():
    assert stream_seed(7, 0, 3, LATENTS) == stream_seed(7, 0, 3, LATENTS)
    first = torch.rand(4, generator=stream(7, 1, 3, PAIRS))
    torch.manual_seed(99)  # the global RNG plays no part
    assert torch.equal(torch.rand(4, generator=stream(7, 1, 3, PAIRS)), first)


def test_each_argument_changes_the_seed_and_seeds_fit_63_bits():
    base = (7, 0, 3, LATENTS)
    seeds = {stream_seed(*base)}
    for position in range(4):
        changed = list(base)
        changed[position] += 1
        seeds.add(stream_seed(*changed))
    assert len(seeds) == 5
    assert all(0 <= seed < 2**63 for seed in seeds)


def test_a_negative_argument_is_refused_by_name():
    with pytest.raises(ValueError, match="iteration must be >= 0 to seed a random stream, got -1"):
        stream_seed(1, 0, -1, LATENTS)
