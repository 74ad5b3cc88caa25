"""The one image reader: RGB out, truncated files refused by name, built-in images."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from mesynth.media import (
    MediaError,
    check_image,
    integrity_problem,
    is_image,
    is_video,
    read_image,
    to_rgb,
)


def test_suffixes_decide_images_and_videos_and_hidden_files_are_neither():
    assert is_image(Path("a/frame001.JPG")) and not is_image(Path("a/clip.mp4"))
    assert is_video(Path("clip.MKV")) and not is_video(Path("frame.png"))
    assert not is_image(Path("._frame001.jpg"))  # macOS resource fork


def test_a_written_image_reads_back_as_rgb(tmp_path):
    bgr = np.zeros((4, 6, 3), np.uint8)
    bgr[..., 0] = 255  # blue in OpenCV's order
    cv2.imwrite(str(tmp_path / "blue.png"), bgr)
    rgb = read_image(tmp_path / "blue.png")
    assert rgb.shape == (4, 6, 3) and rgb[0, 0].tolist() == [0, 0, 255]
    grey = to_rgb(np.full((2, 2), 7, np.uint8))
    assert grey.shape == (2, 2, 3) and grey.max() == 7
    with pytest.raises(MediaError, match="expected 8-bit"):
        to_rgb(np.zeros((2, 2), np.uint16), "deep.png")


def test_a_truncated_jpeg_is_an_error_naming_the_file_and_the_fix(tmp_path):
    path = tmp_path / "frame.jpg"
    cv2.imwrite(str(path), np.full((32, 32, 3), 100, np.uint8))
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(MediaError, match=r"frame .*frame\.jpg is unreadable: it is truncated"):
        read_image(path, what="frame", fix="extract the video again")
    with pytest.raises(MediaError, match="extract the video again"):
        check_image(path, what="frame", fix="extract the video again")
    with pytest.raises(MediaError, match="not found"):
        check_image(tmp_path / "missing.png")


def test_integrity_problems_by_format():
    assert integrity_problem(b"", ".jpg") == "the file is empty"
    assert integrity_problem(b"GIF89a..", ".png") == "it does not start with the PNG signature"
    assert integrity_problem(b"\x89PNG\r\n\x1a\n...IEND\xaeB`\x82", ".png") is None


def test_built_in_images_need_no_file():
    astronaut = read_image("skimage:astronaut")
    assert astronaut.shape == (512, 512, 3) and astronaut.dtype == np.uint8
    assert read_image("skimage:camera").shape == (512, 512, 3)  # grey, made RGB
    with pytest.raises(MediaError, match="scikit-image ships no image 'nobody'"):
        check_image("skimage:nobody")
