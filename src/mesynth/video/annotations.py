"""Expression annotations: the SAMM-LV spreadsheet, the CAS(ME)^2 code sheet and plain CSV.

Every reader returns one table with (at least) the columns of :data:`COLUMNS`:
``video`` (the id :func:`mesynth.video.layouts.open_sources` gives the same video), ``subject``,
``onset``/``apex``/``offset`` (frame numbers as in the frame file names; -1 when unknown),
``type`` (``micro``/``macro``, or the sheet's own word when it is neither), ``action_units``
(text, e.g. ``"R12+4"``), and ``quirks`` (``;``-separated tags for values the source sheet gets
wrong, e.g. ``onset_zero``, ``apex_unknown``, ``offset_past_end``; empty when clean).

SAMM-LV (``SAMM_LongVideos_V*.xlsx``): the header row ("Subject", "Filename", "Inducement Code",
"Onset", "Apex", "Offset", "Duration", "Type", "Action Units", "Notes") follows a preamble of a
few rows and is found by its content. ``Filename`` is ``<subject>_<video>_<n>``: the video id is
its first two parts, the subject its first part (zero-padded as in the folder names).

CAS(ME)^2 (``CAS(ME)^2code_final.xlsx``), assumptions, documented because the file has no header:
- sheet 1 (``CASFEcode_final``): participant number, ``<expression name>_<n>`` (e.g.
  ``disgust1_3``), onset, apex, offset (0 = not coded), AUs, estimated emotion, expression type
  (``micro-expression``/``macro-expression``), self-reported emotion;
- the sheet named ``naming rule1`` (else the 2nd): folder number (15), subject (``s15`` or 15),
  participant number as used in sheet 1 (1);
- the sheet named ``naming rule2`` (else the 3rd): video code (``0401``), expression name
  (``disgust1``).
The video id is ``s<NN>_<code>`` (e.g. ``s15_0401``), matching ``rawpic/s15/15_0401.../``.
"""

from __future__ import annotations

import logging
import math
import re
import zipfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mesynth.atomic import write_atomically
from mesynth.config import check_choice

log = logging.getLogger(__name__)

COLUMNS = ("video", "subject", "onset", "apex", "offset", "type", "action_units")
FRAME_COLUMNS = ("onset", "apex", "offset")
FORMATS = ("auto", "samm_xlsx", "casme2_xlsx", "csv")
SAMM_COLUMNS = (
    "Subject",
    "Filename",
    "Inducement Code",
    "Onset",
    "Apex",
    "Offset",
    "Duration",
    "Type",
    "Action Units",
    "Notes",
)
SAMM_TYPES = {"micro": "Micro - 1/2", "macro": "Macro"}

# Column names accepted in CSV files, by the canonical name they stand for.
_CSV_ALIASES = {
    "video": ("video", "video_id", "video id", "videocode", "subject_video_code"),
    "subject": ("subject", "participant", "subject_id", "subjectcode"),
    "onset": ("onset", "onset_frame", "onsetframe", "onset frame"),
    "apex": ("apex", "apex_frame", "apexframe", "apex frame"),
    "offset": ("offset", "offset_frame", "offsetframe", "offset frame"),
    "type": ("type", "expression_type", "expression type"),
    "action_units": ("action_units", "action units", "aus", "au"),
}


class AnnotationError(ValueError):
    """An annotation file that cannot be read as the requested format."""


# ----------------------------------------------------------------------------- small helpers


def _frame_value(value) -> int | None:
    """An integer frame number from a cell, or None when empty / not a number."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return None
        try:
            value = float(value)
        except ValueError:
            return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if math.isnan(number):
        return None
    return int(round(number))


def _text(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def normalise_type(value) -> str:
    """``micro`` / ``macro`` from the sheets' spellings (``Micro - 1/2``, ``macro-expression``)."""
    text = _text(value).lower()
    if "micro" in text:
        return "micro"
    if "macro" in text:
        return "macro"
    return text


def _add_quirk(quirks: list[str], tag: str) -> None:
    if tag not in quirks:
        quirks.append(tag)


def _frames_with_quirks(
    onset, apex, offset, zero_offset_unknown: bool
) -> tuple[list[int], list[str]]:
    """Frame numbers (-1 when unknown) and tags for suspicious values."""
    quirks: list[str] = []
    values = []
    for name, raw in (("onset", onset), ("apex", apex), ("offset", offset)):
        number = _frame_value(raw)
        if number is None:
            _add_quirk(quirks, f"{name}_missing")
            number = -1
        elif number < 0:
            _add_quirk(quirks, f"{name}_unknown")
            number = -1
        elif number == 0:
            if name == "offset" and zero_offset_unknown:
                _add_quirk(quirks, "offset_unknown")
                number = -1
            else:
                _add_quirk(quirks, f"{name}_zero")
        values.append(number)
    onset_frame, apex_frame, offset_frame = values
    if onset_frame > 0 and offset_frame > 0 and offset_frame < onset_frame:
        _add_quirk(quirks, "offset_before_onset")
    if apex_frame > 0 and onset_frame > 0 and apex_frame < onset_frame:
        _add_quirk(quirks, "apex_before_onset")
    if apex_frame > 0 and offset_frame > 0 and apex_frame > offset_frame:
        _add_quirk(quirks, "apex_after_offset")
    return values, quirks


def _finish(rows: list[dict], source: Path, fmt: str) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    if frame.empty:
        frame = pd.DataFrame(columns=[*COLUMNS, "quirks"])
    for column in FRAME_COLUMNS:
        frame[column] = frame[column].astype(np.int64)
    frame["quirks"] = frame["quirks"].fillna("").astype(str) if "quirks" in frame else ""
    frame.attrs["source"] = str(source)
    frame.attrs["format"] = fmt
    report_quirks(frame, str(source))
    return frame


def report_quirks(frame: pd.DataFrame, where: str) -> dict[str, int]:
    """Log how many rows carry each quirk tag; returns the counts (also in ``attrs``)."""
    counts: Counter[str] = Counter()
    for tags in frame.get("quirks", pd.Series(dtype=str)):
        counts.update(t for t in str(tags).split(";") if t)
    frame.attrs["quirks"] = dict(counts)
    if counts:
        listing = ", ".join(f"{tag}: {n}" for tag, n in sorted(counts.items()))
        log.warning(
            "%s: %d of %d annotation rows have known quirks (%s); see the 'quirks' column",
            where,
            int((frame["quirks"] != "").sum()),
            len(frame),
            listing,
        )
    return dict(counts)


# ----------------------------------------------------------------------------- SAMM-LV


def _find_header(raw: pd.DataFrame, required: Sequence[str], path: Path) -> int:
    wanted = [r.lower() for r in required]
    for index, row in raw.iterrows():
        cells = {_text(v).lower() for v in row.tolist()}
        if all(w in cells for w in wanted):
            return int(index)
    raise AnnotationError(
        f"{path}: no header row with the columns {list(required)} found in the first sheet; "
        "is this the SAMM-LV spreadsheet (SAMM_LongVideos_V*.xlsx)?"
    )


def read_samm_xlsx(path: str | Path) -> pd.DataFrame:
    """The SAMM-LV long-video spreadsheet."""
    path = Path(path)
    raw = pd.read_excel(path, sheet_name=0, header=None, dtype=object)
    header_row = _find_header(raw, ("Subject", "Filename", "Onset", "Offset"), path)
    header = [_text(v) for v in raw.iloc[header_row].tolist()]
    by_name = {name.lower(): i for i, name in enumerate(header) if name}

    def column(name: str, required: bool = True) -> int | None:
        key = name.lower()
        if key in by_name:
            return by_name[key]
        if required:
            raise AnnotationError(f"{path}: the header row has no {name!r} column (found {header})")
        return None

    columns = {name: column(name, name in ("Filename", "Onset", "Offset")) for name in SAMM_COLUMNS}
    rows = []
    for row_number in range(header_row + 1, len(raw)):
        cells = raw.iloc[row_number].tolist()

        def cell(name: str, cells=cells):
            index = columns[name]
            return None if index is None else cells[index]

        filename = _text(cell("Filename"))
        if not filename:
            continue  # blank or footnote rows
        parts = filename.split("_")
        if len(parts) < 2:
            raise AnnotationError(
                f"{path}, row {row_number + 1}: Filename {filename!r} is not "
                "'<subject>_<video>_<n>'"
            )
        (onset, apex, offset), quirks = _frames_with_quirks(
            cell("Onset"), cell("Apex"), cell("Offset"), zero_offset_unknown=False
        )
        rows.append(
            {
                "video": f"{parts[0]}_{parts[1]}",
                "subject": parts[0],
                "onset": onset,
                "apex": apex,
                "offset": offset,
                "type": normalise_type(cell("Type")),
                "action_units": _text(cell("Action Units")),
                "expression": filename,
                "inducement_code": _text(cell("Inducement Code")),
                "duration": _frame_value(cell("Duration")) or -1,
                "notes": _text(cell("Notes")),
                "quirks": ";".join(quirks),
            }
        )
    return _finish(rows, path, "samm_xlsx")


def write_samm_xlsx(
    frame: pd.DataFrame, path: str | Path, preamble: Sequence[str] | None = None
) -> Path:
    """Write annotations in the SAMM-LV spreadsheet layout (preamble, header, one row each)."""
    from openpyxl import Workbook

    path = Path(path)
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "FACS_Codes"
    for line in preamble or ("SAMM Long Videos", "FACS codes of the expressions", ""):
        sheet.append([line])
    sheet.append(list(SAMM_COLUMNS))
    counters: Counter[str] = Counter()
    for record in frame.to_dict("records"):
        video = str(record["video"])
        counters[video] += 1
        onset, apex, offset = (int(record[c]) for c in FRAME_COLUMNS)
        expression = record.get("expression") or f"{video}_{counters[video]}"
        kind = str(record.get("type", ""))
        sheet.append(
            [
                _samm_subject(record.get("subject", video.split("_")[0])),
                expression,
                record.get("inducement_code") or video.split("_")[-1],
                onset,
                apex,
                offset,
                offset - onset + 1 if onset >= 0 and offset >= 0 else -1,
                SAMM_TYPES.get(kind, kind),
                _text(record.get("action_units", "")),
                _text(record.get("notes", "")),
            ]
        )
    write_atomically(path, lambda tmp: workbook.save(tmp))
    return path


def _samm_subject(subject) -> int | str:
    text = _text(subject)
    return int(text) if text.isdigit() else text


# ----------------------------------------------------------------------------- CAS(ME)^2


def _sheet_named(sheets: Mapping[str, pd.DataFrame], key: str, position: int, path: Path):
    for name, sheet in sheets.items():
        if key in name.lower().replace(" ", "").replace("_", ""):
            return sheet
    names = list(sheets)
    if position < len(names):
        log.info("%s: no sheet named like %r, using sheet %r", path, key, names[position])
        return sheets[names[position]]
    raise AnnotationError(
        f"{path}: the CAS(ME)^2 code sheet needs a '{key}' sheet (found sheets {names})"
    )


def _casme2_subjects(rule1: pd.DataFrame) -> dict[int, str]:
    """'naming rule1': participant number -> subject folder (``s15``)."""
    subjects: dict[int, str] = {}
    for row in rule1.itertuples(index=False):
        participant = _frame_value(row[2]) if len(row) > 2 else None
        if participant is None:
            continue  # header or blank line
        digits = re.sub(r"\D", "", _text(row[1])) or re.sub(r"\D", "", _text(row[0]))
        if digits:
            subjects[participant] = f"s{int(digits):02d}"
    return subjects


def _casme2_video_codes(rule2: pd.DataFrame) -> dict[str, str]:
    """'naming rule2': expression name (lower case) -> four-digit video code (``0401``)."""
    video_codes: dict[str, str] = {}
    for row in rule2.itertuples(index=False):
        code, name = _text(row[0]), _text(row[1]).lower()
        if code.isdigit() and name:
            video_codes[name] = code.zfill(4)
    return video_codes


def _casme2_event(
    cells: list, subjects: Mapping[int, str], video_codes: Mapping[str, str]
) -> dict | None:
    """One row of the code sheet as an event; None for a header or blank line."""
    cells = list(cells) + [None] * (9 - len(cells))
    participant = _frame_value(cells[0])
    name = _text(cells[1])
    if participant is None or not name:
        return None
    quirks: list[str] = []
    subject = subjects.get(participant)
    if subject is None:
        _add_quirk(quirks, "unknown_participant")
        subject = f"p{participant}"
    base, _, number = name.rpartition("_")
    base = (base or name).lower()
    code = video_codes.get(base)
    if code is None:
        _add_quirk(quirks, "unknown_video_code")
        code = base
    (onset, apex, offset), frame_quirks = _frames_with_quirks(
        cells[2], cells[3], cells[4], zero_offset_unknown=True
    )
    return {
        "video": f"{subject}_{code}",
        "subject": subject,
        "onset": onset,
        "apex": apex,
        "offset": offset,
        "type": normalise_type(cells[7]),
        "action_units": _text(cells[5]),
        "expression": name,
        "participant_number": participant,
        "emotion": _text(cells[6]),
        "self_reported_emotion": _text(cells[8]),
        "quirks": ";".join(quirks + frame_quirks),
    }


def read_casme2_xlsx(path: str | Path) -> pd.DataFrame:
    """The CAS(ME)^2 code sheet (``CAS(ME)^2code_final.xlsx``); assumptions in the module doc."""
    path = Path(path)
    sheets = pd.read_excel(path, sheet_name=None, header=None, dtype=object)
    names = list(sheets)
    if len(names) < 3:
        raise AnnotationError(
            f"{path}: expected the code sheet plus the 'naming rule1' and 'naming rule2' sheets, "
            f"found {names}"
        )
    subjects = _casme2_subjects(_sheet_named(sheets, "rule1", 1, path))
    video_codes = _casme2_video_codes(_sheet_named(sheets, "rule2", 2, path))
    if not subjects or not video_codes:
        raise AnnotationError(
            f"{path}: could not read the participant ({len(subjects)} found) or video code "
            f"({len(video_codes)} found) naming sheets"
        )
    rows = []
    for cells in sheets[names[0]].itertuples(index=False):
        event = _casme2_event(cells, subjects, video_codes)
        if event is not None:
            rows.append(event)
    return _finish(rows, path, "casme2_xlsx")


# ----------------------------------------------------------------------------- CSV / tables


def _from_table(table: pd.DataFrame, path: Path, fmt: str) -> pd.DataFrame:
    lookup = {str(c).strip().lower(): c for c in table.columns}
    renames = {}
    for canonical, aliases in _CSV_ALIASES.items():
        found = next((lookup[a] for a in aliases if a in lookup), None)
        if found is None:
            raise AnnotationError(
                f"{path}: no {canonical!r} column (accepted names: {list(aliases)}); found "
                f"{list(table.columns)}"
            )
        renames[found] = canonical
    table = table.rename(columns=renames)
    rows = []
    for record in table.to_dict("records"):
        (onset, apex, offset), quirks = _frames_with_quirks(
            record["onset"], record["apex"], record["offset"], zero_offset_unknown=False
        )
        previous = [t for t in _text(record.get("quirks", "")).split(";") if t]
        record.update(
            video=_text(record["video"]),
            subject=_text(record["subject"]),
            onset=onset,
            apex=apex,
            offset=offset,
            type=normalise_type(record["type"]),
            action_units=_text(record["action_units"]),
            quirks=";".join(dict.fromkeys(previous + quirks)),
        )
        rows.append(record)
    frame = _finish(rows, path, fmt)
    ordered = [*COLUMNS, *[c for c in frame.columns if c not in COLUMNS]]
    frame = frame[ordered]
    frame.attrs.update(source=str(path), format=fmt)
    return frame


_TEXT_COLUMNS = {
    *_CSV_ALIASES["video"],
    *_CSV_ALIASES["subject"],
    *_CSV_ALIASES["action_units"],
    "source_video",
    "reference",
    "expression",
    "quirks",
    "notes",
    "inducement_code",
}


def _text_dtypes(columns) -> dict:
    """Read ids such as subject "006" as text, not as the number 6."""
    return {c: str for c in columns if str(c).strip().lower() in _TEXT_COLUMNS}


def read_csv(path: str | Path) -> pd.DataFrame:
    """A plain CSV with the :data:`COLUMNS` (common aliases accepted)."""
    path = Path(path)
    try:
        header = pd.read_csv(path, nrows=0).columns
        table = pd.read_csv(path, dtype=_text_dtypes(header))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise AnnotationError(
            f"{path} is not a readable annotation CSV ({str(error).strip()}); expected a header "
            f"row with the columns {list(_CSV_ALIASES)} and one event per line, comma-separated"
        ) from error
    return _from_table(table, path, "csv")


def _xlsx_kind(path: Path) -> str:
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        sheet_names = [s.lower().replace(" ", "") for s in workbook.sheetnames]
        if any("rule2" in s for s in sheet_names) or "cas(me)" in path.name.lower():
            return "casme2_xlsx"
        first = workbook[workbook.sheetnames[0]]
        for row in first.iter_rows(max_row=30, values_only=True):
            cells = {_text(v).lower() for v in row}
            if {"subject", "filename", "onset"} <= cells:
                return "samm_xlsx"
            if {"video", "onset", "offset"} <= cells:
                return "table_xlsx"
    finally:
        workbook.close()
    raise AnnotationError(
        f"{path}: not a SAMM-LV spreadsheet, a CAS(ME)^2 code sheet or an annotation table; "
        "pass fmt=samm_xlsx|casme2_xlsx|csv explicitly"
    )


def read_annotations(path: str | Path, fmt: str = "auto") -> pd.DataFrame:
    """Read annotations (``samm_xlsx``, ``casme2_xlsx`` or ``csv``; ``auto`` guesses)."""
    path = Path(path)
    check_choice("annotation format", fmt, FORMATS)
    if not path.is_file():
        raise FileNotFoundError(f"annotation file {path} not found")
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        return _read_annotations(path, fmt)
    except (zipfile.BadZipFile, InvalidFileException) as error:
        # An xlsx is a zip of XML parts; anything else under that name cannot be an xlsx.
        raise AnnotationError(
            f"{path} is not a readable xlsx workbook ({type(error).__name__}: {error}); pass "
            "the dataset's spreadsheet as it was downloaded, or a CSV with the columns "
            f"{list(_CSV_ALIASES)} (annotations_format=csv)"
        ) from error


def _read_annotations(path: Path, fmt: str) -> pd.DataFrame:
    if fmt == "auto":
        if path.suffix.lower() in (".xlsx", ".xlsm", ".xls"):
            fmt = _xlsx_kind(path)
        else:
            fmt = "csv"
    if fmt == "samm_xlsx":
        return read_samm_xlsx(path)
    if fmt == "casme2_xlsx":
        return read_casme2_xlsx(path)
    if fmt == "table_xlsx":
        header = pd.read_excel(path, nrows=0).columns
        table = pd.read_excel(path, dtype=_text_dtypes(header))
        return _from_table(table, path, "table_xlsx")
    return read_csv(path)


def write_annotations(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write annotations as CSV, or as an xlsx table when ``path`` ends in ``.xlsx``."""
    path = Path(path)
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"annotations to write to {path} lack the columns {missing}")
    ordered = frame[[*COLUMNS, *[c for c in frame.columns if c not in COLUMNS]]]
    if path.suffix.lower() == ".xlsx":
        write_atomically(path, lambda tmp: ordered.to_excel(tmp, index=False, engine="openpyxl"))
    else:
        write_atomically(path, lambda tmp: ordered.to_csv(tmp, index=False))
    return path


# ----------------------------------------------------------------------------- checks, re-keying


def check_against_sources(frame: pd.DataFrame, sources: Iterable) -> pd.DataFrame:
    """Tag rows whose frames fall outside their video (``offset_past_end`` ...) or whose video
    is absent (``video_not_found``); returns a copy with updated ``quirks``."""
    ranges = {s.video_id: (min(s.frame_numbers), max(s.frame_numbers)) for s in sources}
    frame = frame.copy()
    updated = []
    for record in frame.to_dict("records"):
        tags = [t for t in str(record.get("quirks", "")).split(";") if t]
        span = ranges.get(str(record["video"]))
        if span is None:
            _add_quirk(tags, "video_not_found")
        else:
            first, last = span
            if record["offset"] > last:
                _add_quirk(tags, "offset_past_end")
            if 0 <= record["onset"] < first:
                _add_quirk(tags, "onset_before_start")
            if record["apex"] > last:
                _add_quirk(tags, "apex_past_end")
        updated.append(";".join(tags))
    frame["quirks"] = updated
    report_quirks(frame, frame.attrs.get("source", "annotations"))
    return frame


def rekey_annotations(
    frame: pd.DataFrame, videos: pd.DataFrame | Iterable[Mapping]
) -> pd.DataFrame:
    """Carry annotations over to synthetic videos.

    ``videos`` has one entry per synthetic video with ``source_video``, ``video`` (the new id),
    ``reference`` and ``domain``. Each annotation row of a source video is repeated for every
    synthetic video made from it, with the same frame numbers; rows of videos that were not
    synthesised are left out (logged).
    """
    mapping = videos if isinstance(videos, pd.DataFrame) else pd.DataFrame(list(videos))
    needed = ["source_video", "video", "reference", "domain"]
    missing = [c for c in needed if c not in mapping.columns]
    if missing:
        raise ValueError(f"the video mapping lacks the columns {missing} (needs {needed})")
    mapping = mapping[needed].astype({"source_video": str, "video": str})
    source = frame.rename(columns={"video": "source_video"})
    source["source_video"] = source["source_video"].astype(str)
    merged = source.merge(mapping, on="source_video", how="inner")
    dropped = sorted(set(source["source_video"]) - set(mapping["source_video"]))
    if dropped:
        log.info(
            "%d annotated video(s) were not synthesised, their rows are left out: %s%s",
            len(dropped),
            ", ".join(dropped[:5]),
            " ..." if len(dropped) > 5 else "",
        )
    leading = [*COLUMNS, "source_video", "reference", "domain"]
    merged = merged[[*leading, *[c for c in merged.columns if c not in leading]]]
    merged.attrs = dict(frame.attrs)
    return merged.reset_index(drop=True)
