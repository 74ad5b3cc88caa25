"""Iteration callbacks: when they are due, and the sample grids they write and log."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from mesynth.training.callbacks import SampleGrids, _due
from tests.training.test_samples import tiny_nets


def test_due_every_n_iterations_never_at_zero_or_when_off():
    assert [i for i in range(13) if _due(i, 4)] == [4, 8, 12]
    assert not any(_due(i, 0) for i in range(10))


class ImageLogger:
    def __init__(self) -> None:
        self.logged: list[tuple[str, int]] = []

    def log_image(self, key, images, step):
        self.logged.append((key, step))


def test_sample_grids_are_written_when_due_and_once_more_at_the_end(tmp_path):
    nets = tiny_nets()
    logger = ImageLogger()
    module = SimpleNamespace(
        iteration=0,
        device=torch.device("cpu"),
        domains=["a", "b"],
        loggers=[logger, object()],
        ema_view=lambda: nets,
    )
    trainer = SimpleNamespace(is_global_zero=True)
    inputs = {
        "x_src": torch.rand(2, 3, 64, 64) * 2 - 1,
        "x_ref": torch.rand(2, 3, 64, 64) * 2 - 1,
        "y_ref": torch.tensor([0, 1]),
    }
    grids = SampleGrids(inputs, torch.randn(1, 4), tmp_path, every=2)
    for iteration in (1, 2, 3):
        module.iteration = iteration
        grids.on_train_batch_end(trainer, module, None, None, 0)
    grids.on_train_end(trainer, module)
    module.iteration = 3
    grids.on_train_end(trainer, module)  # already written at 3: nothing new
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "000002_latent.png",
        "000002_reference.png",
        "000003_latent.png",
        "000003_reference.png",
    ]
    assert logger.logged == [
        ("samples/reference", 2),
        ("samples/latent", 2),
        ("samples/reference", 3),
        ("samples/latent", 3),
    ]
