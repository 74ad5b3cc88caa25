"""Reading OpenFace CSVs: header quirks and the clear errors for bad files."""

from __future__ import annotations

import numpy as np
import pytest

from mesynth.evaluation.au.base import AUInputs
from mesynth.evaluation.au.openface_csv import OpenFaceCSVBackend, read_openface_csv
from mesynth.evaluation.common import EvaluationInputError
from tests.evaluation.helpers import au_table, write_au_csv


def _table(n=20):
    rng = np.random.default_rng(0)
    return au_table({"AU01": rng.random(n), "AU12": rng.random(n), "AU45": rng.random(n)})


def test_leading_space_headers_are_read(tmp_path):
    table = _table()
    path = write_au_csv(tmp_path / "v.csv", table, leading_space=True)
    assert path.read_text().startswith("frame, face_id, timestamp, confidence, success, AU01_r")
    read = read_openface_csv(path)
    assert "AU12_r" in read.columns and "success" in read.columns
    np.testing.assert_allclose(read["AU12_r"], table["AU12_r"], atol=1e-5)


def test_truncated_csv_is_a_clear_error(tmp_path):
    path = write_au_csv(tmp_path / "006_1.csv", _table())
    text = path.read_text()
    path.write_text(text[: len(text) - 30])  # cut inside the last row, as an interrupted write
    with pytest.raises(EvaluationInputError, match=r"006_1\.csv.*truncated"):
        read_openface_csv(path)


def test_missing_columns_are_named(tmp_path):
    path = write_au_csv(tmp_path / "v.csv", _table().drop(columns=["success"]))
    with pytest.raises(EvaluationInputError, match=r"v\.csv lacks the column\(s\) \['success'\]"):
        read_openface_csv(path)
    path = write_au_csv(tmp_path / "w.csv", _table())
    with pytest.raises(EvaluationInputError, match=r"AU04_r"):
        read_openface_csv(path, aus=["AU04"])


def test_a_file_without_au_columns_or_rows_is_an_error(tmp_path):
    path = write_au_csv(tmp_path / "v.csv", _table()[["frame", "face_id", "confidence", "success"]])
    with pytest.raises(EvaluationInputError, match="no AU intensity columns"):
        read_openface_csv(path)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(EvaluationInputError, match=r"empty\.csv is empty"):
        read_openface_csv(empty)


def test_several_faces_are_refused(tmp_path):
    table = _table()
    table.loc[5, "face_id"] = 1
    path = write_au_csv(tmp_path / "v.csv", table)
    with pytest.raises(EvaluationInputError, match="several faces"):
        read_openface_csv(path)


def test_a_video_on_one_side_only_is_named(tmp_path):
    for side in ("original", "synthetic"):
        write_au_csv(tmp_path / side / "006_1.csv", _table())
    write_au_csv(tmp_path / "original" / "006_2.csv", _table())
    inputs = AUInputs(tmp_path / "original", tmp_path / "synthetic", None)
    with pytest.raises(
        EvaluationInputError, match=r"only in the originals \(e\.g\. .*006_2\.csv\)"
    ):
        OpenFaceCSVBackend().csv_pairs(inputs)
    inputs.videos = ["006_1"]
    pairs = OpenFaceCSVBackend().csv_pairs(inputs)
    assert list(pairs) == ["006_1"]
    assert pairs["006_1"][1] == tmp_path / "synthetic" / "006_1.csv"


def test_requested_aus_missing_from_files_stop_naming_every_file_and_the_fix(tmp_path):
    from mesynth.evaluation.au.openface_csv import check_requested_aus, header_aus

    files = {}
    for video in ("006_1", "006_2", "011_1"):
        files[video] = tuple(
            write_au_csv(tmp_path / side / f"{video}.csv", _table(), leading_space=True)
            for side in ("original", "synthetic")
        )
    files["006_2"] = (
        files["006_2"][0],
        write_au_csv(tmp_path / "synthetic" / "006_2.csv", _table().drop(columns=["AU45_r"])),
    )
    assert header_aus(files["006_1"][0]) == ["AU01", "AU12", "AU45"]
    check_requested_aus(files, ["AU01", "AU12"])  # every file has these
    with pytest.raises(EvaluationInputError) as caught:
        check_requested_aus(files, ["AU12", "AU45"])
    message = str(caught.value)
    assert message.startswith("aus=[AU12,AU45] asks for AU45, missing from 1 CSV(s): ")
    assert f"{files['006_2'][1]} has no AU45_r" in message
    assert "drop AU45 from aus= (aus=[AU12])" in message
    # A file that has none of the requested AUs: the fix lists what every file has.
    with pytest.raises(EvaluationInputError, match=r"choose AUs these files have: AU01, AU12$"):
        check_requested_aus(files, ["AU45"])
