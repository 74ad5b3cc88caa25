"""Face detection, 68-point landmarks and the per-video crop."""

from mesynth.faces.crop import CROP_MODES, Crop

__all__ = ["CROP_MODES", "Crop"]
