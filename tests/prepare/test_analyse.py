"""One photo in, one record out: the reason a photo is left out, the staged face of a kept one."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mesynth.faces.landmarks import LandmarkDetector
from mesynth.prepare.analyse import Checks, Record, analyse, staged_path
from mesynth.prepare.example import write_photo
from mesynth.prepare.sources import SourceImage
from tests.prepare.conftest import BASE, photo_of

CHECKS = Checks(size=64, min_face=40.0, min_sharpness=1.0, one_face_only=False)


def source(path, key="people/face.jpg") -> SourceImage:
    return SourceImage(key=key, path=path, domain="people", name="face")


def test_a_kept_photo_is_measured_and_its_face_staged(tmp_path):
    path = write_photo(tmp_path / "face.jpg", photo_of(BASE))
    record = analyse(source(path), CHECKS, LandmarkDetector(), tmp_path / "staged")
    assert record.reason is None and record.faces == 1
    assert (record.width, record.height) == (256, 256)
    assert record.half_side > 20 and record.sharpness >= 1.0 and len(record.hash) == 16
    assert staged_path(tmp_path / "staged", "people/face.jpg").is_file()
    assert Record.from_dict(record.to_dict()) == record


def test_a_photo_is_left_out_for_its_reason_and_nothing_is_staged(tmp_path):
    detector = LandmarkDetector()
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8not a jpeg")
    unreadable = analyse(source(broken), CHECKS, detector, tmp_path / "staged")
    assert unreadable.reason == "unreadable" and "broken.jpg" in unreadable.detail
    blank = write_photo(tmp_path / "blank.jpg", np.full((128, 128, 3), 120, np.uint8))
    assert analyse(source(blank), CHECKS, detector, tmp_path / "staged").reason == "no_face"
    big_face = Checks(size=64, min_face=1000.0, min_sharpness=1.0, one_face_only=False)
    photo = write_photo(tmp_path / "face.jpg", photo_of(BASE))
    small = analyse(source(photo), big_face, detector, tmp_path / "staged")
    assert small.reason == "too_small" and small.detail.endswith("< 1000")
    assert not (tmp_path / "staged").exists()


def test_staged_names_are_flat():
    assert staged_path(Path("staged"), "a/b/c.jpg") == Path("staged") / "a__b__c.jpg.png"
