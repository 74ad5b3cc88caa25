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

from mesynth.evaluation.common import EvaluationInputError
from mesynth.evaluation.frames import VideoPair
from mesynth.faces.descriptors import face_descriptor
from mesynth.faces.sampling import sample_indices

log = logging.getLogger(__name__)

IDENTITY_COLUMNS = [
    "video", "distance_original_synthetic", "distance_synthetic_reference", "hidden",
    "n_frames_original", "n_frames_synthetic", "reference",
]  # fmt: skip
REFERENCE_COLUMNS = ("reference", "reference_path", "path", "image")


def mean_descriptor(frames: list[np.ndarray], detector) -> tuple[np.ndarray | None, int]:
    """Mean descriptor over the frames where a face was found, and how many those were."""
    found = [d for d in (face_descriptor(frame, detector) for frame in frames) if d is not None]
    return (np.mean(found, axis=0), len(found)) if found else (None, 0)


def read_references(path: Path) -> dict[str, str]:
    """video id -> reference image, from a CSV with ``video`` and ``reference`` columns."""
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
        reference = str(reference)
        if not reference.startswith("skimage:") and not Path(reference).is_absolute():
            if not Path(reference).exists():
                reference = str(path.parent / reference)
        references[video] = reference
    return references


def _distance(a: np.ndarray | None, b: np.ndarray | None) -> float:
    return float(np.linalg.norm(a - b)) if a is not None and b is not None else float("nan")


def reference_image(reference: str, video: str) -> np.ndarray:
    """The reference image synthesis used, read the way synthesis read it (``skimage:<name>``
    names an image shipped with scikit-image)."""
    from mesynth.media import read_image

    try:
        return read_image(reference, "reference image", "it is the one manifest.json records")
    except ValueError as error:
        raise EvaluationInputError(
            f"reference image {reference} of video {video} cannot be read ({error}); point "
            "identity.references at a CSV of video,reference, or turn the identity measure off "
            "with identity.enabled=false"
        ) from error


def identity_distances(
    pair: VideoPair,
    frames_per_video: int,
    threshold: float,
    reference: str | None = None,
    detector=None,
) -> dict:
    """Descriptor distances of one video: original vs synthetic, synthetic vs reference.

    ``detector`` (a :class:`mesynth.faces.landmarks.LandmarkDetector`) finds the face to follow.
    """
    if detector is None:
        from mesynth.faces.landmarks import LandmarkDetector

        detector = LandmarkDetector()
    indices = sample_indices(len(pair), frames_per_video)
    original, n_original = mean_descriptor([pair.original_frame(i) for i in indices], detector)
    synthetic, n_synthetic = mean_descriptor([pair.synthetic_frame(i) for i in indices], detector)
    reference_descriptor = None
    if reference is not None:
        image = reference_image(reference, pair.video_id)
        reference_descriptor = face_descriptor(image, detector)
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
        "reference": reference or "",
    }
