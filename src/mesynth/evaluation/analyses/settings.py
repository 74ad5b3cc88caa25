"""Settings several frame analyses read from the config."""

from __future__ import annotations

from omegaconf import DictConfig


def farneback_params(cfg: DictConfig):
    from mesynth.evaluation.flow import FarnebackParams

    return FarnebackParams(**cfg.flow.farneback)
