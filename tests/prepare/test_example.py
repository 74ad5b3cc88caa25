"""The example photos: posed copies of the astronaut, with and without drawn glasses."""

from __future__ import annotations

import numpy as np

from mesynth.media import builtin_image, read_image
from mesynth.prepare.example import (
    Pose,
    background,
    make_pipeline_photos,
    posed_photo,
    with_glasses,
)


def test_glasses_change_only_the_eye_region():
    photo = builtin_image("astronaut")
    changed = np.argwhere((with_glasses(photo) != photo).any(axis=2))
    assert len(changed) > 100
    (top, left), (bottom, right) = changed.min(axis=0), changed.max(axis=0)
    assert 80 <= top and bottom <= 130 and 160 <= left and right <= 290


def test_a_pose_moves_mirrors_and_relights_the_photo():
    rng = np.random.default_rng(0)
    canvas = background(64, rng)
    photo = np.zeros((512, 512, 3), np.uint8)
    assert np.array_equal(posed_photo(photo, Pose(scale=0.01), canvas)[:5, :5], canvas[:5, :5])
    bright = np.full((512, 512, 3), 200, np.uint8)
    dim = posed_photo(bright, Pose(gain=0.5), canvas)
    assert int(dim[32, 32, 0]) == 100
    mirrored = posed_photo(bright, Pose(scale=0.05, shift=(20, 0), mirror=True), canvas)
    assert int(mirrored[32, 12, 0]) == 200 and int(mirrored[32, 52, 0]) != 200


def test_pipeline_photos_are_written_per_domain(tmp_path):
    make_pipeline_photos(tmp_path, per_domain=2, size=96)
    names = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.jpg"))
    assert names == [
        "glasses/glasses_000.jpg",
        "glasses/glasses_001.jpg",
        "no_glasses/no_glasses_000.jpg",
        "no_glasses/no_glasses_001.jpg",
    ]
    assert read_image(tmp_path / names[0]).shape == (96, 96, 3)
