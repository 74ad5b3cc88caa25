"""The output folder: refusals, the records journal that survives a kill, placing faces."""

from __future__ import annotations

import pytest

from mesynth.prepare.analyse import Record
from mesynth.prepare.sources import PrepareError
from mesynth.prepare.writer import OutputFolder


def test_another_preparation_or_a_foreign_folder_is_refused(tmp_path):
    out = OutputFolder(tmp_path / "out")
    assert out.refusal({"size": 128}) is None
    out.open({"size": 128})
    assert out.refusal({"size": 128}) is None
    assert out.refusal({"size": 64}) == (
        f"OUT {out.root} holds a preparation with other settings (size: 128 there, 64 now); "
        "give another OUT, or delete that folder to prepare it again"
    )
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(PrepareError, match="is not empty and is not a prepare-data output"):
        OutputFolder(foreign).open({"size": 128})
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]


def test_a_record_line_cut_short_by_a_kill_is_redone(tmp_path):
    out = OutputFolder(tmp_path)
    with out.journal() as journal:
        out.append(journal, Record("a.jpg", "people", faces=1))
    with out.records_path.open("a") as handle:
        handle.write('{"key": "b.jpg", "dom')  # killed while writing
    with out.journal() as journal:
        out.append(journal, Record("c.jpg", "people", reason="no_face"))
    records = out.done_records()
    assert sorted(records) == ["a.jpg", "c.jpg"]
    assert records["a.jpg"].faces == 1 and records["c.jpg"].reason == "no_face"


def test_faces_are_placed_once_and_strays_removed(tmp_path):
    out = OutputFolder(tmp_path)
    out.staging.mkdir(parents=True)
    staged = out.staging / "a.png"
    staged.write_bytes(b"png")
    final = out.face_path("train", "people", "a")
    assert out.place(staged, final) and final.read_bytes() == b"png" and not staged.exists()
    assert out.place(staged, final)  # already placed
    assert not out.place(out.staging / "b.png", out.face_path("val", "people", "b"))
    stray = out.face_path("val", "people", "moved")
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"png")
    assert out.remove_strays([final]) == [stray]
    assert final.is_file() and not stray.exists()
