"""The filters of prepare-data: perceptual hash, duplicate index, sharpness, the face picked."""

from __future__ import annotations

import cv2
import numpy as np

from mesynth.media import builtin_image
from mesynth.prepare.filters import (
    DuplicateIndex,
    difference_hash,
    hash_distance,
    pick_face,
    sharpness,
)


def test_the_hash_survives_re_encoding_and_resizing_but_not_another_photo():
    photo = builtin_image("astronaut")
    ok, encoded = cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_QUALITY, 60])
    recoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    value = difference_hash(photo)
    assert hash_distance(value, difference_hash(recoded)) <= 2
    assert hash_distance(value, difference_hash(cv2.resize(photo, (200, 200)))) <= 2
    assert hash_distance(value, difference_hash(builtin_image("coffee"))) > 16
    assert hash_distance(value, difference_hash(np.ascontiguousarray(photo[:, ::-1]))) > 16


def test_the_duplicate_index_finds_every_hash_within_the_bits_and_none_beyond():
    rng = np.random.default_rng(0)
    index = DuplicateIndex(max_bits=4)
    stored = [int(v) for v in rng.integers(0, 2**63, 300, dtype=np.int64)]
    for number, value in enumerate(stored):
        index.add(value, f"photo{number}")
    for number, value in enumerate(stored[:50]):
        bits = rng.choice(64, size=int(rng.integers(0, 5)), replace=False)
        near = value ^ sum(1 << int(bit) for bit in bits)
        assert index.find(near) == f"photo{number}"
        far = value ^ sum(1 << int(bit) for bit in rng.choice(64, size=12, replace=False))
        assert index.find(far) is None  # 300 random hashes: none within 4 bits of another


def test_sharpness_falls_with_blur():
    face = builtin_image("astronaut")[25:205, 135:315]
    sharp, soft = sharpness(face), sharpness(cv2.GaussianBlur(face, (0, 0), 2))
    assert sharp > 5 * soft > 0


def test_the_largest_face_or_the_annotated_one_is_picked():
    small = (np.array([10.0, 10, 50, 50]), 2.0)
    large = (np.array([100.0, 100, 200, 200]), 0.5)
    assert pick_face([small, large], False)[0] is large[0]
    assert pick_face([small, large], False, eyes=(20, 30, 40, 30))[0] is small[0]
    assert pick_face([small, large], True) == (None, "several_faces")
    assert pick_face([], False) == (None, "no_face")
