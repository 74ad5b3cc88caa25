"""Clips of the demo face for the motion-feature tests: a brow lowering (AU4), a smile (AU12)
and a head sway with no expression, 36 frames at 30 fps."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from mesynth.spotting.features import FeatureJob
from mesynth.video.demo_clip import FaceWarper
from mesynth.video.layouts import open_sources

FPS = 30.0
FRAMES = 36


def _envelope(rise: tuple[int, int], fall: tuple[int, int]) -> np.ndarray:
    """0 -> 1 over ``rise`` frames, 1 until ``fall`` starts, back to 0 by its end."""
    frames = np.arange(FRAMES)
    curve = np.interp(frames, [rise[0], rise[1], fall[0], fall[1]], [0, 1, 1, 0])
    curve[(frames < rise[0]) | (frames > fall[1])] = 0
    return curve


def write_clip(folder: Path, frames: list[np.ndarray]) -> None:
    folder.mkdir(parents=True)
    for number, frame in enumerate(frames, start=1):
        assert cv2.imwrite(str(folder / f"{folder.name}_{number:04d}.png"), frame)


def make_clips(face: tuple[np.ndarray, np.ndarray], root: Path) -> Path:
    """The three clips (``brows``, ``mouth``, ``sway``) of ``face`` (``demo_face``) under root."""
    image, landmarks = face
    warper = FaceWarper(image, landmarks)
    curve = _envelope((10, 16), (20, 26))
    write_clip(root / "brows", [warper.render({4: v}) for v in curve])
    write_clip(root / "mouth", [warper.render({12: v}) for v in curve])
    sway = []
    for index in range(FRAMES):
        shift = 1.5 * np.sin(2 * np.pi * index / FRAMES)
        matrix = np.float32([[1, 0, shift], [0, 1, 0.5 * shift]])
        sway.append(cv2.warpAffine(image, matrix, image.shape[::-1], borderMode=cv2.BORDER_REFLECT))
    write_clip(root / "sway", sway)
    return root


def feature_jobs(root: Path) -> list[FeatureJob]:
    return [FeatureJob(s.video_id, s, None, FPS) for s in open_sources(root, layout="folder")]
