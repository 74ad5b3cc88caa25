"""Identity: does the synthetic face hide the participant?

dlib's face descriptor (a 128-d embedding; two photos of one person lie closer than about 0.6)
is averaged over a few frames of each side. Reported per video: the distance original ->
synthetic (large = the participant is hidden) and synthetic -> reference image (small = the
synthetic face took the reference's identity).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from mesynth.evaluation.common import EvaluationInputError
from mesynth.evaluation.face_models import face_descriptor
from mesynth.evaluation.frames import VideoPair

log = logging.getLogger(__name__)

IDENTITY_COLUMNS = [
    "video", "distance_original_synthetic", "distance_synthetic_reference", "hidden",
    "n_frames_original", "n_frames_synthetic", "reference",
]  # fmt: skip
REFERENCE_COLUMNS = ("reference", "reference_path", "path", "image")


def sample_indices(n_frames: int, count: int) -> list[int]:
    """``count`` frame indices spread evenly over a video (fewer for a short one)."""
    if n_frames <= 0 or count <= 0:
        return []
    return sorted(
        set(np.round(np.linspace(0, n_frames - 1, min(count, n_frames))).astype(int).tolist())
    )


def mean_descriptor(frames: list[np.ndarray]) -> tuple[np.ndarray | None, int]:
    """Mean descriptor over the frames where a face was found, and how many those were."""
    found = [d for d in (face_descriptor(frame) for frame in frames) if d is not None]
    return (np.mean(found, axis=0), len(found)) if found else (None, 0)


def read_references(path: Path) -> dict[str, Path]:
    """video id -> reference image, from the synthesis ``references.csv``."""
    table = pd.read_csv(path)
    table.columns = [str(c).strip() for c in table.columns]
    column = next((c for c in REFERENCE_COLUMNS if c in table.columns), None)
    if "video" not in table.columns or column is None:
        raise EvaluationInputError(
            f"{path} needs a `video` column and one of {REFERENCE_COLUMNS}; found "
            f"{list(table.columns)}. Set identity.references=null to skip the reference distance"
        )
    references = {}
    for video, reference in zip(table["video"].astype(str), table[column], strict=True):
        if pd.isna(reference):
            continue
        reference = Path(str(reference))
        if not reference.is_absolute() and not reference.exists():
            reference = path.parent / reference
        references[video] = reference
    return references


def _distance(a: np.ndarray | None, b: np.ndarray | None) -> float:
    return float(np.linalg.norm(a - b)) if a is not None and b is not None else float("nan")


def identity_distances(
    pair: VideoPair, frames_per_video: int, threshold: float, reference: Path | None = None
) -> dict:
    """Descriptor distances of one video: original vs synthetic, synthetic vs reference."""
    indices = sample_indices(len(pair), frames_per_video)
    original, n_original = mean_descriptor([pair.original_frame(i) for i in indices])
    synthetic, n_synthetic = mean_descriptor([pair.synthetic_frame(i) for i in indices])
    reference_descriptor = None
    if reference is not None:
        if not reference.is_file():
            raise EvaluationInputError(
                f"reference image {reference} of video {pair.video_id} not found; fix "
                "identity.references or set it to null"
            )
        reference_descriptor = face_descriptor(np.asarray(Image.open(reference).convert("RGB")))
        if reference_descriptor is None:
            log.warning("no face found in the reference image %s", reference)
    distance = _distance(original, synthetic)
    return {
        "video": pair.video_id,
        "distance_original_synthetic": distance,
        "distance_synthetic_reference": _distance(synthetic, reference_descriptor),
        "hidden": bool(distance > threshold) if np.isfinite(distance) else None,
        "n_frames_original": n_original,
        "n_frames_synthetic": n_synthetic,
        "reference": str(reference) if reference is not None else "",
    }
