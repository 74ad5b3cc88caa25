"""Synthesis: reference selection, the run plan, multi-device prediction, the output folder."""

from __future__ import annotations


def run(cfg):
    """``python infer.py``: see :func:`mesynth.synthesis.pipeline.run`."""
    from mesynth.synthesis.pipeline import run as run_synthesis

    return run_synthesis(cfg)


__all__ = ["run"]
