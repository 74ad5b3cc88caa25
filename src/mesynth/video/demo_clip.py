"""A small SAMM-LV-style long video made from a real face photo, with scheduled expressions.

The face is scikit-image's ``astronaut`` photo (shipped with the package, nothing downloaded).
Expressions are real geometric warps of that photo: dlib's 68 landmarks are moved as the action
unit moves them, and a thin-plate-spline displacement field carries the surrounding skin along
(``cv2.remap``):

- AU12 lip-corner puller: the mouth corners go up and out;
- AU4 brow lowerer: the brows go down and towards each other;
- AU45 blink: the upper lids close onto the lower lids (annotated only in clean clips).

Each event rises (raised cosine) from onset to apex and falls back by offset; micro events last
0.2-0.5 s, macro events 1-4 s (blinks are always short). The frames are greyscale JPEGs in the
SAMM-LV layout ``<out>/frames/<subject>_<video>/<subject>_<video>_<NNNNN>.jpg`` (numbered from
1), with ``<out>/annotations.csv`` and ``<out>/SAMM_LongVideos_Demo.xlsx`` in the SAMM-LV
spreadsheet layout.

By default the dataset is one clip (``900_1``). ``participants`` and ``videos`` make several:
subjects 900, 901, ... each with their own look (participant 0 is the photo itself; the others
are mirrored, turned, scaled and lit differently) and every video with its own schedule, small
frames included, for spotting tests and leave-one-subject-out experiments.

Real long videos hold more than the coded expressions. With distractors (on by default for more
than one participant; ``--distractors``/``--no-distractors``) every clip also gets unlabelled
blinks, slow head drift, quick head turns, sensor noise and brightness flicker
(:mod:`mesynth.video.distractors`), listed in ``<out>/distractors.csv``; blinks are then left
out of the schedule and the annotations, as SAMM-LV and CAS(ME)^2 do not code them.
``--label-blinks`` keeps them as scheduled AU45 events (the clean clip's behaviour).

Command line: ``python -m mesynth.video.demo_clip --output DIR [--participants 3 --videos 2]``.
"""

from __future__ import annotations

import argparse
import logging
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from mesynth.imaging import to_grey
from mesynth.video.annotations import write_annotations, write_samm_xlsx
from mesynth.video.distractors import (
    BLINKS_PER_MINUTE,
    TURNS_PER_MINUTE,
    DistractorRenderer,
    DistractorSettings,
    DistractorTrack,
    distractor_table,
    plan_distractors,
    write_distractors,
)

log = logging.getLogger(__name__)

DEMO_SUBJECT = "900"
DEMO_VIDEO = "1"
DEMO_XLSX = "SAMM_LongVideos_Demo.xlsx"
DISTRACTORS_CSV = "distractors.csv"
JPEG_QUALITY = 95
MICRO_SECONDS = (0.2, 0.5)
MACRO_SECONDS = (1.0, 4.0)
GAP_SECONDS = (0.25, 0.7)
INTENSITY = {"micro": 0.6, "macro": 1.0}
AU_NAMES = {12: "lip corner puller", 4: "brow lowerer", 45: "blink"}
# Levels at which each action unit's displacement field is computed; amplitudes in between are
# blended linearly, so a frame costs one remap instead of one spline fit.
FIELD_LEVELS = 24

# Landmark displacements at full intensity, in units of the inter-ocular distance (x right,
# y down, image left/right). Landmarks not listed stay put.
AU12_DISPLACEMENT = {
    48: (-0.07, -0.09),
    54: (0.07, -0.09),
    60: (-0.05, -0.07),
    64: (0.05, -0.07),
    49: (-0.03, -0.05),
    53: (0.03, -0.05),
    59: (-0.03, -0.04),
    55: (0.03, -0.04),
    61: (-0.015, -0.03),
    63: (0.015, -0.03),
    67: (-0.015, -0.025),
    65: (0.015, -0.025),
}
AU4_DISPLACEMENT = {
    17: (0.0, 0.03),
    18: (0.01, 0.05),
    19: (0.02, 0.08),
    20: (0.03, 0.11),
    21: (0.05, 0.13),
    22: (-0.05, 0.13),
    23: (-0.03, 0.11),
    24: (-0.02, 0.08),
    25: (-0.01, 0.05),
    26: (0.0, 0.03),
}
BLINK_CLOSURE = 1.0  # fraction of the lid gap the upper lids travel (1 = closed)
# Per eye: upper lid, lower lid (corner to corner, left to right) and the brow above it.
BLINK_EYES = (
    ((36, 37, 38, 39), (36, 41, 40, 39), (17, 18, 19, 20, 21)),
    ((42, 43, 44, 45), (42, 47, 46, 45), (22, 23, 24, 25, 26)),
)
# dlib's upper-lid points sit on the lashes' lower edge; the lid line is taken this share of
# the lid gap higher, so the closing lid covers the lashes' dark band instead of stretching it.
BLINK_LID_LIFT = 0.2
# Share of the lid-to-brow skin that slides down with the closing lid.
BLINK_SKIN = 0.7
# Demo participants after the first: the photo slightly turned (degrees), scaled, shifted
# (share of the frame), mirrored for odd numbers, and lit differently (gain, grey-level offset).
PARTICIPANT_SEED_STEP = 1000  # schedule seeds of participant p start at seed + p * this
PARTICIPANT_TURN_DEGREES = 4.0
PARTICIPANT_SCALE = (0.92, 1.04)
PARTICIPANT_SHIFT = 0.03
PARTICIPANT_GAIN = (0.8, 1.15)
PARTICIPANT_OFFSET = (-20.0, 20.0)


@dataclass
class Event:
    """One scheduled expression; frames are 0-based indices into the clip."""

    action_unit: int
    kind: str  # micro | macro
    onset: int
    apex: int
    offset: int
    intensity: float


def schedule_events(
    num_frames: int,
    fps: float,
    seed: int = 0,
    gaps: tuple[float, float] = GAP_SECONDS,
    blinks: bool = True,
    lead: float = 0.0,
) -> list[Event]:
    """Non-overlapping events cycling through AU12, AU4, AU45 (AU12 and AU4 only without
    ``blinks``) and micro/macro lengths, with ``gaps`` (seconds, min and max) of neutral face
    between them; ``lead`` seconds of neutral face more open and close the clip."""
    if not 0 <= gaps[0] <= gaps[1]:
        raise ValueError(f"gaps must be (min, max) seconds with 0 <= min <= max, got {gaps}")
    rng = np.random.default_rng(seed)
    seconds = num_frames / fps
    order = [int(au) for au in rng.permutation([12, 4, 45] if blinks else [12, 4])]
    events: list[Event] = []
    time = lead + rng.uniform(0.1, 0.2)
    step = 0
    while True:
        action_unit = order[step % len(order)]
        # With two action units, alternating by step would make one always micro: alternate
        # the pairs instead (micro A, macro B, macro A, micro B, ...).
        turn = step if len(order) % 2 else step + step // 2
        kind = "micro" if turn % 2 == 0 or action_unit == 45 else "macro"
        step += 1
        left = seconds - 0.05 - lead - time
        duration = rng.uniform(*(MICRO_SECONDS if kind == "micro" else MACRO_SECONDS))
        if kind == "macro" and duration > left:
            if left >= MACRO_SECONDS[0]:
                duration = left
            else:
                kind, duration = "micro", rng.uniform(*MICRO_SECONDS)
        if duration > left:
            if left < MICRO_SECONDS[0]:
                break
            duration = left
        onset = int(round(time * fps))
        offset = min(num_frames - 1, int(round((time + duration) * fps)))
        rise = rng.uniform(0.35, 0.5) if kind == "micro" else rng.uniform(0.2, 0.35)
        apex = onset + max(1, int(round(rise * (offset - onset))))
        intensity = 1.0 if action_unit == 45 else INTENSITY[kind]
        events.append(Event(action_unit, kind, onset, apex, offset, intensity))
        time += duration + rng.uniform(*gaps)
    return events


def envelopes(events: list[Event], num_frames: int) -> dict[int, np.ndarray]:
    """Per action unit, its intensity in every frame (0 = neutral)."""
    curves = {au: np.zeros(num_frames) for au in AU_NAMES}
    frames = np.arange(num_frames, dtype=np.float64)
    for event in events:
        onset, apex, offset = event.onset, event.apex, event.offset
        # Macro expressions hold their apex for half of the time left before the offset.
        release = apex if event.kind == "micro" else apex + (offset - apex) // 2
        curve = np.zeros(num_frames)
        rising = (frames >= onset) & (frames <= apex)
        curve[rising] = 0.5 - 0.5 * np.cos(np.pi * (frames[rising] - onset) / (apex - onset))
        curve[(frames > apex) & (frames <= release)] = 1.0
        falling = (frames > release) & (frames <= offset)
        curve[falling] = 0.5 + 0.5 * np.cos(
            np.pi * (frames[falling] - release) / max(1, offset - release)
        )
        curves[event.action_unit] = np.maximum(curves[event.action_unit], curve * event.intensity)
    return curves


class FaceWarper:
    """Renders expressions of one greyscale face image by landmark-driven spline warps."""

    def __init__(self, image: np.ndarray, landmarks: np.ndarray):
        self.image = image
        self.landmarks = np.asarray(landmarks, dtype=np.float64)
        self.iod = float(
            np.linalg.norm(self.landmarks[42:48].mean(0) - self.landmarks[36:42].mean(0))
        )
        height, width = image.shape[:2]
        self._grid_x, self._grid_y = np.meshgrid(
            np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32)
        )
        self._fields: dict[tuple[int, int], tuple[tuple[int, int, int, int], np.ndarray]] = {}

    def displacements(self, action_unit: int) -> dict[int, np.ndarray]:
        """Landmark displacements (pixels) of ``action_unit`` at full intensity."""
        if action_unit == 45:
            return {
                upper: (self.landmarks[lower] - self.landmarks[upper]) * BLINK_CLOSURE
                for upper_lid, lower_lid, _ in BLINK_EYES
                for upper, lower in zip(upper_lid[1:3], lower_lid[1:3], strict=True)
            }
        table = {12: AU12_DISPLACEMENT, 4: AU4_DISPLACEMENT}[action_unit]
        return {i: np.array(d) * self.iod for i, d in table.items()}

    def _field(self, action_unit: int, level: int) -> tuple[tuple[int, int, int, int], np.ndarray]:
        """Backward displacement field (region, HxWx2) at ``level / FIELD_LEVELS`` intensity."""
        key = (action_unit, level)
        if key not in self._fields:
            amplitude = level / FIELD_LEVELS
            if action_unit == 45:
                self._fields[key] = self._blink_field(amplitude)
            else:
                self._fields[key] = self._spline_field(action_unit, amplitude)
        return self._fields[key]

    def _blink_field(self, amplitude: float) -> tuple[tuple[int, int, int, int], np.ndarray]:
        """Upper lids slide down onto the lower lids, drawing the lid skin with them.

        A smooth spline cannot fold the eye away under the lid, so each image column of an eye
        is remapped piecewise linearly: the skin between brow and lid is stretched down to the
        closing lid line, and the eye between that line and the lower lid is squeezed into the
        thin gap that is left. At the eye corners the lid gap, and so the motion, is zero.
        """
        points = self.landmarks
        eyes = [i for upper, lower, _ in BLINK_EYES for i in (*upper, *lower)]
        brows = [i for _, _, brow in BLINK_EYES for i in brow]
        height, width = self.image.shape[:2]
        x0 = max(int(np.floor(points[eyes, 0].min())) - 2, 0)
        x1 = min(int(np.ceil(points[eyes, 0].max())) + 2, width - 1)
        y0 = max(int(np.floor(points[brows, 1].min())) - 2, 0)
        y1 = min(int(np.ceil(points[eyes, 1].max())) + 2, height - 1)
        ys, xs = np.mgrid[y0 : y1 + 1, x0 : x1 + 1].astype(np.float64)
        columns = xs[0]
        shift = np.zeros_like(ys)
        for upper_lid, lower_lid, brow in BLINK_EYES:
            upper, lower = points[list(upper_lid)], points[list(lower_lid)]
            inside = (columns > upper[0, 0]) & (columns < upper[-1, 0])
            # Parabolas through the lid points: a smooth lid line, no kinks at the landmarks.
            bottom = np.polyval(np.polyfit(lower[:, 0], lower[:, 1], 2), columns)
            lid = np.polyval(np.polyfit(upper[:, 0], upper[:, 1], 2), columns)
            lid = lid - BLINK_LID_LIFT * np.maximum(bottom - lid, 0.0)
            brow_line = np.interp(columns, points[list(brow), 0], points[list(brow), 1])
            gap = np.maximum(bottom - lid, 0.0)
            closed = lid + amplitude * BLINK_CLOSURE * gap
            top = lid - BLINK_SKIN * np.maximum(lid - brow_line, 0.0)
            source = ys.copy()
            skin = (ys >= top) & (ys <= closed)
            ratio = (lid - top) / np.maximum(closed - top, 1e-6)
            source = np.where(skin, top + (ys - top) * ratio, source)
            eye = (ys > closed) & (ys <= bottom)
            squeeze = gap / np.maximum(bottom - closed, 1e-6)
            source = np.where(eye, lid + (ys - closed) * squeeze, source)
            shift += np.where(inside, source - ys, 0.0)
        shift = cv2.GaussianBlur(shift.astype(np.float32), (0, 0), 0.8)
        field = np.stack([np.zeros_like(shift), shift], axis=-1)
        return (x0, y0, x1, y1), field

    def _spline_field(
        self, action_unit: int, amplitude: float
    ) -> tuple[tuple[int, int, int, int], np.ndarray]:
        """Thin-plate spline through the moved landmarks, the still ones and the region border."""
        from scipy.interpolate import RBFInterpolator

        moves = self.displacements(action_unit)
        moved = np.array(list(moves))
        targets = self.landmarks[moved] + amplitude * np.array(list(moves.values()))
        # Region: around the moving points, wide enough for the skin to follow smoothly.
        margin = 0.6 * self.iod
        height, width = self.image.shape[:2]
        x0, y0 = np.floor(self.landmarks[moved].min(0) - margin).astype(int)
        x1, y1 = np.ceil(self.landmarks[moved].max(0) + margin).astype(int)
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, width - 1), min(y1, height - 1)
        still = [i for i in range(len(self.landmarks)) if i not in moves]
        anchors = [self.landmarks[i] for i in still]
        anchors = [p for p in anchors if x0 < p[0] < x1 and y0 < p[1] < y1]
        # Zero displacement along the region's border so the field ends there seamlessly.
        spacing = max(4.0, 0.1 * self.iod)
        for xs in np.linspace(x0, x1, max(2, int((x1 - x0) / spacing))):
            anchors += [(xs, y0), (xs, y1)]
        for ys in np.linspace(y0, y1, max(2, int((y1 - y0) / spacing)))[1:-1]:
            anchors += [(x0, ys), (x1, ys)]
        centres = np.vstack([targets, np.array(anchors)])
        # The output pixel at a moved landmark's target shows the photo at the landmark.
        values = np.vstack([self.landmarks[moved] - targets, np.zeros((len(anchors), 2))])
        spline = RBFInterpolator(centres, values, kernel="thin_plate_spline")
        ys, xs = np.mgrid[y0 : y1 + 1, x0 : x1 + 1]
        points = np.column_stack([xs.ravel(), ys.ravel()]).astype(np.float64)
        field = spline(points).reshape(ys.shape[0], ys.shape[1], 2).astype(np.float32)
        return (x0, y0, x1, y1), field

    def render(self, intensities: dict[int, float]) -> np.ndarray:
        """The face with each action unit at the given intensity (0..1)."""
        active = {au: min(1.0, float(v)) for au, v in intensities.items() if v > 1e-3}
        if not active:
            return self.image
        map_x, map_y = self._grid_x.copy(), self._grid_y.copy()
        for action_unit, intensity in active.items():
            position = intensity * FIELD_LEVELS
            low = int(np.floor(position))
            high = min(low + 1, FIELD_LEVELS)
            weight = position - low
            for level, share in ((low, 1.0 - weight), (high, weight)):
                if share <= 0 or level == 0:
                    continue
                (x0, y0, x1, y1), field = self._field(action_unit, level)
                map_x[y0 : y1 + 1, x0 : x1 + 1] += share * field[:, :, 0]
                map_y[y0 : y1 + 1, x0 : x1 + 1] += share * field[:, :, 1]
        return cv2.remap(self.image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def demo_face(frame_size: int = 400, detector=None) -> tuple[np.ndarray, np.ndarray]:
    """Greyscale square crop around the astronaut's face, and its 68 landmarks."""
    from skimage.data import astronaut

    from mesynth.faces.landmarks import LandmarkDetector

    detector = detector or LandmarkDetector()
    photo = astronaut()
    landmarks = detector.detect(photo)
    if landmarks is None:
        raise RuntimeError("dlib found no face in skimage.data.astronaut(); check dlib's install")
    low, high = landmarks.min(0), landmarks.max(0)
    centre = (low + high) / 2 - np.array([0.0, 0.1]) * (high - low)  # leave room for the hair
    side = min(2.4 * float((high - low).max()), float(min(photo.shape[:2])))
    x0, y0 = np.clip(centre - side / 2, 0, np.array(photo.shape[1::-1]) - side).astype(int)
    crop = photo[y0 : y0 + int(side), x0 : x0 + int(side)]
    grey = to_grey(crop)
    interpolation = cv2.INTER_CUBIC if frame_size > side else cv2.INTER_AREA
    face = cv2.resize(grey, (frame_size, frame_size), interpolation=interpolation)
    face_landmarks = detector.detect(face)
    if face_landmarks is None:
        raise RuntimeError(
            f"dlib found no face in the {frame_size} px demo crop; use a larger size"
        )
    return face, face_landmarks


def demo_annotations(events: list[Event], subject: str, video_id: str) -> pd.DataFrame:
    """The schedule as an annotation table (frame numbers as in the file names: index + 1)."""
    rows = []
    for number, event in enumerate(events, start=1):
        rows.append(
            {
                "video": video_id,
                "subject": subject,
                "onset": event.onset + 1,
                "apex": event.apex + 1,
                "offset": event.offset + 1,
                "type": event.kind,
                "action_units": str(event.action_unit),
                "expression": f"{video_id}_{number}",
                "intensity": round(event.intensity, 3),
                "notes": f"demo warp: AU{event.action_unit} {AU_NAMES[event.action_unit]}",
                "quirks": "",
            }
        )
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class DemoVideo:
    """One clip of the demo dataset: whose face, which id, which schedule."""

    participant: int  # 0-based; participant 0 is the unchanged photo
    subject: str
    video_id: str
    seed: int  # schedule seed


def demo_videos(participants: int = 1, videos: int = 1, seed: int = 0) -> list[DemoVideo]:
    """Subjects ``900, 901, ...`` with videos ``<subject>_1, <subject>_2, ...``; every video has
    its own schedule seed, and the first one keeps ``seed`` (the single-clip demo)."""
    if participants < 1 or videos < 1:
        raise ValueError(
            f"the demo needs at least one participant and one video each, got "
            f"participants={participants}, videos={videos}"
        )
    clips = []
    for participant in range(participants):
        subject = str(int(DEMO_SUBJECT) + participant)
        for video in range(videos):
            clips.append(
                DemoVideo(
                    participant,
                    subject,
                    f"{subject}_{int(DEMO_VIDEO) + video}",
                    seed + PARTICIPANT_SEED_STEP * participant + video,
                )
            )
    return clips


def participant_face(
    face: np.ndarray, participant: int, detector=None
) -> tuple[np.ndarray, np.ndarray]:
    """The demo face as participant ``participant`` shows it, and its 68 landmarks.

    Participant 0 is the photo itself; the others see it mirrored (odd numbers), slightly turned,
    scaled and shifted, under other lighting (gain and offset), so each participant's videos
    look alike and differ from the other participants'.
    """
    from mesynth.faces.landmarks import LandmarkDetector

    detector = detector or LandmarkDetector()
    variant = face
    if participant > 0:
        rng = np.random.default_rng(PARTICIPANT_SEED_STEP + participant)
        size = face.shape[0]
        angle = rng.uniform(-PARTICIPANT_TURN_DEGREES, PARTICIPANT_TURN_DEGREES)
        scale = rng.uniform(*PARTICIPANT_SCALE)
        matrix = cv2.getRotationMatrix2D((size / 2, size / 2), angle, scale)
        matrix[:, 2] += rng.uniform(-PARTICIPANT_SHIFT, PARTICIPANT_SHIFT, 2) * size
        variant = cv2.warpAffine(
            face, matrix, face.shape[1::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
        if participant % 2 == 1:
            variant = np.ascontiguousarray(variant[:, ::-1])
        gain, offset = rng.uniform(*PARTICIPANT_GAIN), rng.uniform(*PARTICIPANT_OFFSET)
        variant = np.clip(variant.astype(np.float32) * gain + offset, 0, 255).astype(np.uint8)
    landmarks = detector.detect(variant)
    if landmarks is None:
        raise RuntimeError(
            f"dlib found no face in demo participant {participant}'s {face.shape[0]} px frame; "
            "use a larger frame size"
        )
    return variant, landmarks


def _blink_events(track: DistractorTrack) -> list[Event]:
    """The track's unlabelled blinks as AU45 events to render (never annotated)."""
    events = []
    for blink in track.blinks:
        apex = blink.onset + max(1, int(round(0.4 * (blink.offset - blink.onset))))
        events.append(Event(45, "micro", blink.onset, apex, blink.offset, blink.size))
    return events


@dataclass(frozen=True)
class ClipPlan:
    """Everything one clip's frames follow: the labelled schedule and the distractors."""

    clip: DemoVideo
    events: list[Event]
    track: DistractorTrack


def schedules(
    clips: list[DemoVideo],
    num_frames: int,
    fps: float,
    gaps: tuple[float, float],
    label_blinks: bool,
    lead: float = 0.0,
) -> dict[str, list[Event]]:
    """Each clip's labelled schedule (blinks in it only when ``label_blinks``)."""
    found = {
        clip.video_id: schedule_events(num_frames, fps, clip.seed, tuple(gaps), label_blinks, lead)
        for clip in clips
    }
    if not all(found.values()):
        raise ValueError(
            f"a {num_frames / fps:g} s demo clip is too short to hold any expression; use at "
            "least 0.5 s"
        )
    return found


def plan_clips(
    clips: list[DemoVideo],
    events: dict[str, list[Event]],
    num_frames: int,
    fps: float,
    faces: dict[int, tuple[np.ndarray, np.ndarray]],
    distractors: DistractorSettings | None,
) -> list[ClipPlan]:
    """Each clip's schedule and distractors (none when ``distractors`` is None); head turns
    keep clear of the labelled events, random blinks stay away when the schedule blinks."""
    settings = distractors or DistractorSettings(blinks=False, head=False, noise=False)
    plans = []
    for clip in clips:
        face, landmarks = faces[clip.participant]
        schedule = events[clip.video_id]
        if any(event.action_unit == 45 for event in schedule):
            settings = replace(settings, blinks=False)  # unlabelled blinks beside labelled ones
        spans = [(event.onset, event.offset) for event in schedule]
        track = plan_distractors(
            num_frames, fps, clip.seed, landmarks, face.shape[0], spans, settings
        )
        plans.append(ClipPlan(clip, schedule, track))
    return plans


def write_clip(plan: ClipPlan, face: np.ndarray, landmarks: np.ndarray, folder: Path, bar) -> None:
    """Render and write one clip's frames into ``folder`` (through ``<folder>.partial``)."""
    num_frames = len(plan.track.gain)
    width = max(5, len(str(num_frames)))
    curves = envelopes(plan.events + _blink_events(plan.track), num_frames)
    warper = FaceWarper(face, landmarks)
    distract = DistractorRenderer(plan.track, landmarks.mean(axis=0))
    temp_dir = folder.with_name(folder.name + ".partial")
    if temp_dir.exists():
        shutil.rmtree(temp_dir)
    temp_dir.mkdir(parents=True)
    neutral = _encode(face)
    for index in range(num_frames):
        frame = distract(warper.render({au: c[index] for au, c in curves.items()}), index)
        data = neutral if frame is face else _encode(frame)
        (temp_dir / f"{folder.name}_{index + 1:0{width}d}.jpg").write_bytes(data)
        bar.update()
    if folder.exists():
        shutil.rmtree(folder)
    temp_dir.rename(folder)
    log.info(
        "demo: %s, %d frames, %d expressions (%s), %d unlabelled blinks, %d head turns",
        plan.clip.video_id,
        num_frames,
        len(plan.events),
        ", ".join(f"AU{e.action_unit} {e.kind}" for e in plan.events),
        len(plan.track.blinks),
        sum(event.kind == "head_turn" for event in plan.track.events),
    )


def write_tables(output_dir: Path, plans: list[ClipPlan], num_frames: int, fps: float) -> None:
    """``annotations.csv``, the SAMM-style xlsx and ``distractors.csv`` of the clips."""
    table = pd.concat(
        [demo_annotations(p.events, p.clip.subject, p.clip.video_id) for p in plans],
        ignore_index=True,
    )
    write_annotations(table, output_dir / "annotations.csv")
    distractors = [distractor_table(p.track.events, p.clip.video_id) for p in plans]
    write_distractors(pd.concat(distractors, ignore_index=True), output_dir / DISTRACTORS_CSV)
    seeds = ", ".join(f"{p.clip.video_id}: {p.clip.seed}" for p in plans)
    kinds = sorted({event.kind for p in plans for event in p.track.events})
    write_samm_xlsx(
        table,
        output_dir / DEMO_XLSX,
        preamble=(
            "SAMM Long Videos - mesynth demo clip",
            f"astronaut photo, {num_frames} frames at {fps:g} fps, schedule seeds {seeds}",
            "Frame numbers as in the file names (first frame = 1)",
            "Unlabelled distractors (see distractors.csv): " + (", ".join(kinds) or "none"),
        ),
    )


def resolve_distractors(
    distractors: bool | DistractorSettings | None, participants: int
) -> DistractorSettings | None:
    """The distractor settings meant by ``distractors`` (None: on for several participants)."""
    if distractors is None:
        distractors = participants > 1
    if isinstance(distractors, bool):
        return DistractorSettings() if distractors else None
    return distractors


def make_demo(
    output_dir: str | Path,
    seconds: float = 10.0,
    fps: float = 200,
    seed: int = 0,
    frame_size: int = 400,
    progress: bool = True,
    participants: int = 1,
    videos: int = 1,
    gaps: tuple[float, float] = GAP_SECONDS,
    distractors: bool | DistractorSettings | None = None,
    label_blinks: bool | None = None,
) -> Path:
    """Write the demo dataset under ``output_dir`` and return ``output_dir``.

    Frames: ``<output_dir>/frames/<subject>_<video>/<subject>_<video>_NNNNN.jpg`` (open with
    ``open_sources(<output_dir>/frames)``), annotations: ``<output_dir>/annotations.csv`` and
    ``<output_dir>/SAMM_LongVideos_Demo.xlsx``, distractors: ``<output_dir>/distractors.csv``.
    By default one clip, ``900_1``; ``participants`` and ``videos`` (per participant) make
    more, each with its own schedule (see :func:`demo_videos` and :func:`participant_face`);
    ``gaps`` (seconds, min and max) spaces the expressions (real long videos hold more neutral
    face than the default's).

    ``distractors`` (default: on for more than one participant) adds unlabelled blinks, head
    motion and sensor noise (:mod:`mesynth.video.distractors`; ``True`` for all of them, or a
    :class:`DistractorSettings`); off, the clip is clean. ``label_blinks`` (default: off with
    distractors, on without) schedules blinks as annotated AU45 events instead.
    """
    from mesynth.faces.landmarks import LandmarkDetector

    output_dir = Path(output_dir)
    num_frames = int(round(seconds * fps))
    if num_frames < 1:
        raise ValueError(f"seconds * fps must give at least one frame, got {seconds} * {fps}")
    clips = demo_videos(participants, videos, seed)
    distractors = resolve_distractors(distractors, participants)
    if label_blinks is None:
        label_blinks = distractors is None or not distractors.blinks
    # Real long videos rarely open or close on an expression: with distractors, neutral face
    # of at least the shortest gap more at both ends.
    lead = gaps[0] if distractors else 0.0
    events = schedules(clips, num_frames, fps, gaps, label_blinks, lead)
    detector = LandmarkDetector()
    photo_face, _ = demo_face(frame_size, detector)
    faces = {p: participant_face(photo_face, p, detector) for p in range(participants)}
    plans = plan_clips(clips, events, num_frames, fps, faces, distractors)

    bar = tqdm(
        total=num_frames * len(clips), desc="demo frames", unit="frame", disable=not progress
    )
    for plan in plans:
        folder = output_dir / "frames" / plan.clip.video_id
        write_clip(plan, *faces[plan.clip.participant], folder, bar)
    bar.close()
    write_tables(output_dir, plans, num_frames, fps)
    log.info("demo: %d video(s) of %d participant(s) in %s", len(clips), participants, output_dir)
    return output_dir


def _encode(frame: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError("JPEG encoding of a demo frame failed")
    return data.tobytes()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", default="data/demo", help="dataset folder (default data/demo)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--fps", type=float, default=200.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=400, help="frame side in pixels")
    parser.add_argument(
        "--participants", type=int, default=1, help="participants (subjects 900, 901, ...)"
    )
    parser.add_argument("--videos", type=int, default=1, help="videos per participant")
    parser.add_argument(
        "--gaps",
        type=float,
        nargs=2,
        default=GAP_SECONDS,
        metavar=("MIN", "MAX"),
        help=f"seconds of neutral face between expressions (default {GAP_SECONDS[0]:g} "
        f"{GAP_SECONDS[1]:g})",
    )
    parser.add_argument(
        "--distractors",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="unlabelled blinks, head drift and turns, sensor noise and flicker, recorded in "
        "distractors.csv (default: on for more than one participant)",
    )
    parser.add_argument(
        "--label-blinks",
        action="store_true",
        default=None,
        help="blinks are scheduled, annotated AU45 events (the clean clip's behaviour) instead of "
        "unlabelled distractors",
    )
    parser.add_argument(
        "--blinks-per-minute",
        type=float,
        nargs=2,
        default=BLINKS_PER_MINUTE,
        metavar=("MIN", "MAX"),
        help="range each clip's rate of unlabelled blinks is drawn from (default "
        f"{BLINKS_PER_MINUTE[0]:g} {BLINKS_PER_MINUTE[1]:g})",
    )
    parser.add_argument(
        "--turns-per-minute",
        type=float,
        default=TURNS_PER_MINUTE,
        help=f"quick head turns a minute (default {TURNS_PER_MINUTE:g})",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    path = make_demo(
        args.output,
        args.seconds,
        args.fps,
        args.seed,
        args.size,
        participants=args.participants,
        videos=args.videos,
        gaps=tuple(args.gaps),
        distractors=_distractor_arguments(args),
        label_blinks=args.label_blinks,
    )
    print(path)


def _distractor_arguments(args: argparse.Namespace) -> DistractorSettings | bool | None:
    """``--distractors`` and the rates: None leaves the choice to the participant count."""
    settings = DistractorSettings(
        blinks_per_minute=tuple(args.blinks_per_minute), turns_per_minute=args.turns_per_minute
    )
    if args.distractors is False:
        return False
    if args.distractors or args.participants > 1:
        return settings
    return None


if __name__ == "__main__":
    main()
