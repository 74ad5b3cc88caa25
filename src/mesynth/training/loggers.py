"""Loggers with mesynth's defaults."""

from __future__ import annotations

from lightning.pytorch.loggers import WandbLogger as LightningWandbLogger


class WandbLogger(LightningWandbLogger):
    """Lightning's W&B logger without the ``anonymous`` argument, which W&B no longer uses.

    Lightning passes ``anonymous=None`` to ``wandb.init`` even when it is not asked for, and W&B
    then warns that "the anonymous setting has no effect" on every run. It is left out here unless
    it was set.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self._wandb_init.get("anonymous") is None:
            self._wandb_init.pop("anonymous", None)
