"""The pure parts of prepare-data: perceptual hash, duplicate index, sharpness, splits."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mesynth.media import builtin_image
from mesynth.prepare.filters import (
    DuplicateIndex,
    difference_hash,
    hash_distance,
    pick_face,
    sharpness,
)
from mesynth.prepare.split import split_by_domain, split_faces


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


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_an_identity_split_never_puts_one_person_in_both(seed):
    rng = np.random.default_rng(seed)
    keys = [f"img{i:03d}.jpg" for i in range(200)]
    identities = {key: f"person{rng.integers(30)}" for key in keys}
    domains = {key: "glasses" if rng.random() < 0.4 else "no_glasses" for key in keys}
    splits = split_faces(keys, domains, identities, None, 0.2, seed)
    sides: dict[str, set[str]] = {}
    for key in keys:
        sides.setdefault(identities[key], set()).add(splits[key])
    assert all(len(side) == 1 for side in sides.values())
    for domain in ("glasses", "no_glasses"):
        members = [key for key in keys if domains[key] == domain]
        share = sum(splits[key] == "val" for key in members) / len(members)
        assert 0.08 <= share <= 0.3, (domain, share)
    assert splits == split_faces(keys, domains, identities, None, 0.2, seed)  # seeded


def test_without_identities_each_domain_gives_its_share_to_val():
    keys = [f"{d}/{i}.jpg" for d in ("a", "b") for i in range(10)]
    domains = {key: key[0] for key in keys}
    splits = split_by_domain(keys, domains, 0.3, seed=0)
    assert [sum(splits[k] == "val" for k in keys if k[0] == d) for d in "ab"] == [3, 3]
    assert split_by_domain(keys, domains, 0.3, seed=1) != splits
    assert set(split_by_domain(keys[:1], domains, 0.3, seed=0).values()) == {"train"}
