"""Annotated events placed in a video pair's frames, or set aside with the reason."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mesynth.evaluation.common import EvaluationInputError
from mesynth.evaluation.events import load_annotations, locate_events
from tests.evaluation.helpers import write_frame_pair


def test_events_are_placed_by_frame_number_or_set_aside(tmp_path):
    frames = [np.full((16, 16, 3), level, np.uint8) for level in range(0, 100, 10)]
    pair = write_frame_pair(tmp_path, frames, frames, first=101)
    assert pair.frame_numbers() == list(range(101, 111))
    annotations = pd.DataFrame(
        {
            "video": ["v", "v", "v", "v", "other"],
            "onset": [102, 104, 109, 103, 101],
            "apex": [105, -1, 112, -1, 102],
            "offset": [107, 108, 113, -1, 103],
            "action_units": ["12", "4", "45", "1", "2"],
        }
    )
    events, skipped = locate_events(annotations, pair)
    assert [(e.event, e.onset_index, e.apex_index) for e in events] == [(1, 1, 4), (2, 3, 5)]
    assert events[1].apex == 106 and "midpoint" in events[1].note
    assert [(row["event"], row["note"]) for row in skipped] == [
        (3, "frame 112 is not among the video's frames"),
        (4, "no apex and no usable offset"),
    ]


def test_a_missing_annotation_file_is_named(tmp_path):
    with pytest.raises(EvaluationInputError, match="annotations=.*gone.csv not found"):
        load_annotations(tmp_path / "gone.csv")
