"""Raw photos made from the face that scikit-image ships (the astronaut, Eileen Collins), for the
pipeline test of ``python train.py`` and for the tests: the photo turned, scaled, shifted,
mirrored and re-lit on a background, with or without drawn-on spectacles.

They are one person's face, so a model trained on them tests the pipeline, not synthesis.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mesynth.media import builtin_image

FACE_CENTRE = (225.0, 120.0)  # the face in skimage.data.astronaut(), px
EYES = ((195, 105), (255, 105))
PIPELINE_DOMAINS = ("glasses", "no_glasses")


@dataclass(frozen=True)
class Pose:
    """How a copy of the photo differs from it."""

    angle: float = 0.0  # degrees, counter-clockwise
    scale: float = 1.0
    shift: tuple[float, float] = (0.0, 0.0)  # face centre from the canvas centre, px
    mirror: bool = False
    gain: float = 1.0


def with_glasses(photo: np.ndarray) -> np.ndarray:
    """The astronaut wearing thin dark spectacles (drawn; thicker rims hide her eyes from
    dlib's detector in the smaller copies)."""
    photo = photo.copy()
    colour, (half_width, half_height) = (40, 30, 20), (24, 17)
    for x, y in EYES:
        cv2.ellipse(photo, (x, y), (half_width, half_height), 0, 0, 360, colour, 1, cv2.LINE_AA)
    left, right = EYES[0][0] + half_width, EYES[1][0] - half_width
    cv2.line(photo, (left, EYES[0][1]), (right, EYES[1][1]), colour, 1, cv2.LINE_AA)
    return photo


def background(size: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth colour gradient with mild noise (no face-like structure)."""
    low, high = rng.uniform(30, 220, 3), rng.uniform(30, 220, 3)
    ramp = np.linspace(0, 1, size)[None, :, None]
    canvas = low + (high - low) * ramp
    canvas = np.broadcast_to(canvas, (size, size, 3)) + rng.normal(0, 6, (size, size, 3))
    return canvas.clip(0, 255).astype(np.uint8)


def posed_photo(photo: np.ndarray, pose: Pose, canvas: np.ndarray) -> np.ndarray:
    """``photo`` warped by ``pose`` (about the face centre) onto ``canvas`` (its size)."""
    size = canvas.shape[0]
    matrix = cv2.getRotationMatrix2D(FACE_CENTRE, pose.angle, pose.scale)
    matrix[:, 2] += np.array([size / 2, size / 2]) + np.array(pose.shift) - FACE_CENTRE
    out = canvas.copy()
    cv2.warpAffine(
        photo,
        matrix,
        (size, size),
        dst=out,
        flags=cv2.INTER_AREA,
        borderMode=cv2.BORDER_TRANSPARENT,
    )
    if pose.mirror:
        out = np.ascontiguousarray(out[:, ::-1])
    return np.clip(out.astype(np.float32) * pose.gain, 0, 255).astype(np.uint8)


def random_pose(rng: np.random.Generator) -> Pose:
    return Pose(
        angle=float(rng.uniform(-12, 12)),
        scale=float(rng.uniform(0.7, 0.95)),
        shift=tuple(float(v) for v in rng.uniform(-20, 20, 2)),
        mirror=bool(rng.integers(2)),
        gain=float(rng.uniform(0.8, 1.15)),
    )


def write_photo(path: Path, image: np.ndarray, quality: int = 92) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok = cv2.imwrite(
        str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise RuntimeError(f"could not write {path}")
    return path


def make_pipeline_photos(root: Path, per_domain: int, size: int = 288, seed: int = 0) -> Path:
    """``root/glasses/*.jpg`` and ``root/no_glasses/*.jpg``: posed copies of the astronaut."""
    rng = np.random.default_rng(seed)
    photo = builtin_image("astronaut")
    looks = {"glasses": with_glasses(photo), "no_glasses": photo}
    for domain in PIPELINE_DOMAINS:
        for index in range(per_domain):
            image = posed_photo(looks[domain], random_pose(rng), background(size, rng))
            write_photo(root / domain / f"{domain}_{index:03d}.jpg", image)
    return root


def ensure_pipeline_set(
    out: Path, photos: Path, per_domain: int, size: int, seed: int = 0, workers: int = 1
) -> Path:
    """The pipeline test's training set in ``out`` (``train/`` and ``val/``), made once by
    prepare-data from posed copies of the astronaut written to ``photos``."""
    from mesynth.prepare.run import PrepareSettings, prepare

    out, photos = Path(out), Path(photos)
    if (out / "prepared.csv").is_file():
        return out
    if not any(photos.glob("*/*.jpg")):
        make_pipeline_photos(photos, per_domain, seed=seed)
    prepare(
        PrepareSettings(source=photos, out=out, size=size, val=0.25, seed=seed, workers=workers)
    )
    return out
