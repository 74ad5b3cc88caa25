"""The W&B logger with mesynth's defaults."""

from __future__ import annotations

import hydra
import pytest

from mesynth.training.loggers import WandbLogger
from tests.training.conftest import compose_train


def test_wandb_logger_does_not_pass_the_setting_wandb_warns_about(tmp_path, monkeypatch):
    """W&B warns "the anonymous setting has no effect" whenever wandb.init gets anonymous."""
    import wandb

    received = {}

    def fake_init(**kwargs):
        received.update(kwargs)
        raise RuntimeError("stop here")

    monkeypatch.setattr(wandb, "init", fake_init)
    cfg = compose_train([f"paths.output_dir={tmp_path}"])
    logger = hydra.utils.instantiate(cfg.logger)
    assert isinstance(logger, WandbLogger)
    with pytest.raises(RuntimeError, match="stop here"):
        _ = logger.experiment
    assert received["project"] == "mesynth" and received["dir"] == str(tmp_path)
    assert "anonymous" not in received
    received.clear()  # asked for explicitly, it is still passed on
    with pytest.raises(RuntimeError, match="stop here"):
        _ = WandbLogger(anonymous=True, save_dir=str(tmp_path), offline=True).experiment
    assert received["anonymous"] == "allow"
