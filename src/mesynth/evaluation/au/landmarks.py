"""A built-in, offline AU backend: geometric intensity *proxies* from dlib's 68 landmarks.

These are not FACS intensities and not OpenFace's regressors: each is a distance or height
between landmarks, measured in a face frame (origin between the eye centres, x along the eye
line, y down; eye centres are the midpoints of the eye corners) and divided by the inter-ocular
distance (its median over the video), so head position, in-plane rotation and face size drop
out. Units are arbitrary and offsets differ from person to person; only the
variation over time is meaningful, which is what the correlations measure (Pearson and Spearman
are blind to a positive scale and an offset). Landmark numbers below are dlib's (0-based).

=====  ====================  ===========================================================
AU     name                  proxy (larger = more of the action)
=====  ====================  ===========================================================
AU01   inner brow raiser     height of the inner brow ends (21, 22) above the inner eye
                             corners (39, 42)
AU02   outer brow raiser     height of the outer brow (17, 18 / 25, 26) above the outer
                             eye corners (36, 45)
AU04   brow lowerer          brows lowered (mean brow height 17-26 below the eye line)
                             and drawn together (inner brow ends 21-22 closer)
AU12   lip corner puller     mouth width (48-54) plus how far the corners rise above the
                             mid-lip line (62, 66)
AU15   lip corner depressor  how far the mouth corners sit below the mid-lip line
AU20   lip stretcher         mouth width (48-54)
AU25   lips part             gap between the inner lips (61-67, 62-66, 63-65)
AU26   jaw drop              chin (8) below the nose tip (33)
AU45   blink                 1 - eye aspect ratio (mean of both eyes; Soukupova & Cech)
=====  ====================  ===========================================================

Frames with no face found get ``success = 0``; ``confidence`` is 1 where landmarks were found
(dlib gives no per-frame landmark confidence), so ``min_confidence`` only matters for OpenFace.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from mesynth.config import to_plain
from mesynth.evaluation.au.base import FrameBackend
from mesynth.evaluation.common import intensity_column, write_csv
from mesynth.evaluation.frames import VideoPair
from mesynth.faces.landmarks import LazyDetector
from mesynth.faces.tracking import LandmarkTracker

log = logging.getLogger(__name__)

PROXY_AUS = ("AU01", "AU02", "AU04", "AU12", "AU15", "AU20", "AU25", "AU26", "AU45")


def face_frame(landmarks: np.ndarray) -> np.ndarray:
    """Landmarks (N, 68, 2) in the face frame: eye midpoint origin, eye line x, IOD units.

    The unit is the *median* inter-ocular distance of the N frames (one video): dlib's fit
    shrinks the whole face by a few percent while the eyes are closed, and dividing each frame
    by its own distance would turn every blink into a mouth or brow movement.
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    # Eye centres from the corners only: the lids move in a blink, the corners do not.
    right_eye = (landmarks[:, 36] + landmarks[:, 39]) / 2
    left_eye = (landmarks[:, 42] + landmarks[:, 45]) / 2
    axis = left_eye - right_eye
    iod = np.linalg.norm(axis, axis=1, keepdims=True)
    x_axis = axis / np.maximum(iod, 1e-9)
    y_axis = np.stack([-x_axis[:, 1], x_axis[:, 0]], axis=1)  # x rotated +90 deg: image down
    centred = landmarks - ((left_eye + right_eye) / 2)[:, None, :]
    x = np.einsum("npc,nc->np", centred, x_axis)
    y = np.einsum("npc,nc->np", centred, y_axis)
    return np.stack([x, y], axis=-1) / max(float(np.median(iod)), 1e-9)


def _eye_aspect_ratio(points: np.ndarray) -> np.ndarray:
    # points (N, 6, 2) in dlib order: corner, two upper lid, corner, two lower lid.
    vertical = np.linalg.norm(points[:, 1] - points[:, 5], axis=1) + np.linalg.norm(
        points[:, 2] - points[:, 4], axis=1
    )
    horizontal = np.linalg.norm(points[:, 0] - points[:, 3], axis=1)
    return vertical / (2.0 * np.maximum(horizontal, 1e-9))


def au_proxies(landmarks: np.ndarray) -> dict[str, np.ndarray]:
    """AU intensity proxies of landmarks (N, 68, 2) or (68, 2); see the module docstring."""
    landmarks = np.asarray(landmarks, dtype=np.float64)
    single = landmarks.ndim == 2
    if single:
        landmarks = landmarks[None]
    if landmarks.shape[1:] != (68, 2):
        raise ValueError(f"expected landmarks of shape (N, 68, 2), got {landmarks.shape}")
    face = face_frame(landmarks)
    x, y = face[..., 0], face[..., 1]

    inner_brow = ((y[:, 39] - y[:, 21]) + (y[:, 42] - y[:, 22])) / 2
    outer_brow = ((y[:, 36] - y[:, 17:19].mean(1)) + (y[:, 45] - y[:, 25:27].mean(1))) / 2
    brow_gap = x[:, 22] - x[:, 21]
    brow_height = -y[:, 17:27].mean(1)
    mouth_width = np.linalg.norm(face[:, 54] - face[:, 48], axis=1)
    mid_lip = (y[:, 62] + y[:, 66]) / 2
    corner_rise = mid_lip - (y[:, 48] + y[:, 54]) / 2
    lip_gap = np.mean(
        [
            np.linalg.norm(face[:, a] - face[:, b], axis=1)
            for a, b in ((61, 67), (62, 66), (63, 65))
        ],
        axis=0,
    )
    eye_aspect = (
        _eye_aspect_ratio(landmarks[:, 36:42]) + _eye_aspect_ratio(landmarks[:, 42:48])
    ) / 2

    proxies = {
        "AU01": inner_brow,
        "AU02": outer_brow,
        # The constant keeps a neutral face's value positive; it does not change correlations.
        "AU04": 1.0 - brow_height - brow_gap,
        "AU12": mouth_width + corner_rise,
        "AU15": -corner_rise,
        "AU20": mouth_width,
        "AU25": lip_gap,
        "AU26": y[:, 8] - y[:, 33],
        "AU45": 1.0 - eye_aspect,
    }
    return {au: values[0] if single else values for au, values in proxies.items()}


def proxy_table(landmarks: list[np.ndarray | None], fps: float | None = None) -> pd.DataFrame:
    """An OpenFace-style table (frame, face_id, timestamp, confidence, success, AUxx_r)."""
    n_frames = len(landmarks)
    found = np.array([points is not None for points in landmarks], dtype=bool)
    table = pd.DataFrame(
        {
            "frame": np.arange(1, n_frames + 1),
            "face_id": np.zeros(n_frames, dtype=int),
            "timestamp": np.arange(n_frames) / fps if fps else np.full(n_frames, np.nan),
            "confidence": found.astype(float),
            "success": found.astype(int),
        }
    )
    values = {au: np.zeros(n_frames) for au in PROXY_AUS}
    if found.any():
        stacked = np.stack([points for points in landmarks if points is not None])
        for au, series in au_proxies(stacked).items():
            values[au][found] = series
    for au in PROXY_AUS:
        table[intensity_column(au)] = values[au]
    return table


class LandmarkBackend(FrameBackend):
    """AU proxies from dlib landmarks of the frames; CSVs cached in ``cache_dir/<side>/``."""

    name = "landmarks"
    progress = "AU proxies"

    def __init__(
        self, cache_dir: str | Path, detect_every: int, landmark_scale: int, faces: dict
    ) -> None:
        super().__init__(cache_dir)
        self.detect_every = int(detect_every)
        self.landmark_scale = int(landmark_scale)
        self.faces = dict(to_plain(faces))
        self.detector = LazyDetector(**self.faces)

    def settings(self) -> dict:
        return {
            "detect_every": self.detect_every,
            "landmark_scale": self.landmark_scale,
            "faces": self.faces,
        }

    def write_csv(self, pair: VideoPair, side: str, path: Path) -> None:
        """The proxy CSV of one side of one video."""
        tracker = LandmarkTracker(self.detector, self.detect_every, self.landmark_scale)
        frames = (frame for _, frame in pair.frames(side))
        progress = tqdm(
            frames,
            total=len(pair),
            desc=f"landmarks {side} {pair.video_id}",
            unit="frame",
            leave=False,
        )
        landmarks = list(tracker.track(progress))
        source = pair.original if side == "original" else pair.synthetic
        table = proxy_table(landmarks, getattr(source, "fps", None))
        n_failed = int((table["success"] == 0).sum())
        if n_failed:
            # Not an error: a synthetic face too broken to detect is a result; those frames
            # drop out of the correlations and excluded.csv says why.
            log.warning(
                "%s %s: no face found in %d of %d frames (%s)",
                pair.video_id, side, n_failed, len(table), source.path,
            )  # fmt: skip
        write_csv(path, table, float_format="%.6f")
