"""`mesynth prepare-data` on photos made from scikit-image's astronaut: what is kept and why the
rest is left out, alignment shared with synthesis, splits, resume, refusals and bad input."""

from __future__ import annotations

import hashlib
from pathlib import Path

import hydra
import numpy as np
import pytest

from mesynth.__main__ import main
from mesynth.faces.align import estimate_crop
from mesynth.faces.landmarks import LandmarkDetector
from mesynth.media import read_image
from mesynth.prepare import run as prepare_run
from mesynth.prepare.report import read_csv
from mesynth.prepare.run import PrepareSettings, prepare
from mesynth.training.data import DataError
from mesynth.training.finetune import resolve_domain_sources
from mesynth.video.layouts import open_sources
from tests.prepare.conftest import EXPECTED, KEPT
from tests.training.conftest import compose_train

SIZE = 128


def settings(source: Path, out: Path, **changes) -> PrepareSettings:
    values = dict(source=source, out=out, size=SIZE, workers=1, progress=False)
    values.update(changes)
    return PrepareSettings(**values)


def tree_state(root: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``root`` with its content hash and modification time."""
    return {
        path.relative_to(root).as_posix(): (
            hashlib.sha256(path.read_bytes()).hexdigest(),
            path.stat().st_mtime_ns,
        )
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="session")
def prepared(photo_tree, tmp_path_factory) -> Path:
    """The photo tree prepared once, by two worker processes."""
    out = tmp_path_factory.mktemp("prepared") / "out"
    before = tree_state(photo_tree)
    prepare(settings(photo_tree, out, workers=2, val=0.25))
    assert tree_state(photo_tree) == before, "the source was modified"
    return out


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


def _error_of(arguments: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        main(["prepare-data", *arguments, "--no-progress"])
    assert exit_.value.code == 2
    error = capsys.readouterr().err
    assert error.count("mesynth: error:") == 1 and "Traceback" not in error
    return error


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


def test_domains_and_identities_from_csv(photo_tree, tmp_path):
    domains = tmp_path / "domains.csv"
    people = [key for key in EXPECTED if key.startswith("people/")]
    domains.write_text(
        "file,domain\n" + "".join(f"{k},{'a' if i % 2 else 'b'}\n" for i, k in enumerate(people))
    )
    identities = tmp_path / "identities.csv"
    identities.write_text(
        "file,identity\n" + "".join(f"{k},p{i // 2}\n" for i, k in enumerate(people))
    )
    out = tmp_path / "out"
    prepare(settings(photo_tree, out, domains_csv=domains, identities_csv=identities, val=0.5))
    rows = read_csv(out / "prepared.csv")
    assert [row["file"] for row in rows] == sorted(people)
    sides: dict[str, set[str]] = {}
    for row in rows:
        sides.setdefault(row["identity"], set()).add(row["split"])
        assert row["output"].startswith(f"{row['split']}/{row['domain']}/people/")
    assert all(len(splits) == 1 for splits in sides.values()), sides
    assert {"train", "val"} == set().union(*sides.values())


def test_a_raw_celeba_folder_by_attribute_split_by_identity(celeba_folder, tmp_path):
    out = tmp_path / "out"
    status = main(
        [
            "prepare-data",
            str(celeba_folder),
            str(out),
            "--attribute",
            "Eyeglasses",
            "--val",
            "0.3",
            "--size",
            "64",
            "--workers",
            "1",
            "--no-progress",
        ]
    )
    assert status == 0
    rows = read_csv(out / "prepared.csv")
    assert len(rows) == 8 and all(row["status"] == "kept" for row in rows)
    domains = {row["file"]: row["domain"] for row in rows}
    assert (
        domains["img_celeba/000001.jpg"] == "glasses"
        and domains["img_celeba/000002.jpg"] == "no_glasses"
    )
    assert sorted(p.name for p in (out / "train").iterdir()) == ["glasses", "no_glasses"]
    sides: dict[str, set[str]] = {}
    for row in rows:
        sides.setdefault(row["identity"], set()).add(row["split"])
    assert all(len(splits) == 1 for splits in sides.values()) and len(sides) == 4
    partitioned = tmp_path / "partitioned"
    main(
        [
            "prepare-data",
            str(celeba_folder),
            str(partitioned),
            "--attribute",
            "Eyeglasses",
            "--celeba-partition",
            "--size",
            "64",
            "--workers",
            "1",
            "--no-progress",
        ]
    )
    splits = {row["file"][-10:]: row["split"] for row in read_csv(partitioned / "prepared.csv")}
    assert (
        splits["000004.jpg"] == "val"
        and splits["000006.jpg"] == "test"
        and splits["000001.jpg"] == "train"
    )
    assert (partitioned / "test" / "no_glasses" / "000006.png").is_file()


def test_an_unknown_celeba_attribute_names_the_list_and_the_choices(
    celeba_folder, tmp_path, capsys
):
    error = _error_of([str(celeba_folder), str(tmp_path / "out"), "--attribute", "Glasses"], capsys)
    assert (
        "list_attr_celeba.txt has no attribute Glasses" in error
        and "Eyeglasses, Male, Smiling" in error
    )
    assert not (tmp_path / "out").exists()


def test_several_celeba_attributes_give_the_domains_finetune_glasses_continues(
    glasses_prepared, tmp_path
):
    out = glasses_prepared
    rows = {row["file"][-10:]: row for row in read_csv(out / "prepared.csv")}
    assert [rows[f"00000{i}.jpg"]["domain"] for i in range(1, 5)] == [
        "female_glasses",
        "female",
        "male_glasses",
        "male",
    ]
    # On disk the folders sort female, female_glasses, male, male_glasses.
    assert sorted(p.name for p in (out / "train").iterdir())[1] == "female_glasses"
    # The README's command: the experiment as written, given only where the data is.
    cfg = compose_train(
        ["experiment=finetune_glasses", "data=folder", f"data.root={out / 'train'}"]
        + [f"data.val_root={out / 'val'}", f"paths.output_dir={tmp_path}"]
    )
    datamodule = hydra.utils.instantiate(cfg.data, img_size=64)
    # Label order female, male, then the new two, as the official model and gender_matched.
    assert datamodule.domains == ["female", "male", "female_glasses", "male_glasses"]
    assert datamodule.index("train").counts() == [1, 1, 1, 1]
    assert datamodule.val_images().counts() == [1, 1, 1, 1]
    # No person is on both sides.
    people = {
        split: {r["identity"] for r in rows.values() if r["split"] == split}
        for split in ("train", "val")
    }
    assert len(people["train"]) == len(people["val"]) == 2 and not people["train"] & people["val"]
    finetune = cfg.finetune
    sources = resolve_domain_sources(
        datamodule.domains,
        finetune.checkpoint_domains,
        2,
        finetune.domain_map,
        finetune.new_domains,
    )
    assert sources == [0, 1, 0, 1]  # glasses domains start from the female and male heads


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
