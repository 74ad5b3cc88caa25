from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import Workbook

from mesynth.video.annotations import (
    COLUMNS,
    SAMM_COLUMNS,
    AnnotationError,
    check_against_sources,
    read_annotations,
    rekey_annotations,
    write_annotations,
    write_samm_xlsx,
)
from mesynth.video.layouts import open_sources


def _samm_sheet(path: Path) -> Path:
    """A SAMM-LV style sheet: preamble rows, then the header, then rows with known quirks."""
    workbook = Workbook()
    sheet = workbook.active
    for line in (["SAMM Long Videos"], ["Micro and macro movements"], [], ["Version 3"], []):
        sheet.append(line)
    sheet.append(list(SAMM_COLUMNS))
    sheet.append([6, "006_1_1", 1, 0, -1, 5, 6, "Macro", "R12+4", None])  # zero onset, no apex
    sheet.append([6, "006_1_2", 1, 2, 3, 4, 3, "Micro - 1/2", "4", "brows"])
    sheet.append([11, "011_2_1", 2, 1, 2, 90, 90, "Micro - 1/2", 12, None])  # offset past end
    sheet.append([None] * 10)  # trailing blank line
    workbook.save(path)
    return path


def test_samm_spreadsheet_after_preamble_with_quirks(tmp_path: Path, caplog):
    path = _samm_sheet(tmp_path / "SAMM_LongVideos_V3_Release.xlsx")
    with caplog.at_level(logging.WARNING):
        table = read_annotations(path)
    assert table.attrs["format"] == "samm_xlsx"
    assert list(table.columns[: len(COLUMNS)]) == list(COLUMNS)
    assert table["video"].tolist() == ["006_1", "006_1", "011_2"]
    assert table["subject"].tolist() == ["006", "006", "011"]
    assert table["onset"].tolist() == [0, 2, 1]
    assert table["apex"].tolist() == [-1, 3, 2]
    assert table["offset"].tolist() == [5, 4, 90]
    assert str(table["onset"].dtype) == "int64"
    assert table["type"].tolist() == ["macro", "micro", "micro"]
    assert table["action_units"].tolist() == ["R12+4", "4", "12"]
    assert table["quirks"].tolist() == ["onset_zero;apex_unknown", "", ""]
    assert table.attrs["quirks"] == {"onset_zero": 1, "apex_unknown": 1}
    assert "onset_zero: 1" in caplog.text

    # Offsets past a video's last frame need the frames: checked against the sources.
    root = tmp_path / "frames"
    for video, count in (("006_1", 6), ("011_2", 5)):
        (root / video).mkdir(parents=True)
        for n in range(1, count + 1):
            (root / video / f"{video}_{n:04d}.jpg").write_bytes(b"\xff\xd8\xff\xd9")
    checked = check_against_sources(table, open_sources(root))
    assert checked["quirks"].tolist() == [
        "onset_zero;apex_unknown;onset_before_start",  # these frames start at 1
        "",
        "offset_past_end",
    ]
    assert checked.attrs["quirks"]["offset_past_end"] == 1


def test_samm_sheet_without_the_needed_columns_is_refused(tmp_path: Path):
    workbook = Workbook()
    workbook.active.append(["Subject", "Name", "Start"])
    workbook.save(tmp_path / "bad.xlsx")
    with pytest.raises(AnnotationError, match="bad.xlsx"):
        read_annotations(tmp_path / "bad.xlsx")
    with pytest.raises(AnnotationError, match="Filename"):
        read_annotations(tmp_path / "bad.xlsx", fmt="samm_xlsx")


def test_casme2_code_sheet_with_naming_rules(tmp_path: Path):
    workbook = Workbook()
    codes = workbook.active
    codes.title = "CASFEcode_final"
    codes.append(
        [1, "disgust1_1", 557, 572, 608, "4+10", "negative", "macro-expression", "disgust"]
    )
    codes.append([1, "disgust1_2", 700, 705, 0, "4", "negative", "micro-expression", "disgust"])
    codes.append([2, "anger1_1", 10, 0, 30, "", "negative", "macro-expression", "anger"])
    codes.append([3, "happy9_1", 1, 2, 3, "12", "positive", "micro-expression", "happy"])
    rule1 = workbook.create_sheet("naming rule1")
    rule1.append([15, "s15", 1])
    rule1.append([16, "s16", 2])
    rule2 = workbook.create_sheet("naming rule2")
    rule2.append(["0401", "disgust1"])
    rule2.append(["0101", "anger1"])
    path = tmp_path / "CAS(ME)^2code_final.xlsx"
    workbook.save(path)

    table = read_annotations(path)
    assert table.attrs["format"] == "casme2_xlsx"
    assert table["video"].tolist() == ["s15_0401", "s15_0401", "s16_0101", "p3_happy9"]
    assert table["subject"].tolist() == ["s15", "s15", "s16", "p3"]
    assert table["offset"].tolist() == [608, -1, 30, 3]  # 0 = offset not coded
    assert table["type"].tolist() == ["macro", "micro", "macro", "micro"]
    assert table["quirks"].tolist() == [
        "",
        "offset_unknown",
        "apex_zero",
        "unknown_participant;unknown_video_code",
    ]
    assert table["emotion"].tolist()[0] == "negative"
    assert table["expression"].tolist()[0] == "disgust1_1"


def test_csv_with_aliases_and_clear_errors(tmp_path: Path):
    path = tmp_path / "events.csv"
    pd.DataFrame(
        {
            "video_id": ["a_1"],
            "participant": ["007"],
            "onset_frame": [10],
            "apex_frame": [None],
            "offset_frame": [20],
            "expression_type": ["Micro"],
            "AUs": ["12"],
        }
    ).to_csv(path, index=False)
    table = read_annotations(path)
    assert table.loc[0, "video"] == "a_1" and table.loc[0, "subject"] == "007"
    assert table.loc[0, "apex"] == -1 and table.loc[0, "quirks"] == "apex_missing"
    assert table.loc[0, "type"] == "micro"

    pd.DataFrame({"video": ["a"], "onset": [1]}).to_csv(tmp_path / "thin.csv", index=False)
    with pytest.raises(AnnotationError, match="no 'subject' column"):
        read_annotations(tmp_path / "thin.csv")
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        read_annotations(tmp_path / "missing.csv")


def test_written_annotations_read_back_identically(tmp_path: Path):
    table = read_annotations(_samm_sheet(tmp_path / "SAMM_LongVideos_V1.xlsx"))
    for name in ("out.csv", "out.xlsx"):
        write_annotations(table, tmp_path / name)
        again = read_annotations(tmp_path / name)
        pd.testing.assert_frame_equal(
            again[list(COLUMNS) + ["quirks"]], table[list(COLUMNS) + ["quirks"]]
        )
    write_samm_xlsx(table, tmp_path / "SAMM_LongVideos_Copy.xlsx")
    copy = read_annotations(tmp_path / "SAMM_LongVideos_Copy.xlsx")
    assert copy.attrs["format"] == "samm_xlsx"
    pd.testing.assert_frame_equal(copy[list(COLUMNS)], table[list(COLUMNS)])
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_rekeying_carries_frames_to_every_synthetic_video(tmp_path: Path):
    table = read_annotations(_samm_sheet(tmp_path / "SAMM_LongVideos_V1.xlsx"))
    videos = [
        {"source_video": "006_1", "video": "006_1_r0", "reference": "ref_a.png", "domain": 0},
        {"source_video": "006_1", "video": "006_1_r1", "reference": "ref_b.png", "domain": 1},
        {"source_video": "999_9", "video": "999_9_r0", "reference": "ref_a.png", "domain": 0},
    ]
    carried = rekey_annotations(table, videos)
    assert list(carried.columns[:10]) == [*COLUMNS, "source_video", "reference", "domain"]
    assert sorted(carried["video"]) == ["006_1_r0", "006_1_r0", "006_1_r1", "006_1_r1"]
    assert set(carried["source_video"]) == {"006_1"}  # 011_2 was not synthesised
    r1 = carried[carried["video"] == "006_1_r1"].sort_values("onset")
    assert r1["onset"].tolist() == [0, 2] and r1["offset"].tolist() == [5, 4]
    assert set(r1["reference"]) == {"ref_b.png"} and set(r1["domain"]) == {1}
    with pytest.raises(ValueError, match="reference"):
        rekey_annotations(table, [{"source_video": "006_1", "video": "x", "domain": 0}])
