"""The crop of one video: matrices per mode, the frame size check, the json round trip."""

from __future__ import annotations

import numpy as np
import pytest

from mesynth.faces.crop import Crop


def test_full_frame_scales_the_whole_frame():
    crop = Crop.full_frame((40, 80), 20)
    frame = np.zeros((40, 80, 3), np.uint8)
    frame[:, 40:] = 200  # right half bright
    out = crop.apply(frame)
    assert out.shape == (20, 20, 3)
    assert out[:, :9].max() == 0 and out[:, 11:].min() == 200
    np.testing.assert_allclose(crop.matrix_for(7), [[0.25, 0, 0], [0, 0.5, 0]])


def test_a_tracked_crop_has_one_matrix_per_frame():
    shift = [[[1.0, 0, -float(index)], [0, 1.0, 0]] for index in range(3)]
    crop = Crop("tracked", 4, (4, 8), matrices=shift)
    frame = np.tile(np.arange(8, dtype=np.uint8) * 10, (4, 1))[..., None].repeat(3, axis=2)
    assert crop.apply(frame, 2)[0, :, 0].tolist() == [20, 30, 40, 50]
    with pytest.raises(IndexError, match="tracked crop has 3 frames, asked for frame 3"):
        crop.matrix_for(3)
    with pytest.raises(ValueError, match="one matrix per frame"):
        Crop("tracked", 4, (4, 8))


def test_a_frame_of_another_size_is_refused():
    with pytest.raises(ValueError, match="frame 5 is 30x20 but this crop was made for 80x40"):
        Crop.full_frame((40, 80), 20).apply(np.zeros((20, 30, 3), np.uint8), 5)


def test_save_and_load_give_the_same_crop(tmp_path):
    crop = Crop("fixed", 64, (120, 160), matrix=[[0.5, 0, -3.0], [0, 0.5, 1.5]], meta={"n": 4})
    crop.save(tmp_path / "crops" / "v1.json")
    assert Crop.load(tmp_path / "crops" / "v1.json") == crop
    with pytest.raises(FileNotFoundError, match="point evaluation at the synthesis output_dir"):
        Crop.load(tmp_path / "crops" / "v2.json")
    (tmp_path / "bad.json").write_text('{"mode": "fixed"}')
    with pytest.raises(ValueError, match="is not a valid mesynth crop"):
        Crop.load(tmp_path / "bad.json")
