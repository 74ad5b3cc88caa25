"""AU intensity backends (Hydra group ``au``): each ends in OpenFace-style CSVs per video.

- ``openface_csv``: OpenFace 2.x CSVs you already have (:mod:`.openface_csv`);
- ``openface``: runs OpenFace's FeatureExtraction on the frames (:mod:`.openface`);
- ``landmarks``: built-in geometric proxies from dlib's 68 landmarks (:mod:`.landmarks`).
"""

from __future__ import annotations

from typing import Protocol

from hydra.utils import instantiate
from omegaconf import DictConfig

from mesynth.evaluation.au.base import AUInputs, CSVPairs
from mesynth.evaluation.au.openface_csv import check_requested_aus, read_openface_csv
from mesynth.evaluation.common import EvaluationInputError


class AUBackend(Protocol):
    name: str
    needs_frames: bool

    def csv_pairs(self, inputs: AUInputs) -> CSVPairs: ...


def build_backend(au_cfg: DictConfig) -> AUBackend:
    """Instantiate the backend chosen in the ``au`` config group."""
    if au_cfg is None or "_target_" not in au_cfg:
        raise EvaluationInputError(
            "the `au` config has no _target_; choose a backend: au=openface_csv, au=openface or "
            "au=landmarks"
        )
    return instantiate(au_cfg)


__all__ = [
    "AUBackend",
    "AUInputs",
    "CSVPairs",
    "build_backend",
    "check_requested_aus",
    "read_openface_csv",
]
