"""Reading OpenFace 2.x FeatureExtraction CSVs, the common currency of every AU backend.

Every backend ends in one CSV per video and side with OpenFace's column names (``frame,
face_id, timestamp, confidence, success, AU01_r, ...``), so the statistics never care which
backend made them. :class:`OpenFaceCSVBackend` is the backend for CSVs that already exist.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from mesynth.evaluation.au.base import AUInputs, CSVPairs
from mesynth.evaluation.common import INTENSITY_AUS, EvaluationInputError, intensity_column

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("frame", "success", "confidence")


def read_openface_csv(
    path: str | Path, aus: list[str] | tuple[str, ...] | None = None
) -> pd.DataFrame:
    """Read one OpenFace CSV; returns its columns (names stripped) sorted by frame.

    Checks what the statistics rely on: the columns ``frame, success, confidence`` and the
    intensity columns of ``aus`` (default: whichever of the 17 intensity AUs the file has, at
    least one), one face per frame, and no missing or non-numeric values, which is what a
    truncated or damaged file looks like.
    """
    path = Path(path)
    table = _read_table(path)
    needed = list(REQUIRED_COLUMNS) + [intensity_column(au) for au in _wanted_aus(table, aus, path)]
    missing = [column for column in needed if column not in table.columns]
    if missing:
        raise EvaluationInputError(
            f"AU file {path} lacks the column(s) {missing}; expected OpenFace FeatureExtraction "
            "output (frame, face_id, timestamp, confidence, success, AUxx_r ...). Re-run the "
            "extraction with -aus, or restrict the comparison with aus=[...]"
        )
    if table.empty:
        raise EvaluationInputError(
            f"AU file {path} has a header but no rows; re-run the extraction"
        )
    table[needed] = _numeric_values(table, needed, path)
    if "face_id" in table.columns and table["face_id"].nunique() > 1:
        raise EvaluationInputError(
            f"AU file {path} has rows for several faces (face_id {sorted(table['face_id'].unique())}); "
            "evaluation compares one face per frame. Use OpenFace FeatureExtraction (one face), "
            "not FaceLandmarkVidMulti"
        )
    return _in_frame_order(table, path)


def _read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise FileNotFoundError(f"AU file {path} not found")
    try:
        table = pd.read_csv(path, skipinitialspace=True)
    except pd.errors.EmptyDataError as error:
        raise EvaluationInputError(
            f"AU file {path} is empty; re-run the AU extraction for this video"
        ) from error
    except pd.errors.ParserError as error:
        raise EvaluationInputError(
            f"AU file {path} is not a readable CSV ({error}); re-run the AU extraction"
        ) from error
    # Older OpenFace writes ", AU01_r" headers: the names carry a leading space.
    table.columns = [str(column).strip() for column in table.columns]
    return table


def _wanted_aus(table: pd.DataFrame, aus, path: Path) -> list[str]:
    """The AUs to read: ``aus`` (each must be there), else every intensity AU the file has."""
    wanted = (
        list(aus)
        if aus is not None
        else [au for au in INTENSITY_AUS if intensity_column(au) in table.columns]
    )
    if not wanted:
        raise EvaluationInputError(
            f"AU file {path} has no AU intensity columns (expected some of "
            f"{', '.join(intensity_column(au) for au in INTENSITY_AUS)}); found columns "
            f"{list(table.columns)[:12]}... Run OpenFace FeatureExtraction with -aus"
        )
    if aus is not None:
        absent = [au for au in wanted if intensity_column(au) not in table.columns]
        if absent:
            raise EvaluationInputError(
                _requested_message({str(path): absent}, wanted, _intensity_aus(table.columns))
            )
    return wanted


def _numeric_values(table: pd.DataFrame, needed: list[str], path: Path) -> pd.DataFrame:
    """The ``needed`` columns as numbers; a missing or non-numeric value is a damaged file."""
    values = table[needed].apply(pd.to_numeric, errors="coerce")
    bad_rows = np.flatnonzero(values.isna().any(axis=1).to_numpy())
    if bad_rows.size:
        first = int(bad_rows[0])
        columns = [c for c in needed if pd.isna(values.iloc[first][c])]
        raise EvaluationInputError(
            f"AU file {path} has missing or non-numeric values in {bad_rows.size} row(s), first "
            f"at data row {first + 1} (line {first + 2}) in {columns}; the file looks truncated "
            "or damaged. Re-run the AU extraction for this video"
        )
    return values


def _in_frame_order(table: pd.DataFrame, path: Path) -> pd.DataFrame:
    frames = table["frame"].to_numpy()
    if np.any(np.diff(frames) <= 0):
        table = table.sort_values("frame", kind="stable").reset_index(drop=True)
        if np.any(np.diff(table["frame"].to_numpy()) == 0):
            raise EvaluationInputError(
                f"AU file {path} lists some frame numbers twice; re-run the extraction"
            )
    return table


def _intensity_aus(columns) -> list[str]:
    names = {str(column).strip() for column in columns}
    return [au for au in INTENSITY_AUS if intensity_column(au) in names]


def header_aus(path: str | Path) -> list[str]:
    """The intensity AUs whose column the CSV's header names (reads the header only)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"AU file {path} not found")
    try:
        columns = pd.read_csv(path, nrows=0, skipinitialspace=True).columns
    except pd.errors.EmptyDataError as error:
        raise EvaluationInputError(
            f"AU file {path} is empty; re-run the AU extraction for this video"
        ) from error
    return _intensity_aus(columns)


def _requested_message(
    lacking: dict[str, list[str]], requested: list[str], shared: list[str]
) -> str:
    def columns(aus: list[str]) -> str:
        return ", ".join(intensity_column(au) for au in aus)

    files = list(lacking)
    listed = "; ".join(f"{path} has no {columns(aus)}" for path, aus in list(lacking.items())[:5])
    more = f"; and {len(files) - 5} more file(s)" if len(files) > 5 else ""
    absent = [au for au in requested if any(au in aus for aus in lacking.values())]
    keep = [au for au in requested if au not in absent]
    fix = (
        f"drop {', '.join(absent)} from aus= (aus=[{','.join(keep)}])"
        if keep
        else f"choose AUs these files have: {', '.join(shared) or 'none'}"
    )
    return (
        f"aus=[{','.join(requested)}] asks for {', '.join(absent)}, missing from {len(files)} "
        f"CSV(s): {listed}{more}. Re-extract those files with an AU backend that gives "
        f"{'it' if len(absent) == 1 else 'them'} (OpenFace FeatureExtraction -aus), or {fix}"
    )


def check_requested_aus(files: CSVPairs, aus: list[str]) -> None:
    """Stop, naming every file and AU, when a CSV lacks a column that ``aus=`` asks for."""
    lacking: dict[str, list[str]] = {}
    shared: set[str] | None = None
    for pair in files.values():
        for path in pair:
            present = header_aus(path)
            shared = set(present) if shared is None else shared & set(present)
            absent = [au for au in aus if au not in present]
            if absent:
                lacking[str(path)] = absent
    if lacking:
        raise EvaluationInputError(
            _requested_message(lacking, list(aus), [au for au in INTENSITY_AUS if au in shared])
        )


def list_csvs(directory: Path, setting: str) -> dict[str, Path]:
    """``<video>.csv`` files of a directory by video id; an error names ``setting`` if absent."""
    if not directory.is_dir():
        raise EvaluationInputError(
            f"{setting}={directory} is not a directory; point {setting} at the folder holding "
            "one OpenFace CSV per video (<video>.csv)"
        )
    found = {path.stem: path for path in sorted(directory.glob("*.csv"))}
    if not found:
        raise EvaluationInputError(
            f"{setting}={directory} holds no .csv files; expected one OpenFace CSV per video "
            "named <video>.csv"
        )
    return found


def pair_csvs(
    original: dict[str, Path], synthetic: dict[str, Path], videos: list[str] | None
) -> CSVPairs:
    """Match the two sides' CSVs by video id; a video on one side only is an error."""
    if videos is not None:
        for name, side in (("original", original), ("synthetic", synthetic)):
            absent = [video for video in videos if video not in side]
            if absent:
                raise EvaluationInputError(
                    f"videos={absent} requested but the {name} side has no CSV for them "
                    f"(have {sorted(side)[:10]}...); fix `videos` or add the files"
                )
        return {video: (original[video], synthetic[video]) for video in videos}
    only_original = sorted(set(original) - set(synthetic))
    only_synthetic = sorted(set(synthetic) - set(original))
    if only_original or only_synthetic:
        parts = []
        if only_original:
            example = original[only_original[0]]
            parts.append(f"{len(only_original)} only in the originals (e.g. {example})")
        if only_synthetic:
            example = synthetic[only_synthetic[0]]
            parts.append(f"{len(only_synthetic)} only in the synthetic set (e.g. {example})")
        raise EvaluationInputError(
            "the two sides do not hold the same videos: "
            + "; ".join(parts)
            + ". Add the missing CSVs, or choose the videos to compare with videos=[...]"
        )
    return {video: (original[video], synthetic[video]) for video in sorted(original)}


class OpenFaceCSVBackend:
    """AU intensities from OpenFace CSVs made beforehand: ``<dir>/<video>.csv`` on each side."""

    name = "openface_csv"
    needs_frames = False

    def csv_pairs(self, inputs: AUInputs) -> CSVPairs:
        original = list_csvs(inputs.original_dir, "original_dir")
        synthetic = list_csvs(inputs.synthetic_dir, "synthetic_dir")
        pairs = pair_csvs(original, synthetic, inputs.videos)
        log.info("comparing OpenFace CSVs of %d videos", len(pairs))
        return pairs
