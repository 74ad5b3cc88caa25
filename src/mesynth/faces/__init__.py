"""Face detection, 68-point landmarks and the per-video crop."""

from mesynth.faces.align import FaceNotFoundError, alignment_params, estimate_crop
from mesynth.faces.crop import CROP_MODES, Crop
from mesynth.faces.landmarks import LandmarkDetector, eye_aspect_ratio

__all__ = [
    "CROP_MODES",
    "Crop",
    "FaceNotFoundError",
    "LandmarkDetector",
    "alignment_params",
    "estimate_crop",
    "eye_aspect_ratio",
]
