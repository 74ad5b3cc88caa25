"""Atomic writes: a file under its final name is complete; a failed write leaves nothing."""

from __future__ import annotations

import pytest

from mesynth.atomic import partial_path, write_atomically


def test_partial_path_adds_the_suffix_to_the_name(tmp_path):
    assert partial_path(tmp_path / "run" / "video.mp4") == tmp_path / "run" / "video.mp4.partial"


def test_the_file_appears_complete_under_its_final_name(tmp_path):
    target = tmp_path / "new" / "table.csv"
    seen = []

    def write(partial):
        seen.append((partial.name, target.exists()))
        partial.write_text("a,b\n1,2\n")

    assert write_atomically(target, write) == target
    assert seen == [(".table.csv.partial", False)]
    assert target.read_text() == "a,b\n1,2\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["table.csv"]


def test_a_failed_write_leaves_neither_the_file_nor_the_partial(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("old\n")

    def write(partial):
        partial.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, write)
    assert target.read_text() == "old\n"  # the earlier complete file stays
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.csv"]
