"""The checks a photo passes to enter the training set; pure functions and one small index.

- which face: the largest (or, for CelebA, the one around the annotated eyes); several faces
  are refused with ``one_face_only``;
- sharpness: variance of the Laplacian of the aligned grey face at :data:`SHARPNESS_SIZE` px;
- near-duplicates: 64-bit difference hashes (dHash) of the whole photo, compared by the number
  of differing bits; :class:`DuplicateIndex` finds an earlier hash within a few bits quickly.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from mesynth.faces.landmarks import choose_face
from mesynth.imaging import to_grey

SHARPNESS_SIZE = 128
HASH_SIDE = 8  # 8x8 comparisons: a 64-bit hash

# Reasons a photo is left out, in the order the checks run.
UNREADABLE = "unreadable"
NO_FACE = "no_face"
SEVERAL_FACES = "several_faces"
TOO_SMALL = "too_small"
BLURRED = "blurred"
DUPLICATE = "duplicate"
REASONS = (UNREADABLE, NO_FACE, SEVERAL_FACES, TOO_SMALL, BLURRED, DUPLICATE)


def sharpness(face: np.ndarray) -> float:
    """Variance of the Laplacian of an RGB or grey uint8 image (higher: sharper)."""
    return float(cv2.Laplacian(to_grey(face), cv2.CV_64F).var())


def difference_hash(image: np.ndarray) -> int:
    """dHash: the photo shrunk to 9x8 grey cells, one bit per cell brighter than its right
    neighbour. Re-encoding, resizing and mild edits keep most of the 64 bits."""
    cells = cv2.resize(to_grey(image), (HASH_SIDE + 1, HASH_SIDE), interpolation=cv2.INTER_AREA)
    bits = (cells[:, 1:].astype(np.int16) > cells[:, :-1].astype(np.int16)).ravel()
    return int(np.packbits(bits).view(">u8")[0])


def hash_distance(first: int, second: int) -> int:
    """Number of differing bits of two hashes."""
    return (first ^ second).bit_count()


class DuplicateIndex:
    """Hashes seen so far, searchable for one within ``max_bits`` differing bits.

    The 64 bits are cut into ``max_bits + 1`` bands; two hashes that differ in at most
    ``max_bits`` bits agree exactly on at least one band (pigeonhole), so only the hashes that
    share a band with the query are compared.
    """

    def __init__(self, max_bits: int) -> None:
        self.max_bits = int(max_bits)
        edges = np.linspace(0, 64, self.max_bits + 2).round().astype(int)
        self._bands = [(int(lo), int(hi)) for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
        self._buckets: list[dict[int, list[tuple[int, str]]]] = [{} for _ in self._bands]

    def _keys(self, value: int) -> list[int]:
        return [(value >> lo) & ((1 << (hi - lo)) - 1) for lo, hi in self._bands]

    def find(self, value: int) -> str | None:
        """The name of an earlier hash within ``max_bits`` bits of ``value``, or None."""
        if self.max_bits < 0:
            return None
        for bucket, key in zip(self._buckets, self._keys(value), strict=True):
            for other, name in bucket.get(key, ()):
                if hash_distance(value, other) <= self.max_bits:
                    return name
        return None

    def add(self, value: int, name: str) -> None:
        for bucket, key in zip(self._buckets, self._keys(value), strict=True):
            bucket.setdefault(key, []).append((value, name))


def _contains(box: np.ndarray, point: Sequence[float]) -> bool:
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


def pick_face(
    faces: list[tuple[np.ndarray, float]],
    one_face_only: bool,
    eyes: Sequence[float] | None = None,
) -> tuple[np.ndarray | None, str | None]:
    """The box to align among the detected faces, or the reason there is none.

    With annotated ``eyes`` (x, y, x, y; CelebA), the largest face holding both eyes is taken.
    """
    if not faces:
        return None, NO_FACE
    if len(faces) > 1 and one_face_only:
        return None, SEVERAL_FACES
    if eyes is not None and len(faces) > 1:
        holding = [f for f in faces if _contains(f[0], eyes[:2]) and _contains(f[0], eyes[2:])]
        faces = holding or faces
    return choose_face(faces, "largest"), None
