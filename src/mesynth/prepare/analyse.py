"""One photo in, one record out: read (EXIF rotation honoured), detect, align, measure.

Runs in worker processes, one landmark detector each. A photo that passes the per-photo checks
has its aligned face written to the staging folder (temporary name, then renamed); which of them
are near-duplicates is decided afterwards, in source order, by :mod:`mesynth.prepare.run`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from mesynth.atomic import write_atomically
from mesynth.faces.align import PARAM_NAMES, align_face
from mesynth.media import MediaError, read_image
from mesynth.prepare.filters import (
    BLURRED,
    SHARPNESS_SIZE,
    TOO_SMALL,
    UNREADABLE,
    difference_hash,
    pick_face,
    sharpness,
)
from mesynth.prepare.sources import SourceImage


@dataclass(frozen=True)
class Checks:
    """The per-photo settings of a run."""

    size: int
    min_face: float
    min_sharpness: float
    one_face_only: bool


@dataclass
class Record:
    """What was found for one source photo (a row of prepared.csv, before the split)."""

    key: str
    domain: str
    reason: str | None = None  # None: passed the per-photo checks
    detail: str = ""
    width: int = 0
    height: int = 0
    faces: int = 0
    centre_x: float | None = None
    centre_y: float | None = None
    half_side: float | None = None
    angle: float | None = None
    sharpness: float | None = None
    hash: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Record:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})


def staged_path(staging: Path, key: str) -> Path:
    """Where the aligned face of ``key`` waits until it is placed (flat, collision-free)."""
    return staging / (key.replace("/", "__") + ".png")


def write_png(path: Path, image: np.ndarray) -> None:
    """An RGB image as a lossless PNG, complete or not at all."""
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError(f"could not encode {path} as PNG")
    write_atomically(path, lambda partial: partial.write_bytes(encoded.tobytes()))


def analyse(image: SourceImage, checks: Checks, detector, staging: Path) -> Record:
    """The record of one photo; its aligned face goes to ``staging`` when it passes."""
    record = Record(image.key, image.domain)
    try:
        photo = read_image(image.path, "photo", "it is left out", exif_rotate=True)
    except MediaError as error:
        record.reason, record.detail = UNREADABLE, str(error)
        return record
    record.height, record.width = photo.shape[:2]
    record.hash = f"{difference_hash(photo):016x}"
    faces = detector.detect_faces(photo)
    record.faces = len(faces)
    box, record.reason = pick_face(faces, checks.one_face_only, image.eyes)
    if box is None:
        return record
    landmarks = detector.landmarks_in_box(photo, box)
    face, params = align_face(photo, landmarks, checks.size)
    for name, value in zip(PARAM_NAMES, params.tolist(), strict=True):
        setattr(record, name, round(value, 4))
    side = 2 * float(params[2])
    if side < checks.min_face:
        record.reason, record.detail = TOO_SMALL, f"face square {side:.0f} px < {checks.min_face:g}"
        return record
    small = cv2.resize(face, (SHARPNESS_SIZE, SHARPNESS_SIZE), interpolation=cv2.INTER_AREA)
    record.sharpness = round(sharpness(small), 2)
    if record.sharpness < checks.min_sharpness:
        record.reason = BLURRED
        record.detail = f"sharpness {record.sharpness:.1f} < {checks.min_sharpness:g}"
        return record
    write_png(staged_path(staging, image.key), face)
    return record
