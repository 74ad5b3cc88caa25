"""Face descriptors: one person close to themselves, nothing for a frame without a face."""

from __future__ import annotations

import numpy as np

from mesynth.faces.descriptors import face_descriptor

from .conftest import shifted


def test_a_moved_face_keeps_its_descriptor(detector, face_image):
    descriptor = face_descriptor(face_image, detector)
    assert descriptor.shape == (128,)
    moved = face_descriptor(shifted(face_image, 12, -8, angle=5), detector)
    assert np.linalg.norm(descriptor - moved) < 0.3  # one person: well under dlib's 0.6
    grey = face_descriptor(face_image.mean(axis=2).astype(np.uint8), detector)
    assert grey.shape == (128,)


def test_no_face_gives_none(detector):
    assert face_descriptor(np.full((120, 120, 3), 90, np.uint8), detector) is None
