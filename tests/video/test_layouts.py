"""Dataset layouts: detection, video ids, frame order and numbering, clear errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from mesynth.video.decoders import FrameError
from mesynth.video.layouts import LayoutError, detect_layout, open_sources

from .conftest import gradient_frame, write_frames


def test_samm_lv_layout_is_detected_and_read_as_rgb(samm_root: Path):
    assert detect_layout(samm_root) == "samm_lv"
    sources = open_sources(samm_root)
    assert [s.video_id for s in sources] == ["006_1", "011_2"]
    first, second = sources
    assert first.participant == "006" and second.participant == "011"
    assert first.fps == 200.0 and first.layout == "samm_lv"
    assert first.frame_names == [f"006_1_{n:04d}" for n in range(1, 7)]
    assert first.frame_numbers == [1, 2, 3, 4, 5, 6]
    assert second.frame_numbers == [0, 1, 2, 3, 4] and len(second) == 5
    frame = first.read_frame(2)
    assert frame.shape == (24, 32, 3) and frame.dtype == np.uint8
    stored = cv2.imread(str(samm_root / "006_1" / "006_1_0003.jpg"), cv2.IMREAD_UNCHANGED)
    assert stored.ndim == 2  # the file is greyscale; the source makes it 3-channel
    for channel in range(3):
        np.testing.assert_array_equal(frame[:, :, channel], stored)
    assert first.frame_size == (24, 32)
    # A single video folder of the layout is recognised too.
    assert detect_layout(samm_root / "011_2") == "samm_lv"
    assert open_sources(samm_root / "011_2")[0].video_id == "011_2"


def test_auto_detection_says_which_layout_and_frame_rate_it_chose(samm_root: Path, caplog):
    with caplog.at_level("INFO", logger="mesynth.video.layouts"):
        open_sources(samm_root)
        open_sources(samm_root, layout="folder")
    first, second = (r.getMessage() for r in caplog.records)
    assert "layout samm_lv (detected), 200 fps" in first
    assert "layout folder (as set), frame rate unknown for 2 (set fps= where it matters)" in second


def test_unfinished_partial_folders_are_not_videos(samm_root: Path):
    write_frames(samm_root / "006_2.partial", ["006_2_0001"])
    assert detect_layout(samm_root) == "samm_lv"
    assert [s.video_id for s in open_sources(samm_root)] == ["006_1", "011_2"]


def test_samm_frame_numbers_cross_from_four_to_five_digits(tmp_path: Path):
    root = tmp_path / "samm"
    names = ["020_3_9998", "020_3_9999", "020_3_10000", "020_3_10001"]
    write_frames(root / "020_3", names)
    (source,) = open_sources(root, layout="samm_lv")
    assert source.frame_numbers == [9998, 9999, 10000, 10001]
    assert source.frame_names == names


def test_samm_layout_rejects_a_foreign_file_by_name(samm_root: Path):
    write_frames(samm_root / "006_1", ["snapshot"])
    with pytest.raises(LayoutError, match="snapshot.jpg"):
        open_sources(samm_root, layout="samm_lv")
    # Auto-detection no longer calls the root SAMM-LV; it reads plain frame folders instead.
    assert detect_layout(samm_root) == "folder"


def test_casme2_layout_natural_sort_and_ids(tmp_path: Path):
    rawpic = tmp_path / "CAS(ME)^2" / "rawpic"
    write_frames(rawpic / "s15" / "15_0401disgustingteeth", [f"img{n}" for n in range(1, 13)])
    write_frames(rawpic / "s16" / "16_0101girlcrashing", [f"img{n}" for n in range(1, 4)])
    for path in (rawpic.parent, rawpic, rawpic / "s15"):
        assert detect_layout(path) == "casme2"
    sources = open_sources(rawpic.parent)
    assert [s.video_id for s in sources] == ["s15_0401", "s16_0101"]
    assert sources[0].participant == "s15" and sources[0].fps == 30.0
    # Natural order: img2 comes before img10 (plain string order would not).
    assert sources[0].frame_names[:3] == ["img1", "img2", "img3"]
    assert sources[0].frame_names[-3:] == ["img10", "img11", "img12"]
    assert sources[0].frame_numbers == list(range(1, 13))
    expected = gradient_frame(9)  # img10 was the 10th frame written
    np.testing.assert_allclose(sources[0].read_frame(9)[:, :, 0], expected, atol=6)
    single = open_sources(rawpic / "s16" / "16_0101girlcrashing", layout="casme2")
    assert [s.video_id for s in single] == ["s16_0101"]


def test_folder_layout_keeps_colour_order_and_natural_sort(tmp_path: Path):
    folder = tmp_path / "clip"
    names = [f"frame{n}" for n in range(1, 11)]
    write_frames(folder, names, suffix=".png", grey=False)
    assert detect_layout(folder) == "folder"
    (source,) = open_sources(folder)
    assert source.video_id == "clip" and source.fps is None
    assert source.frame_names == names  # frame10 last, not after frame1
    # PNG is lossless: the RGB frame written 10th comes back exactly, channels in RGB order.
    np.testing.assert_array_equal(source.read_frame(9), gradient_frame(9, grey=False))
    # Names without a common numbering are ordered naturally.
    write_frames(tmp_path / "other", ["b2", "a10", "a9"], suffix=".png")
    (other,) = open_sources(tmp_path / "other")
    assert other.frame_names == ["a9", "a10", "b2"] and other.frame_numbers == [0, 1, 2]
    # Several frame folders under one root are several videos.
    assert detect_layout(tmp_path) == "folder"
    assert [s.video_id for s in open_sources(tmp_path)] == ["clip", "other"]


def test_unusable_paths_have_clear_errors(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        open_sources(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(LayoutError, match="no frames or videos found"):
        open_sources(tmp_path / "empty")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(LayoutError, match="not a video"):
        open_sources(tmp_path / "notes.txt")
    with pytest.raises(ValueError, match="layout='bogus' is not one of"):
        open_sources(tmp_path, layout="bogus")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    with pytest.raises(FrameError, match="broken.mp4"):
        open_sources(broken)
