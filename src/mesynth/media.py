"""Image and video files: the one list of suffixes mesynth reads, and the one image reader.

Frames of videos, reference images and evaluation inputs all go through :func:`read_image`
(OpenCV decoding with an integrity check, so a truncated JPEG is an error, not a grey band).
``skimage:<name>`` names an image that ships with scikit-image (e.g. ``skimage:astronaut``, a
real face photo), so examples and tests need no download.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg"})
BUILTIN_PREFIX = "skimage:"


class MediaError(ValueError):
    """An image or video file that is missing or cannot be decoded; ``path`` names it."""

    def __init__(
        self, message: str, path: str | Path | None = None, frame_index: int | None = None
    ):
        super().__init__(message)
        self.path = None if path is None else Path(path)
        self.frame_index = frame_index


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES and not path.name.startswith(".")


def to_rgb(image: np.ndarray, path: str | Path = "<image>") -> np.ndarray:
    """A decoded cv2 image (grey, BGR or BGRA; uint8) as RGB uint8 HxWx3."""
    if image.dtype != np.uint8:
        raise MediaError(
            f"{path} is {image.dtype}, expected 8-bit (uint8); convert it to 8-bit JPEG/PNG first",
            path,
        )
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    channels = image.shape[2]
    if channels == 1:
        return cv2.cvtColor(image[:, :, 0], cv2.COLOR_GRAY2RGB)
    if channels == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if channels == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    raise MediaError(f"{path} has {channels} channels, expected 1, 3 or 4", path)


def integrity_problem(
    data: bytes | np.ndarray, suffix: str, tail: bytes | None = None
) -> str | None:
    """Cheap structural check of an encoded image; returns a reason or None.

    cv2 decodes a truncated JPEG without failing (the missing rows come out grey), so the end
    marker is checked explicitly.
    """
    head = bytes(data[:8])
    if tail is None:
        tail = bytes(data[-32:])
    if len(head) == 0:
        return "the file is empty"
    if suffix in (".jpg", ".jpeg"):
        if head[:2] != b"\xff\xd8":
            return "it does not start with a JPEG marker"
        if b"\xff\xd9" not in tail:
            return "it is truncated (no JPEG end marker)"
    elif suffix == ".png":
        if head != b"\x89PNG\r\n\x1a\n":
            return "it does not start with the PNG signature"
        if b"IEND" not in tail:
            return "it is truncated (no PNG IEND chunk)"
    return None


def quick_check(path: Path) -> str | None:
    """:func:`integrity_problem` reading only the head and tail of the file."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - 32))
            tail = handle.read(32)
    except OSError as error:
        return f"it cannot be opened ({error})"
    return integrity_problem(head, path.suffix.lower(), tail)


def _builtin_loader(name: str):
    import skimage.data

    loader = getattr(skimage.data, name, None)
    if loader is None or not callable(loader):
        raise MediaError(
            f"{BUILTIN_PREFIX}{name}: scikit-image ships no image {name!r}; use e.g. "
            f"{BUILTIN_PREFIX}astronaut or a file path"
        )
    return loader


def builtin_image(name: str) -> np.ndarray:
    """An image shipped with scikit-image, e.g. ``astronaut``, as RGB uint8."""
    image = np.asarray(_builtin_loader(name)())
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3]).astype(np.uint8)


def check_image(
    path: str | Path,
    what: str = "image",
    fix: str = "replace the file",
    error_type: type[MediaError] = MediaError,
) -> None:
    """Fail early and cheaply (no decoding) for a missing, empty or truncated image file."""
    if str(path).startswith(BUILTIN_PREFIX):
        _builtin_loader(str(path)[len(BUILTIN_PREFIX) :])
        return
    path = Path(path)
    if not path.is_file():
        raise error_type(f"{what} {path} not found; {fix}", path)
    problem = quick_check(path)
    if problem is not None:
        raise error_type(f"{what} {path} is unreadable: {problem}; {fix}", path)


def read_image(
    path: str | Path,
    what: str = "image",
    fix: str = "replace the file",
    error_type: type[MediaError] = MediaError,
    exif_rotate: bool = False,
) -> np.ndarray:
    """An image as RGB uint8 HxWx3, or ``error_type`` naming the file, what it is and the fix.

    ``skimage:<name>`` reads an image that ships with scikit-image instead of a file.
    ``exif_rotate``: turn the image upright as its EXIF orientation says (photos from cameras
    and phones); video frames and crops never carry one, so by default it is not read.
    """
    if str(path).startswith(BUILTIN_PREFIX):
        return builtin_image(str(path)[len(BUILTIN_PREFIX) :])
    path = Path(path)
    if not path.is_file():
        raise error_type(f"{what} {path} not found; {fix}", path)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as error:
        raise error_type(f"{what} {path} cannot be read ({error}); {fix}", path) from error
    problem = integrity_problem(data, path.suffix.lower())
    if problem is None:
        # IMREAD_COLOR applies the EXIF orientation; IMREAD_UNCHANGED ignores it.
        image = cv2.imdecode(data, cv2.IMREAD_COLOR if exif_rotate else cv2.IMREAD_UNCHANGED)
        if image is None:
            problem = "it cannot be decoded as an image"
    if problem is not None:
        raise error_type(f"{what} {path} is unreadable: {problem}; {fix}", path)
    try:
        return to_rgb(image, path)
    except MediaError as error:
        raise error_type(f"{what} {error}; {fix}", path) from error
