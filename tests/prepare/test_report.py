"""What a preparation made: prepared.csv round trip, report.md counts, contact sheets."""

from __future__ import annotations

import numpy as np

from mesynth.media import read_image
from mesynth.prepare.analyse import Record, write_png
from mesynth.prepare.report import (
    CSV_COLUMNS,
    Row,
    contact_sheet,
    read_csv,
    render_report,
    write_csv,
)


def rows() -> list[Row]:
    return [
        Row(Record("a/1.jpg", "a", width=10, height=8), "p1", "train", "train/a/1.png"),
        Row(Record("a/2.jpg", "a"), "p2", "val", "val/a/2.png"),
        Row(Record("b/1.jpg", "b"), None, "train", "train/b/1.png"),
        Row(Record("b/2.jpg", "b", reason="blurred", detail="sharpness 3.0 < 40"), None),
    ]


def test_every_photo_is_a_row_of_prepared_csv(tmp_path):
    write_csv(tmp_path / "prepared.csv", rows())
    table = read_csv(tmp_path / "prepared.csv")
    assert list(table[0]) == list(CSV_COLUMNS)
    assert [row["status"] for row in table] == ["kept", "kept", "kept", "left_out"]
    assert table[0]["width"] == "10" and table[0]["centre_x"] == ""
    assert table[3]["reason"] == "blurred" and table[3]["split"] == ""
    assert table[2]["identity"] == ""


def test_the_report_counts_domains_splits_and_reasons():
    text = render_report("photos/", {"size": 128}, rows(), {"a": "contact_sheets/a.png"}, ["n1"])
    assert "Source: `photos/`; 4 photos, 3 kept, 1 left out." in text
    assert "| a | 1 | 1 | 2 |" in text and "| b | 1 | 0 | 1 |" in text
    assert "| blurred | 1 |" in text
    assert "- n1" in text and "![a](contact_sheets/a.png)" in text


def test_a_contact_sheet_is_a_grid_with_grey_for_unreadable_files(tmp_path):
    face = tmp_path / "face.png"
    write_png(face, np.zeros((20, 10, 3), np.uint8))
    sheet = contact_sheet(tmp_path / "sheet.png", [(face, ""), (tmp_path / "gone.png", "")], 3, 16)
    image = read_image(sheet)
    assert image.shape == (16, 48, 3)
    assert image[8, 8].tolist() == [0, 0, 0]  # the face, letterboxed
    assert image[8, 0].tolist() == [255, 255, 255]  # its white border
    assert image[8, 24].tolist() == [128, 128, 128]  # the unreadable file
    assert image[8, 40].tolist() == [255, 255, 255]  # the blank tile that fills the row
    assert contact_sheet(tmp_path / "none.png", [], 3, 16) is None
