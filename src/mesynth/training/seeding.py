"""Random streams indexed by (seed, rank, iteration).

Everything random in a training iteration - the latent codes, the (source, reference) pairs and
each image's augmentation - is drawn from a generator seeded by the run's seed, the process rank,
the iteration and the purpose of the draw, never from the global RNG. So every rank draws its
own values, a run is reproducible for a fixed seed and world size (whatever the number of data
workers), and a resumed run continues exactly: the iteration counter is the whole RNG state.
"""

from __future__ import annotations

import numpy as np
import torch

# Purposes of the draws: different streams for the same (seed, rank, iteration).
LATENTS = 1
PAIRS = 2


def stream_seed(seed: int, rank: int, iteration: int, purpose: int) -> int:
    """A 63-bit seed that mixes its arguments well (neighbouring inputs give unrelated seeds)."""
    for name, value in (("seed", seed), ("rank", rank), ("iteration", iteration)):
        if int(value) < 0:
            raise ValueError(f"{name} must be >= 0 to seed a random stream, got {value}")
    words = np.random.SeedSequence([int(seed), int(rank), int(iteration), int(purpose)])
    high, low = (int(word) for word in words.generate_state(2, np.uint32))
    return ((high << 32) | low) >> 1


def stream(seed: int, rank: int, iteration: int, purpose: int) -> torch.Generator:
    """A CPU generator for one purpose of one iteration of one process."""
    return torch.Generator().manual_seed(stream_seed(seed, rank, iteration, purpose))
