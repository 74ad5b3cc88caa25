"""The vocabulary of spotting: expression types, intervals, predictions, spotters.

Intervals are inclusive ranges ``[onset, offset]`` of the source's frame numbers (the numbers
in the frame file names, which annotations use), never positions in a decoded array.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

MICRO = "micro"
MACRO = "macro"
EXPRESSION_TYPES = (MICRO, MACRO)

# Every spelling of the two types seen in MEGC files and dataset sheets.
_TYPE_SPELLINGS = {
    "micro": MICRO,
    "me": MICRO,
    "micro-expression": MICRO,
    "micro_expression": MICRO,
    "microexpression": MICRO,
    "micro expression": MICRO,
    "macro": MACRO,
    "mae": MACRO,
    "macro-expression": MACRO,
    "macro_expression": MACRO,
    "macroexpression": MACRO,
    "macro expression": MACRO,
}


def normalise_type(value: object) -> str:
    """``me``/``mae``, ``micro``/``macro``, ``micro-expression``/``macro-expression`` in any
    case -> ``micro`` or ``macro``."""
    text = str(value).strip().lower()
    if text not in _TYPE_SPELLINGS:
        raise ValueError(
            f"expression type {value!r} is neither micro nor macro; write one of "
            "me/mae, micro/macro or micro-expression/macro-expression"
        )
    return _TYPE_SPELLINGS[text]


@dataclass(frozen=True)
class Interval:
    """An expression as an inclusive range of source frame numbers."""

    onset: int
    offset: int
    kind: str  # micro | macro

    def __post_init__(self) -> None:
        object.__setattr__(self, "onset", int(self.onset))
        object.__setattr__(self, "offset", int(self.offset))
        object.__setattr__(self, "kind", normalise_type(self.kind))

    @property
    def length(self) -> int:
        """Frames covered, both ends included (0 when ``offset < onset``)."""
        return max(0, self.offset - self.onset + 1)


@dataclass(frozen=True)
class Prediction:
    """One spotted interval of one video, with the spotter's confidence."""

    video: str
    onset: int
    offset: int
    kind: str
    score: float = math.nan

    def __post_init__(self) -> None:
        object.__setattr__(self, "video", str(self.video))
        object.__setattr__(self, "onset", int(self.onset))
        object.__setattr__(self, "offset", int(self.offset))
        object.__setattr__(self, "kind", normalise_type(self.kind))
        object.__setattr__(self, "score", float(self.score))

    @property
    def interval(self) -> Interval:
        return Interval(self.onset, self.offset, self.kind)


@dataclass
class SpottingVideo:
    """One video as spotters see it: its motion features and its ground truth.

    ``video_id`` is the id the ground truth uses (for a synthetic video, the original's id, so
    that its labels apply); ``name`` is the id of the frames actually read (the synthetic id).
    """

    video_id: str
    participant: str
    fps: float
    features: Any  # mesynth.spotting.features.VideoFeatures
    events: list[Interval] = field(default_factory=list)
    name: str = ""
    origin: str = "original"  # original | synthetic: where the frames came from

    def __post_init__(self) -> None:
        if not self.name:
            self.name = self.video_id


@runtime_checkable
class Spotter(Protocol):
    """Learns (or calibrates) on training videos; then scores frames and predicts intervals."""

    def fit(self, videos: Sequence[SpottingVideo]) -> None: ...

    def frame_scores(self, video: SpottingVideo) -> Any: ...  # (T,) numpy array

    def predict(self, video: SpottingVideo) -> list[Prediction]: ...
