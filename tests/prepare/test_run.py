"""prepare() on photos made from scikit-image's astronaut: what is kept and why the rest is left
out, alignment shared with synthesis, resume after a kill, and the folder fine-tuning reads."""

from __future__ import annotations

from pathlib import Path

import hydra
import numpy as np
import pytest

from mesynth.faces.align import estimate_crop
from mesynth.faces.landmarks import LandmarkDetector
from mesynth.media import read_image
from mesynth.prepare import run as prepare_run
from mesynth.prepare.report import read_csv
from mesynth.prepare.run import prepare
from mesynth.training.data import DataError
from mesynth.video.layouts import open_sources
from tests.prepare.conftest import EXPECTED, KEPT, SIZE, settings, tree_state
from tests.training.conftest import compose_train


@pytest.fixture(scope="session")
def detector() -> LandmarkDetector:
    return LandmarkDetector()


def rows_by_file(out: Path) -> dict[str, dict[str, str]]:
    return {row["file"]: row for row in read_csv(out / "prepared.csv")}


def test_every_photo_is_kept_or_left_out_for_the_right_reason(prepared):
    rows = rows_by_file(prepared)
    assert set(rows) == set(EXPECTED)
    assert {key: row["reason"] or None for key, row in rows.items()} == EXPECTED
    assert rows["shots/copy_of_original.jpg"]["detail"] == "near-duplicate of people/original.jpg"
    assert rows["people/two_faces.jpg"]["faces"] == "2"
    assert rows["people/upright_by_exif.jpg"]["width"] == "256"  # turned upright
    for key, row in rows.items():
        if row["status"] == "kept":
            assert row["domain"] == key.split("/")[0] and row["split"] in ("train", "val")
            face = read_image(prepared / row["output"])
            assert face.shape == (SIZE, SIZE, 3)
            assert float(row["half_side"]) > 0 and float(row["sharpness"]) >= 50
        else:
            assert not row["output"] and not row["split"]
    placed = sorted(p.relative_to(prepared).as_posix() for p in prepared.glob("*/*/*.png"))
    assert placed == sorted(r["output"] for r in rows.values() if r["output"])
    assert not list(prepared.glob(".prepare/staged/*.png"))  # staged faces all placed or dropped
    report = (prepared / "report.md").read_text()
    assert "| people | 6 | 2 | 8 |" in report
    for reason in ("blurred", "duplicate", "no_face", "too_small", "unreadable"):
        assert f"| {reason} | 1 |" in report
    for sheet in ("kept_people.png", "left_out.png"):
        assert read_image(prepared / "contact_sheets" / sheet).shape[1] == 8 * 96
        assert f"contact_sheets/{sheet}" in report


def test_the_largest_of_several_faces_is_kept_unless_one_face_only(photo_tree, tmp_path):
    single = tmp_path / "single"
    (single / "x").mkdir(parents=True)
    (single / "x" / "two.jpg").write_bytes((photo_tree / "people/two_faces.jpg").read_bytes())
    prepare(settings(single, tmp_path / "out", one_face_only=True, val=0))
    (row,) = read_csv(tmp_path / "out" / "prepared.csv")
    assert row["reason"] == "several_faces" and row["faces"] == "2"


def _stable_points(detector, face: np.ndarray) -> np.ndarray:
    points = detector.detect(face)
    assert points is not None
    return points[[36, 39, 42, 45, 30, 48, 54]]  # eye corners, nose tip, mouth corners


def test_transformed_copies_of_one_photo_give_the_same_crop(prepared, detector):
    rows = rows_by_file(prepared)
    reference = _stable_points(
        detector, read_image(prepared / rows["people/original.jpg"]["output"])
    )
    for key in [*KEPT, "people/upright_by_exif.jpg", "people/two_faces.jpg"]:
        points = _stable_points(detector, read_image(prepared / rows[key]["output"]))
        if key == "people/flipped.jpg":
            # A mirrored face: its image-left eye is the other eye; compare mirrored back.
            points = points[[3, 2, 1, 0, 4, 6, 5]] * [-1, 1] + [SIZE, 0]
        error = np.abs(points - reference).max()
        assert error <= 4.0, (key, error)  # px at 128 px


def test_a_face_prepared_for_training_is_the_crop_synthesis_takes(prepared, photo_tree, tmp_path):
    rows = rows_by_file(prepared)
    video = tmp_path / "video"
    video.mkdir()
    (video / "frame_0001.jpg").write_bytes((photo_tree / "people/rotated.jpg").read_bytes())
    (source,) = open_sources(video)
    crop = estimate_crop(source, "fixed", SIZE, progress=False)
    synthesis_face = crop.apply(source.read_frame(0))
    training_face = read_image(prepared / rows["people/rotated.jpg"]["output"])
    np.testing.assert_array_equal(training_face, synthesis_face)
    params = crop.meta["params"]
    assert float(rows["people/rotated.jpg"]["half_side"]) == pytest.approx(
        params["half_side"], abs=1e-3
    )


def test_resume_after_a_kill_analyses_only_what_was_not_recorded(photo_tree, tmp_path, monkeypatch):
    out = tmp_path / "out"
    calls = []
    real = prepare_run.analyse

    def killed_after_five(image, *args):
        if len(calls) == 5:
            raise KeyboardInterrupt
        calls.append(image.key)
        return real(image, *args)

    monkeypatch.setattr(prepare_run, "analyse", killed_after_five)
    with pytest.raises(KeyboardInterrupt):
        prepare(settings(photo_tree, out))
    assert not (out / "prepared.csv").exists() and not list(out.glob("train/*/*.png"))
    records = out / ".prepare" / "records.jsonl"
    assert len(records.read_text().splitlines()) == 5
    # A kill while a record and a staged face were being written.
    with records.open("a") as handle:
        handle.write('{"key": "shots/land')
    (out / ".prepare" / "staged" / ".shots__x.png.partial").write_bytes(b"\x89PNG half")

    calls.clear()
    monkeypatch.setattr(
        prepare_run, "analyse", lambda image, *args: calls.append(image.key) or real(image, *args)
    )
    prepare(settings(photo_tree, out))
    assert len(calls) == len(EXPECTED) - 5 and len(set(calls)) == len(calls)
    fresh = tmp_path / "fresh"
    prepare(settings(photo_tree, fresh))
    assert read_csv(out / "prepared.csv") == read_csv(fresh / "prepared.csv")
    faces = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.glob("*/*/*.png")}
    assert faces == {
        p.relative_to(fresh).as_posix(): p.read_bytes() for p in fresh.glob("*/*/*.png")
    }
    # Once complete, a re-run analyses nothing and changes nothing.
    calls.clear()
    state = tree_state(out)
    prepare(settings(photo_tree, out))
    assert calls == [] and tree_state(out).keys() == state.keys()


def test_finetune_glasses_on_a_folder_without_its_domains_says_how_to_make_them(prepared, tmp_path):
    cfg = compose_train(
        ["experiment=finetune_glasses", "data=folder", f"data.root={prepared / 'train'}"]
        + [f"paths.output_dir={tmp_path}"]
    )
    datamodule = hydra.utils.instantiate(cfg.data, img_size=64)
    with pytest.raises(DataError) as caught:
        _ = datamodule.domains
    message = str(caught.value)
    assert str(prepared / "train") in message and "found ['people']" in message
    assert "domain(s) ['female', 'male', 'female_glasses', 'male_glasses']" in message
    assert "mesynth prepare-data data/celeba OUT --attribute Male,Eyeglasses" in message
