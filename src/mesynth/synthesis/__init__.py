"""Synthesis: reference selection, the per-video pipeline and multi-device prediction."""

from mesynth.synthesis.pipeline import run

__all__ = ["run"]
