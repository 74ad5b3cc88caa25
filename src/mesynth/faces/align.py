"""The per-video face crop: ``none`` (whole frame), ``fixed`` (one alignment) or ``tracked``.

Alignment follows the FFHQ / CelebA-HQ recipe the StarGAN v2 networks were trained on: an
oriented square centred a little below the eyes, sized from the eye-to-eye and eye-to-mouth
distances, mapped onto the output square by a similarity transform. A crop is described by
four parameters (centre x, centre y, half side, angle) so that several estimates can be
aggregated (median) or smoothed over time before they become 2x3 matrices.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from tqdm.auto import tqdm

from mesynth.config import check_choice
from mesynth.faces.crop import CROP_MODES, Crop
from mesynth.faces.landmarks import EYE_LEFT, EYE_RIGHT, STABLE, LandmarkDetector
from mesynth.faces.sampling import sample_indices

log = logging.getLogger(__name__)

# Seconds of video the tracked crop is smoothed over when no window is given.
DEFAULT_SMOOTHING_SECONDS = 0.2
DEFAULT_SMOOTHING_FRAMES = 9  # videos without a known frame rate


class FaceNotFoundError(ValueError):
    """No face in the frames a crop needs."""


def alignment_params(landmarks: np.ndarray) -> np.ndarray:
    """``[centre_x, centre_y, half_side, angle]`` of the FFHQ-style square for 68 landmarks."""
    landmarks = np.asarray(landmarks, dtype=np.float64)
    eye_left = landmarks[EYE_LEFT].mean(axis=0)
    eye_right = landmarks[EYE_RIGHT].mean(axis=0)
    eye_centre = (eye_left + eye_right) / 2
    eye_to_eye = eye_right - eye_left
    mouth_centre = (landmarks[48] + landmarks[54]) / 2
    eye_to_mouth = mouth_centre - eye_centre
    # The square's x axis blends the eye line with the perpendicular of the eye-mouth line, so
    # a tilted head gives a tilted square; its size follows the larger of the two distances.
    axis = eye_to_eye - np.array([-eye_to_mouth[1], eye_to_mouth[0]])
    axis /= np.hypot(*axis)
    half_side = max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    centre = eye_centre + eye_to_mouth * 0.1
    angle = np.arctan2(axis[1], axis[0])
    return np.array([centre[0], centre[1], half_side, angle])


def params_to_matrix(params: Sequence[float], output_size: int) -> np.ndarray:
    """2x3 similarity mapping the parameter square onto ``[0, output_size]^2``."""
    centre_x, centre_y, half_side, angle = (float(v) for v in params)
    scale = output_size / (2.0 * half_side)
    cos, sin = np.cos(angle) * scale, np.sin(angle) * scale
    rotation = np.array([[cos, sin], [-sin, cos]])
    translation = np.array([output_size / 2, output_size / 2]) - rotation @ [centre_x, centre_y]
    return np.hstack([rotation, translation[:, None]])


PARAM_NAMES = ("centre_x", "centre_y", "half_side", "angle")


def fixed_crop(
    params: Sequence[float], frame_size: tuple[int, int], output_size: int, meta: dict | None = None
) -> Crop:
    """The ``fixed`` crop of the FFHQ-style square ``params`` for frames of ``frame_size``
    (height, width): the one way a face is aligned, for videos, reference images and training
    images alike."""
    matrix = params_to_matrix(params, output_size).tolist()
    return Crop("fixed", output_size, tuple(frame_size), matrix=matrix, meta=dict(meta or {}))


def align_face(
    image: np.ndarray, landmarks: np.ndarray, output_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """One image's face aligned onto an ``output_size`` square, and its alignment parameters."""
    params = alignment_params(landmarks)
    return fixed_crop(params, image.shape[:2], output_size).apply(image), params


def fit_similarity(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least-squares similarity (2x3) taking ``source`` points onto ``target`` points."""
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    s, t = source - source_mean, target - target_mean
    # Complex-number form of the 2-D Procrustes problem: target ~ a * source.
    zs = s[:, 0] + 1j * s[:, 1]
    zt = t[:, 0] + 1j * t[:, 1]
    a = np.vdot(zs, zt) / np.vdot(zs, zs).real
    rotation = np.array([[a.real, -a.imag], [a.imag, a.real]])
    translation = target_mean - rotation @ source_mean
    return np.hstack([rotation, translation[:, None]])


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.asarray(points) @ matrix[:, :2].T + matrix[:, 2]


def _median_params(params: np.ndarray) -> np.ndarray:
    params = np.asarray(params, dtype=np.float64)
    angles = np.unwrap(params[:, 3])
    median = np.median(params, axis=0)
    median[3] = np.median(angles)
    return median


def frames_without(found: Sequence[int], length: int) -> list[int]:
    """The frame indices below ``length`` that are not in ``found`` (linear time)."""
    present = np.zeros(length, dtype=bool)
    present[np.asarray(found, dtype=np.int64)] = True
    return np.flatnonzero(~present).tolist()


def _no_face_error(source, frames: int) -> FaceNotFoundError:
    return FaceNotFoundError(
        f"no face found in any of the {frames} frame(s) examined of video {source.video_id} "
        f"({source.path}); check the frames show a frontal face, or use crop=none for this "
        "video (the whole frame is then scaled to the network input)"
    )


def _smoothing_window(smoothing: int | None, fps: float | None, length: int) -> int:
    if smoothing is None:
        smoothing = round(DEFAULT_SMOOTHING_SECONDS * fps) if fps else DEFAULT_SMOOTHING_FRAMES
    window = int(smoothing)
    if window <= 2:
        return 0
    window = min(window, length if length % 2 else length - 1)
    if window % 2 == 0:
        window -= 1
    return window if window >= 5 else 0


def _fixed_params(source, detector: LandmarkDetector, num_samples: int, progress: bool):
    indices = sample_indices(len(source), num_samples)
    found_indices, found_params = [], []
    near = None
    for index in tqdm(indices, desc=f"crop {source.video_id}", unit="frame", disable=not progress):
        landmarks = detector.detect(source.read_frame(index), near=near)
        if landmarks is None:
            continue
        near = landmarks.mean(axis=0)
        found_indices.append(index)
        found_params.append(alignment_params(landmarks))
    if not found_params:
        raise _no_face_error(source, len(indices))
    if len(found_params) < len(indices) / 2:
        log.warning(
            "video %s: a face was found in only %d of %d sampled frames",
            source.video_id,
            len(found_params),
            len(indices),
        )
    return indices, found_indices, np.array(found_params)


def estimate_crop(
    source,
    mode: str,
    output_size: int = 256,
    num_samples: int = 16,
    smoothing: int | None = None,
    detector: LandmarkDetector | None = None,
    progress: bool = True,
) -> Crop:
    """The crop of one video (a :class:`mesynth.video.decoders.VideoSource`).

    ``fixed``: landmarks on ``num_samples`` evenly spread frames, the median of their alignment
    parameters -> one matrix, so the face does not jitter. ``tracked``: landmarks on every frame;
    the head's motion is followed with a similarity fitted to the stable points (eye corners,
    nose; unaffected by expressions) and smoothed with a Savitzky-Golay filter over ``smoothing``
    frames (default: 0.2 s of video); frames without a face are interpolated.
    """
    check_choice("crop mode", mode, CROP_MODES)
    frame_size = tuple(source.frame_size)
    if mode == "none":
        return Crop.full_frame(frame_size, output_size)
    detector = detector or LandmarkDetector()
    if mode == "fixed":
        sampled, found, params = _fixed_params(source, detector, num_samples, progress)
        median = _median_params(params)
        meta = {
            "method": "ffhq_similarity_median",
            "sampled_frames": sampled,
            "frames_with_face": found,
            "params": dict(zip(PARAM_NAMES, median.tolist(), strict=True)),
            "params_spread": np.median(np.abs(params - median), axis=0).tolist(),
        }
        return fixed_crop(median, frame_size, output_size, meta)
    return _tracked_crop(source, output_size, smoothing, detector, progress)


def _track_landmarks(source, detector, progress) -> list[np.ndarray | None]:
    """Landmarks of every frame (None without a face), each search started near the last face."""
    landmarks: list[np.ndarray | None] = []
    near = None
    for _, frame in tqdm(
        source.iter_frames(),
        total=len(source),
        desc=f"track {source.video_id}",
        unit="frame",
        disable=not progress,
    ):
        points = detector.detect(frame, near=near)
        if points is not None:
            near = points.mean(axis=0)
        landmarks.append(points)
    return landmarks


def _reference_frame(landmarks: list[np.ndarray | None], found: list[int]) -> int:
    """The frame whose alignment is closest to the median alignment of the video."""
    params = np.array([alignment_params(landmarks[i]) for i in found])
    median = _median_params(params)
    spread = np.abs(params - median) / np.maximum(np.median(np.abs(params - median), axis=0), 1e-6)
    return found[int(np.argmin(spread.sum(axis=1)))]


def _follow_reference(
    landmarks: list[np.ndarray | None], found: list[int], reference: int
) -> np.ndarray:
    """Per frame (centre x, y, size, angle): the reference square carried along with the head's
    motion; frames without a face are NaN."""
    reference_params = alignment_params(landmarks[reference])
    reference_stable = landmarks[reference][STABLE]
    per_frame = np.full((len(landmarks), 4), np.nan)
    centre = reference_params[:2]
    for index in found:
        to_frame = fit_similarity(reference_stable, landmarks[index][STABLE])
        scale = np.hypot(to_frame[0, 0], to_frame[1, 0])
        rotation = np.arctan2(to_frame[1, 0], to_frame[0, 0])
        per_frame[index, :2] = _apply(to_frame, centre[None])[0]
        per_frame[index, 2] = reference_params[2] * scale
        per_frame[index, 3] = reference_params[3] + rotation
    return per_frame


def _tracked_crop(source, output_size, smoothing, detector, progress) -> Crop:
    length = len(source)
    landmarks = _track_landmarks(source, detector, progress)
    found = [i for i, p in enumerate(landmarks) if p is not None]
    if not found:
        raise _no_face_error(source, length)
    reference = _reference_frame(landmarks, found)
    per_frame = _follow_reference(landmarks, found, reference)

    missing = frames_without(found, length)
    frames = np.arange(length)
    for column in range(4):
        per_frame[:, column] = np.interp(frames, found, per_frame[found, column])
    window = _smoothing_window(smoothing, source.fps, length)
    if window:
        from scipy.signal import savgol_filter

        per_frame = savgol_filter(per_frame, window, polyorder=2, axis=0, mode="interp")
    if missing:
        log.warning(
            "video %s: no face in %d of %d frames; their crop is interpolated",
            source.video_id,
            len(missing),
            length,
        )
    matrices = [params_to_matrix(p, output_size).tolist() for p in per_frame]
    return Crop(
        "tracked",
        output_size,
        tuple(source.frame_size),
        matrices=matrices,
        meta={
            "method": "ffhq_similarity_tracked_stable_points",
            "reference_frame": reference,
            "frames_without_face": missing,
            "smoothing_window": window,
        },
    )
