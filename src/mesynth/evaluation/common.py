"""Names, errors and file helpers shared by the evaluation modules."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
from natsort import natsorted

from mesynth.atomic import write_atomically

# The intensity AUs OpenFace 2.x writes (``AUxx_r``).
INTENSITY_AUS = (
    "AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12",
    "AU14", "AU15", "AU17", "AU20", "AU23", "AU25", "AU26", "AU45",
)  # fmt: skip


class EvaluationInputError(ValueError):
    """Bad or inconsistent evaluation input; the message names the file and the fix."""


def intensity_column(au: str) -> str:
    """OpenFace's intensity column of an AU: ``AU12`` -> ``AU12_r``."""
    return f"{normalise_au(au)}_r"


def normalise_au(au: str | int) -> str:
    """``12``, ``"12"``, ``"au12"``, ``"AU12_r"`` -> ``"AU12"``."""
    text = str(au).strip().upper()
    if text.endswith("_R"):
        text = text[:-2]
    if text.startswith("AU"):
        text = text[2:]
    if not text.isdigit():
        raise EvaluationInputError(f"{au!r} is not an action unit name (expected e.g. AU12)")
    return f"AU{int(text):02d}"


def choose_videos(
    setting: str,
    configured: Iterable[object] | None,
    known: Iterable[str],
    max_videos: int,
    among: str,
    default: Iterable[str] | None = None,
) -> list[str]:
    """The videos a figure shows: the ``configured`` ones (each one of ``known``), else the first
    ``max_videos`` of ``default`` (``known`` when None) in natural order."""
    known = natsorted(known)
    if configured:
        chosen = [str(video) for video in configured]
        unknown = [video for video in chosen if video not in known]
        if unknown:
            raise EvaluationInputError(
                f"{setting} names {unknown}, not among {among} (e.g. {known[:5]}); quote ids "
                "Hydra reads as numbers: videos=['006_1']"
            )
        return chosen
    return natsorted(known if default is None else default)[: int(max_videos)]


def participant_of(video: str, pattern: str) -> str:
    """The participant id of a video id: the first group (or whole match) of ``pattern``."""
    match = re.search(pattern, video)
    if match is None:
        raise EvaluationInputError(
            f"participant_regex={pattern!r} does not match video id {video!r}; set "
            "participant_regex so that its first group is the participant id"
        )
    return match.group(1) if match.groups() else match.group(0)


def write_text(path: str | Path, text: str) -> Path:
    """Write a text file atomically: a reader never sees a half-written file."""
    return write_atomically(path, lambda partial: partial.write_text(text))


def write_csv(path: str | Path, table: pd.DataFrame, float_format: str | None = "%.6g") -> Path:
    """Write a DataFrame as CSV (no index) atomically."""
    return write_atomically(
        path, lambda partial: table.to_csv(partial, index=False, float_format=float_format)
    )


def write_json(path: str | Path, data: dict) -> Path:
    """Write JSON atomically; NaN becomes ``null`` so every JSON reader accepts the file."""
    text = json.dumps(_finite(data), indent=2, default=_json_default, allow_nan=False)
    return write_text(path, text + "\n")


def _finite(value: object) -> object:
    if isinstance(value, dict):
        return {str(key): _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _json_default(value: object) -> object:
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
