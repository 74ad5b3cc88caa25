"""Optical flow of annotated events: onset -> apex, original against synthetic (paper Fig. 6).

For every annotated event the Farneback flow from its onset frame to its apex frame is computed
on both sides; the two fields are compared inside the face (the hull of the original onset
frame's 68 landmarks) by magnitude-weighted cosine similarity and end-point error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mesynth.evaluation.common import EvaluationInputError
from mesynth.evaluation.flow import flow_agreement
from mesynth.evaluation.frames import VideoPair
from mesynth.faces.landmarks import face_mask
from mesynth.imaging import FarnebackParams, farneback

log = logging.getLogger(__name__)

EVENT_COLUMNS = [
    "video", "event", "type", "action_units", "onset", "apex", "offset", "cosine", "epe",
    "magnitude_original", "magnitude_synthetic", "face_region", "note",
]  # fmt: skip


@dataclass
class Event:
    """One annotated event located in a video pair's frame indices."""

    video: str
    event: int  # 1-based number of the event within its video, in annotation order
    type: str
    action_units: str
    onset: int  # source frame numbers, as annotated
    apex: int
    offset: int
    onset_index: int  # positions in the pair's frames
    apex_index: int
    note: str = ""


@dataclass
class EventFlow:
    """The numbers of one event, and what its figure needs."""

    row: dict
    images: dict[str, np.ndarray] = field(default_factory=dict)


def load_annotations(path: str | Path, fmt: str = "auto") -> pd.DataFrame:
    """Annotations through mesynth.video.annotations (SAMM xlsx, CAS(ME)^2 xlsx or CSV)."""
    from mesynth.video.annotations import read_annotations

    path = Path(path)
    if not path.is_file():
        raise EvaluationInputError(
            f"annotations={path} not found; point it at the annotation file of the synthetic "
            "videos (synthesis writes <output_dir>/annotations.csv) or set annotations=null"
        )
    table = read_annotations(path, fmt=fmt)
    missing = [c for c in ("video", "onset", "apex", "offset") if c not in table.columns]
    if missing:
        raise EvaluationInputError(f"annotations {path} lack the columns {missing}")
    return table


def locate_events(annotations: pd.DataFrame, pair: VideoPair) -> tuple[list[Event], list[dict]]:
    """The events of one video in its frame indices; events that cannot be placed are returned
    as rows with a ``note`` saying why."""
    videos = annotations["video"].astype(str)
    rows = annotations[videos == pair.video_id]
    if rows.empty:
        # The source's annotation file names the original video, not the synthetic one.
        rows = annotations[videos == str(pair.original.video_id)]
    index_of = {number: index for index, number in enumerate(pair.frame_numbers())}
    events, skipped = [], []
    for number, (_, row) in enumerate(rows.iterrows(), start=1):
        onset, apex, offset = (
            int(row[c]) if pd.notna(row[c]) else -1 for c in ("onset", "apex", "offset")
        )
        base = {
            "video": pair.video_id,
            "event": number,
            "type": str(row.get("type", "")),
            "action_units": str(row.get("action_units", "")),
            "onset": onset,
            "apex": apex,
            "offset": offset,
        }
        note = ""
        if apex < 0 or apex == onset:
            if offset > onset >= 0:
                apex = (onset + offset) // 2
                note = "apex not annotated: midpoint of onset and offset used"
            else:
                skipped.append({**base, "note": "no apex and no usable offset"})
                continue
        if onset not in index_of or apex not in index_of:
            absent = onset if onset not in index_of else apex
            skipped.append({**base, "note": f"frame {absent} is not among the video's frames"})
            continue
        events.append(
            Event(
                pair.video_id,
                number,
                base["type"],
                base["action_units"],
                onset,
                apex,
                offset,
                index_of[onset],
                index_of[apex],
                note,
            )  # fmt: skip
        )
    return events, skipped


def event_flow(
    pair: VideoPair,
    event: Event,
    params: FarnebackParams,
    min_magnitude: float = 0.05,
    keep_images: bool = False,
    detector=None,
) -> EventFlow:
    """Onset -> apex flow on both sides of one event, compared inside the face (found in the
    original onset frame by ``detector``, a :class:`mesynth.faces.landmarks.LandmarkDetector`)."""
    original_onset = pair.original_frame(event.onset_index)
    original_apex = pair.original_frame(event.apex_index)
    synthetic_onset = pair.synthetic_frame(event.onset_index)
    synthetic_apex = pair.synthetic_frame(event.apex_index)
    flow_original = farneback(original_onset, original_apex, params)
    flow_synthetic = farneback(synthetic_onset, synthetic_apex, params)
    if detector is None:
        from mesynth.faces.landmarks import LandmarkDetector

        detector = LandmarkDetector()
    landmarks = detector.detect(original_onset)
    if landmarks is None:
        mask, region = None, "full frame (no face found)"
    else:
        mask, region = face_mask(landmarks, flow_original.shape[:2]), "face"
    numbers = flow_agreement(flow_original, flow_synthetic, mask, min_magnitude)
    row = {
        "video": event.video,
        "event": event.event,
        "type": event.type,
        "action_units": event.action_units,
        "onset": event.onset,
        "apex": event.apex,
        "offset": event.offset,
        **numbers,
        "face_region": region,
        "note": event.note,
    }
    images = {}
    if keep_images:
        images = {
            "original_onset": original_onset,
            "synthetic_onset": synthetic_onset,
            "original_apex": original_apex,
            "synthetic_apex": synthetic_apex,
            "flow_original": flow_original,
            "flow_synthetic": flow_synthetic,
        }
    return EventFlow(row, images)
