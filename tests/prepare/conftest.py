"""Raw photos made from scikit-image's astronaut: posed copies that must be kept (and agree),
and photos each filter must leave out; a tiny fake CelebA folder."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from mesynth.__main__ import main
from mesynth.media import builtin_image
from mesynth.prepare.example import Pose, background, posed_photo, with_glasses, write_photo
from mesynth.prepare.run import PrepareSettings, prepare

CANVAS = 256
BASE = Pose(scale=0.75)
# Copies of one photo that differ in pose; every one must be kept and aligned alike.
KEPT = {
    "people/original.jpg": BASE,
    "people/rotated.jpg": Pose(angle=11, scale=0.75),
    "people/scaled.jpg": Pose(scale=0.95, shift=(5, 10)),
    "people/shifted.jpg": Pose(scale=0.75, shift=(-28, 18)),
    "people/flipped.jpg": Pose(scale=0.8, mirror=True),
    "people/relit.jpg": Pose(angle=-7, scale=0.7, gain=0.8),
}
EXPECTED = {
    "people/original.jpg": None,
    "people/rotated.jpg": None,
    "people/scaled.jpg": None,
    "people/shifted.jpg": None,
    "people/flipped.jpg": None,
    "people/relit.jpg": None,
    "people/upright_by_exif.jpg": None,
    "people/two_faces.jpg": None,
    "shots/blurred.jpg": "blurred",
    "shots/copy_of_original.jpg": "duplicate",
    "shots/landscape.png": "no_face",
    "shots/tiny_face.jpg": "too_small",
    "shots/truncated.jpg": "unreadable",
}


def photo_of(pose: Pose, seed: int = 0, glasses: bool = False) -> np.ndarray:
    face = builtin_image("astronaut")
    if glasses:
        face = with_glasses(face)
    return posed_photo(face, pose, background(CANVAS, np.random.default_rng(seed)))


def two_faces() -> np.ndarray:
    """A large and a small astronaut side by side."""
    canvas = background(CANVAS * 2, np.random.default_rng(7))[:CANVAS]
    left = posed_photo(builtin_image("astronaut"), Pose(scale=0.9), canvas[:, :CANVAS])
    small = posed_photo(builtin_image("astronaut"), Pose(scale=0.7), canvas[:, CANVAS:])
    return np.ascontiguousarray(np.hstack([left, small]))


def write_exif_rotated(path: Path, image: np.ndarray) -> None:
    """``image`` stored turned a quarter; its EXIF orientation (6) says how to turn it back."""
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(image, k=1)))
    exif = stored.getexif()
    exif[0x0112] = 6
    stored.save(path, quality=95, exif=exif)


def make_photo_tree(root: Path) -> Path:
    for index, (key, pose) in enumerate(KEPT.items()):
        write_photo(root / key, photo_of(pose, seed=index), quality=95)
    write_exif_rotated(root / "people/upright_by_exif.jpg", photo_of(Pose(scale=0.8), seed=11))
    write_photo(root / "people/two_faces.jpg", two_faces(), quality=95)
    shots = root / "shots"
    blurred = cv2.GaussianBlur(photo_of(Pose(scale=0.8), seed=12), (0, 0), 2.5)
    write_photo(shots / "blurred.jpg", blurred)
    original = cv2.imread(str(root / "people/original.jpg"))
    cv2.imwrite(str(shots / "copy_of_original.jpg"), original, [cv2.IMWRITE_JPEG_QUALITY, 70])
    cv2.imwrite(str(shots / "landscape.png"), background(CANVAS, np.random.default_rng(3)))
    write_photo(shots / "tiny_face.jpg", photo_of(Pose(scale=0.42), seed=13))
    whole = (root / "people/relit.jpg").read_bytes()
    (shots / "truncated.jpg").write_bytes(whole[: len(whole) // 2])
    return root


@pytest.fixture(scope="session")
def photo_tree(tmp_path_factory) -> Path:
    return make_photo_tree(tmp_path_factory.mktemp("photos") / "source")


CELEBA_ATTRIBUTES = ["Eyeglasses", "Male", "Smiling"]
# name -> (eyeglasses, identity, partition)
CELEBA_PHOTOS = {
    "000001.jpg": (1, "7", "0"),
    "000002.jpg": (-1, "7", "0"),
    "000003.jpg": (1, "8", "0"),
    "000004.jpg": (-1, "8", "1"),
    "000005.jpg": (1, "9", "1"),
    "000006.jpg": (-1, "9", "2"),
    "000007.jpg": (1, "10", "0"),
    "000008.jpg": (-1, "10", "0"),
}


def make_celeba(root: Path) -> Path:
    """img_celeba/ and the release's five lists, for a few posed astronauts."""
    from mesynth.faces.landmarks import EYE_LEFT, EYE_RIGHT, LandmarkDetector

    detector = LandmarkDetector()
    attr = [str(len(CELEBA_PHOTOS)), " ".join(CELEBA_ATTRIBUTES)]
    marks = [
        str(len(CELEBA_PHOTOS)),
        "lefteye_x lefteye_y righteye_x righteye_y nose_x nose_y "
        "leftmouth_x leftmouth_y rightmouth_x rightmouth_y",
    ]
    boxes = [str(len(CELEBA_PHOTOS)), "image_id x_1 y_1 width height"]
    identities, partition = [], []
    for index, (name, (glasses, person, part)) in enumerate(CELEBA_PHOTOS.items()):
        pose = Pose(
            angle=4.0 * index - 12, scale=0.72 + 0.03 * index, shift=(index * 3, -index * 2)
        )
        image = photo_of(pose, seed=20 + index, glasses=glasses == 1)
        write_photo(root / "img_celeba" / name, image, quality=95)
        points = detector.detect(image)
        eyes = np.concatenate([points[EYE_LEFT].mean(0), points[EYE_RIGHT].mean(0)])
        mouth = np.concatenate([points[48], points[54]])
        five = [*eyes, *points[30], *mouth]
        male = 1 if person in ("8", "10") else -1
        attr.append(f"{name} {glasses:2d} {male:2d} {1 if index % 2 else -1:2d}")
        marks.append(name + " " + " ".join(str(int(round(v))) for v in five))
        boxes.append(f"{name} 60 40 120 150")
        identities.append(f"{name} {person}")
        partition.append(f"{name} {part}")
    for file, lines in (
        ("list_attr_celeba.txt", attr),
        ("list_landmarks_celeba.txt", marks),
        ("list_bbox_celeba.txt", boxes),
        ("identity_CelebA.txt", identities),
        ("list_eval_partition.txt", partition),
    ):
        (root / file).write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="session")
def celeba_folder(tmp_path_factory) -> Path:
    return make_celeba(tmp_path_factory.mktemp("celeba") / "CelebA")


@pytest.fixture(scope="session")
def glasses_prepared(celeba_folder, tmp_path_factory) -> Path:
    """The fake CelebA folder prepared for experiment=finetune_glasses, as the README says:
    ``mesynth prepare-data CELEBA OUT --attribute Male,Eyeglasses``. Half the people go to val,
    so both splits hold all four domains."""
    from mesynth.__main__ import main

    out = tmp_path_factory.mktemp("glasses") / "out"
    arguments = [str(celeba_folder), str(out), "--attribute", "Male,Eyeglasses", "--val", "0.5"]
    assert (
        main(["prepare-data", *arguments, "--size", "64", "--workers", "1", "--no-progress"]) == 0
    )
    return out


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


def _error_of(arguments: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        main(["prepare-data", *arguments, "--no-progress"])
    assert exit_.value.code == 2
    error = capsys.readouterr().err
    assert error.count("mesynth: error:") == 1 and "Traceback" not in error
    return error
