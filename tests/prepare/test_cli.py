"""prepare-data from the command line: a refused run writes nothing; bad input is one block."""

from __future__ import annotations

from pathlib import Path

from tests.prepare.conftest import _error_of, tree_state


def test_a_refused_run_writes_nothing(photo_tree, prepared, tmp_path, capsys):
    state = tree_state(prepared)
    error = _error_of([str(photo_tree), str(prepared), "--size", "64", "--val", "0.25"], capsys)
    assert (
        f"OUT {prepared} holds a preparation with other settings (size: 128 there, 64 now)" in error
    )
    assert tree_state(prepared) == state
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    error = _error_of([str(photo_tree), str(foreign)], capsys)
    assert "is not empty and is not a prepare-data output" in error
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]


def test_bad_input_is_one_block_naming_the_file_and_the_fix(photo_tree, tmp_path, capsys):
    out = str(tmp_path / "out")
    missing = tmp_path / "nowhere"
    assert f"SOURCE {missing} does not exist" in _error_of([str(missing), out], capsys)
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "sub" / "notes.txt").write_text("no photos")
    error = _error_of([str(empty), out], capsys)
    assert f"SOURCE {empty} holds no images" in error and "put the photos there" in error
    domains = tmp_path / "domains.csv"
    domains.write_text("file,domain\npeople/original.jpg,a\npeople/gone.jpg,b\n")
    error = _error_of([str(photo_tree), out, "--domains", str(domains)], capsys)
    assert (
        f"CSV {domains} names 1 file(s) that do not exist" in error and "people/gone.jpg" in error
    )
    error = _error_of([str(photo_tree), out, "--attribute", "Eyeglasses"], capsys)
    assert "needs a raw CelebA folder" in error
    assert not Path(out).exists()
