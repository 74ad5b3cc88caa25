"""StarGAN v2 training: losses, EMA, the LightningModule, the face-domain data and ``run``."""

from mesynth.training.runner import run

__all__ = ["run"]
