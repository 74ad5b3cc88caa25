"""What real long videos hold besides the expressions: blinks, head motion, sensor noise.

In SAMM-LV and CAS(ME)^2 blinks are not coded as expressions and head movement is the main
source of false positives; the demo clips (:mod:`mesynth.video.demo_clip`) add these so that
spotters can be scored on them. Per clip, all drawn from one seed:

- ``blink``: the lids close and open in 0.1-0.4 s, 15-20 times a minute, at random times (also
  during expressions); ``size`` is the lid closure (1 = closed);
- ``head_drift``: the whole clip, a slow sway of a few pixels and about a degree over seconds;
  ``size`` is the furthest any face landmark moves from its rest position, in pixels;
- ``head_turn``: a quick move of the head to a new pose in 0.3-1 s, a few times a minute (at
  least once per clip), in the neutral stretches between the labelled expressions (so that no
  expression's interval is ambiguous); ``size`` is the furthest any face landmark moves during the turn, in pixels;
- ``noise``: the whole clip, Gaussian sensor noise; ``size`` is its standard deviation in grey
  levels;
- ``flicker``: the whole clip, global brightness wobble; ``size`` is its largest relative
  change of brightness.

``distractors.csv`` records them as ``video, kind, onset, offset, size`` (frame numbers as in
the file names, the first frame is 1), next to the clips' ``annotations.csv``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from mesynth.atomic import write_atomically

KINDS = ("blink", "head_turn", "head_drift", "noise", "flicker")
CSV_COLUMNS = ("video", "kind", "onset", "offset", "size")
SEED_STREAM = 16  # distractors draw from (clip seed, this), apart from the expression schedule

BLINKS_PER_MINUTE = (15.0, 20.0)  # each clip's rate is drawn from this range
BLINK_SECONDS = (0.1, 0.4)
BLINK_CLOSURE = (0.8, 1.0)
BLINK_SPACING_SECONDS = 0.4  # at least this much open eye between blinks
TURNS_PER_MINUTE = 4.0
TURN_SECONDS = (0.3, 1.0)
TURN_SHIFT = 0.03  # largest head position of a turn, share of the frame side (x; y half of it)
TURN_DEGREES = 3.0  # largest in-plane head rotation of a turn
TURN_MARGIN_SECONDS = 0.1  # neutral face kept between a turn and a labelled expression
DRIFT_SHIFT = 0.006  # share of the frame side
DRIFT_DEGREES = 0.6
DRIFT_PERIOD_SECONDS = (4.0, 12.0)
NOISE_SIGMA = 2.0  # grey levels
FLICKER = 0.015  # relative brightness
FLICKER_PERIOD_SECONDS = (0.5, 3.0)


@dataclass(frozen=True)
class DistractorSettings:
    """Which distractors a clip gets, and how many blinks and head turns a minute."""

    blinks: bool = True
    head: bool = True
    noise: bool = True
    blinks_per_minute: tuple[float, float] = BLINKS_PER_MINUTE
    turns_per_minute: float = TURNS_PER_MINUTE

    def __post_init__(self) -> None:
        low, high = self.blinks_per_minute
        if not 0 <= low <= high or self.turns_per_minute < 0:
            raise ValueError(
                f"distractor rates must be >= 0 with min <= max: blinks_per_minute="
                f"{self.blinks_per_minute}, turns_per_minute={self.turns_per_minute}"
            )


@dataclass(frozen=True)
class Distractor:
    """One unlabelled event; frames are 0-based indices into the clip."""

    kind: str
    onset: int
    offset: int
    size: float


@dataclass
class DistractorTrack:
    """A clip's distractors and, per frame, the head pose and brightness they give."""

    events: list[Distractor]
    shift: np.ndarray  # (T, 2) head translation in pixels (x, y)
    angle: np.ndarray  # (T,) in-plane head rotation in degrees
    gain: np.ndarray  # (T,) brightness factor
    noise_sigma: float
    seed: int

    @property
    def blinks(self) -> list[Distractor]:
        return [event for event in self.events if event.kind == "blink"]


def _blinks(rng, num_frames: int, fps: float, settings: DistractorSettings) -> list[Distractor]:
    """Blinks at random times, a rate drawn from ``blinks_per_minute``, never overlapping."""
    seconds = num_frames / fps
    rate = rng.uniform(*settings.blinks_per_minute)
    wanted = int(round(rate * seconds / 60.0))
    blinks: list[Distractor] = []
    for _ in range(20 * wanted):  # rejection sampling; a short clip may hold fewer
        if len(blinks) == wanted:
            break
        duration = rng.uniform(*BLINK_SECONDS)
        start = rng.uniform(0.0, max(seconds - duration, 0.0))
        onset, offset = int(round(start * fps)), int(round((start + duration) * fps))
        spacing = BLINK_SPACING_SECONDS * fps
        if offset >= num_frames or offset - onset < 2:
            continue
        if any(onset < b.offset + spacing and b.onset < offset + spacing for b in blinks):
            continue
        blinks.append(Distractor("blink", onset, offset, round(rng.uniform(*BLINK_CLOSURE), 3)))
    return sorted(blinks, key=lambda blink: blink.onset)


def _free_stretches(num_frames: int, busy: Sequence[tuple[int, int]], margin: int):
    """Frame ranges ``[start, end)`` outside ``busy`` (inclusive ranges) widened by ``margin``."""
    start = 0
    for onset, offset in sorted(busy):
        if onset - margin > start:
            yield start, onset - margin
        start = max(start, offset + margin + 1)
    if start < num_frames:
        yield start, num_frames


def _turn_times(rng, num_frames: int, fps: float, busy, count: int) -> list[tuple[int, int]]:
    """Up to ``count`` turns (onset, offset) in the stretches free of ``busy`` and each other."""
    margin = int(round(TURN_MARGIN_SECONDS * fps))
    turns: list[tuple[int, int]] = []
    for _ in range(20 * count):
        if len(turns) == count:
            break
        length = int(round(rng.uniform(*TURN_SECONDS) * fps))
        stretches = _free_stretches(num_frames, [*busy, *turns], margin)
        free = [(a, b) for a, b in stretches if b - a > length]
        if not free:
            continue
        room = np.array([b - a - length for a, b in free], dtype=np.float64)
        start, end = free[rng.choice(len(free), p=room / room.sum())]
        onset = int(rng.integers(start, end - length))
        turns.append((onset, onset + length))
    return sorted(turns)


def _sway(rng, num_frames: int, fps: float, amplitude: float, periods=DRIFT_PERIOD_SECONDS):
    """A smooth wobble of at most ``amplitude``: two sines of random period and phase."""
    time = np.arange(num_frames) / fps
    chosen = rng.uniform(*periods, 2)
    phases = rng.uniform(0, 2 * np.pi, 2)
    wave = sum(np.sin(2 * np.pi * time / p + f) for p, f in zip(chosen, phases, strict=True))
    return amplitude * wave / 2.0


def _ease(length: int) -> np.ndarray:
    """Raised-cosine step from 0 to 1 over ``length + 1`` frames."""
    return 0.5 - 0.5 * np.cos(np.pi * np.arange(length + 1) / max(length, 1))


def _largest_move(points: np.ndarray, centre, shift: np.ndarray, angle: np.ndarray) -> float:
    """Furthest any of ``points`` moves under each frame's pose relative to the first one."""
    moves = [
        head_matrix(centre, shift[i], angle[i]) @ np.c_[points, np.ones(len(points))].T
        for i in range(len(angle))
    ]
    return float(max(np.linalg.norm(m - moves[0], axis=0).max() for m in moves))


def _head_track(rng, num_frames, fps, landmarks, frame_size, expressions, turns_per_minute):
    """Head drift over the clip plus quick turns: per frame shift (T, 2) and angle (T,), with
    the ``head_drift`` and ``head_turn`` events."""
    centre = landmarks.mean(axis=0)
    shift = np.zeros((num_frames, 2))
    shift[:, 0] = _sway(rng, num_frames, fps, DRIFT_SHIFT * frame_size)
    shift[:, 1] = _sway(rng, num_frames, fps, 0.5 * DRIFT_SHIFT * frame_size)
    angle = _sway(rng, num_frames, fps, DRIFT_DEGREES)
    drift = _largest_move(landmarks, centre, shift, angle)
    events = [Distractor("head_drift", 0, num_frames - 1, round(drift, 2))]
    # At least one turn per clip (where there is room), so every clip shows head motion.
    count = max(1, int(round(turns_per_minute * num_frames / fps / 60.0)))
    count = count if turns_per_minute > 0 else 0
    reach = np.array([TURN_SHIFT * frame_size, 0.5 * TURN_SHIFT * frame_size, TURN_DEGREES])
    pose = np.zeros(3)
    for onset, offset in _turn_times(rng, num_frames, fps, expressions, count):
        target = rng.uniform(-1, 1, 3) * reach
        step = np.zeros((num_frames, 3))
        step[onset : offset + 1] = np.outer(_ease(offset - onset), target - pose)
        step[offset + 1 :] = target - pose
        ends = [onset, offset]
        start_shift, start_angle = shift[ends].copy(), angle[ends].copy()
        shift += step[:, :2]
        angle += step[:, 2]
        pair_shift = np.array([start_shift[0], shift[offset]])
        pair_angle = np.array([start_angle[0], angle[offset]])
        size = _largest_move(landmarks, centre, pair_shift, pair_angle)
        events.append(Distractor("head_turn", onset, offset, round(size, 2)))
        pose = target
    return shift, angle, events


def _flicker(rng, num_frames: int, fps: float) -> np.ndarray:
    """(T,) brightness factor: a slow wobble plus a little frame-to-frame jitter."""
    wobble = _sway(rng, num_frames, fps, 1.0, FLICKER_PERIOD_SECONDS)
    return 1.0 + FLICKER * (0.7 * wobble + 0.3 * rng.uniform(-1, 1, num_frames))


def plan_distractors(
    num_frames: int,
    fps: float,
    seed: int,
    landmarks: np.ndarray,
    frame_size: int,
    expressions: Sequence[tuple[int, int]] = (),
    settings: DistractorSettings | None = None,
) -> DistractorTrack:
    """The distractors of one clip: blinks, head drift and turns, noise and flicker.

    ``landmarks`` (the neutral face's 68 points) set the centre of head rotation and measure
    each head move's size; ``expressions`` (onset, offset frame indices) are the labelled
    events that head turns keep clear of.
    """
    settings = settings or DistractorSettings()
    rng = np.random.default_rng([seed, SEED_STREAM])
    events = _blinks(rng, num_frames, fps, settings) if settings.blinks else []
    shift, angle = np.zeros((num_frames, 2)), np.zeros(num_frames)
    if settings.head:
        shift, angle, head = _head_track(
            rng, num_frames, fps, landmarks, frame_size, expressions, settings.turns_per_minute
        )
        events += head
    gain, sigma = np.ones(num_frames), 0.0
    if settings.noise:
        gain, sigma = _flicker(rng, num_frames, fps), NOISE_SIGMA
        flicker = round(float(np.abs(gain - 1).max()), 4)
        events.append(Distractor("noise", 0, num_frames - 1, sigma))
        events.append(Distractor("flicker", 0, num_frames - 1, flicker))
    events.sort(key=lambda event: (event.onset, KINDS.index(event.kind)))
    return DistractorTrack(events, shift, angle, gain, sigma, seed)


def head_matrix(centre, shift, angle: float) -> np.ndarray:
    """2x3 affine of a head turned by ``angle`` degrees about ``centre`` and moved by ``shift``."""
    matrix = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), float(angle), 1.0)
    matrix[:, 2] += shift
    return matrix


class DistractorRenderer:
    """Applies a track's head pose, brightness and noise to the rendered frames of a clip."""

    def __init__(self, track: DistractorTrack, centre):
        self.track = track
        self.centre = centre
        self._noise = np.random.default_rng([track.seed, SEED_STREAM, 1])
        self.still = not track.shift.any() and not track.angle.any() and track.noise_sigma == 0

    def __call__(self, frame: np.ndarray, index: int) -> np.ndarray:
        if self.still:
            return frame
        track = self.track
        image = frame
        if track.shift[index].any() or track.angle[index]:
            matrix = head_matrix(self.centre, track.shift[index], track.angle[index])
            image = cv2.warpAffine(
                frame,
                matrix,
                frame.shape[1::-1],
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_REFLECT,
            )
        values = image.astype(np.float32) * np.float32(track.gain[index])
        if track.noise_sigma:
            noise = self._noise.standard_normal(image.shape, dtype=np.float32)
            values += np.float32(track.noise_sigma) * noise
        return np.clip(values + 0.5, 0, 255).astype(np.uint8)


def distractor_table(events: Sequence[Distractor], video_id: str) -> pd.DataFrame:
    """The events as rows of ``distractors.csv`` (frame numbers as in the file names)."""
    rows = [
        {
            "video": video_id,
            "kind": event.kind,
            "onset": event.onset + 1,
            "offset": event.offset + 1,
            "size": event.size,
        }
        for event in events
    ]
    return pd.DataFrame(rows, columns=list(CSV_COLUMNS))


def write_distractors(table: pd.DataFrame, path: str | Path) -> Path:
    return write_atomically(path, lambda partial: table.to_csv(partial, index=False))


def read_distractors(path: str | Path) -> pd.DataFrame:
    """``distractors.csv``: one row per distractor (``video, kind, onset, offset, size``, frame
    numbers as in the file names), checked."""
    path = Path(path)
    table = pd.read_csv(path, dtype={"video": str, "kind": str})
    missing = [column for column in CSV_COLUMNS if column not in table.columns]
    unknown = [] if missing else sorted(set(table["kind"]) - set(KINDS))
    if missing or unknown:
        found = f"kinds {unknown}" if unknown else f"columns {list(table.columns)}"
        raise ValueError(
            f"{path}: expected the columns {list(CSV_COLUMNS)} with kinds {list(KINDS)}, found "
            f"{found}; make the clips again with `python -m mesynth.video.demo_clip`"
        )
    return table[list(CSV_COLUMNS)]
