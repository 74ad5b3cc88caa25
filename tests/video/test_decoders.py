"""Frame-folder and video-file sources: gaps, bad frames, sizes, seeking and pickling."""

from __future__ import annotations

import multiprocessing
import pickle
from pathlib import Path

import numpy as np
import pytest

from mesynth.video.decoders import FrameError, VideoFileSource
from mesynth.video.layouts import detect_layout, open_sources
from mesynth.video.writers import open_writer

from .conftest import gradient_frame, write_frames


def test_missing_frame_is_an_error_naming_it_or_skipped_and_recorded(samm_root: Path):
    (samm_root / "006_1" / "006_1_0004.jpg").unlink()
    with pytest.raises(FrameError, match="006_1_0004.jpg") as caught:
        open_sources(samm_root)
    assert "on_bad_frame=skip" in str(caught.value)
    sources = open_sources(samm_root, on_bad_frame="skip")
    source = sources[0]
    assert len(source) == 5
    assert source.frame_numbers == [1, 2, 3, 5, 6]
    assert [Path(p).name for p in source.skipped] == ["006_1_0004.jpg"]
    assert sources[1].skipped == []


def test_corrupt_frames_raise_naming_the_file_or_are_skipped(samm_root: Path):
    truncated = samm_root / "006_1" / "006_1_0002.jpg"
    truncated.write_bytes(truncated.read_bytes()[:100])  # cv2 alone would decode it half grey
    garbage = samm_root / "006_1" / "006_1_0005.jpg"
    garbage.write_bytes(b"\xff\xd8" + b"\x00" * 64 + b"\xff\xd9")  # right markers, no image
    (source, _) = open_sources(samm_root)
    assert len(source) == 6
    with pytest.raises(FrameError, match="006_1_0002.jpg.*truncated"):
        source.read_frame(1)
    with pytest.raises(FrameError, match="006_1_0005.jpg"):
        source.read_frame(4)

    quick = open_sources(samm_root, on_bad_frame="skip")[0]  # quick check: markers
    assert [Path(p).name for p in quick.skipped] == ["006_1_0002.jpg"]
    full = open_sources(samm_root, on_bad_frame="skip", verify="full")[0]
    assert [Path(p).name for p in full.skipped] == ["006_1_0002.jpg", "006_1_0005.jpg"]
    assert full.frame_numbers == [1, 3, 4, 6]
    assert [i for i, _ in full.iter_frames()] == [0, 1, 2, 3]


def test_a_frame_of_another_size_is_an_error(tmp_path: Path):
    folder = tmp_path / "clip"
    write_frames(folder, ["f1", "f2"], suffix=".png")
    write_frames(folder, ["f3"], suffix=".png", size=(20, 32))
    (source,) = open_sources(folder)
    with pytest.raises(FrameError, match="f3.png is 32x20 .* 32x24"):
        source.read_frame(2)


@pytest.fixture
def video_file(tmp_path: Path) -> tuple[Path, np.ndarray]:
    frames = np.stack([gradient_frame(i, (16, 24), grey=False) for i in range(12)])
    with open_writer(
        "ffv1", tmp_path / "videos" / "clip.mkv", [str(i) for i in range(12)], 25.0, (16, 24)
    ) as writer:
        writer.write(frames)
    return writer.final_path, frames


def _read_in_child(source, index, queue):
    queue.put(source.read_frame(index))


def test_video_file_random_access_iteration_and_pickling(video_file):
    path, frames = video_file
    assert detect_layout(path) == "video" and detect_layout(path.parent) == "video"
    (source,) = open_sources(path)
    assert isinstance(source, VideoFileSource)
    assert source.video_id == "clip" and len(source) == 12 and source.fps == 25.0
    assert source.frame_size == (16, 24) and source.frame_names[0] == "clip_00000"
    for index in (7, 8, 2, 11, 0):  # forward, sequential, backward seeks
        np.testing.assert_array_equal(source.read_frame(index), frames[index])
    assert [i for i, _ in source.iter_frames(3, 6)] == [3, 4, 5]
    np.testing.assert_array_equal(np.stack([f for _, f in source.iter_frames()]), frames)

    # The decoder is opened lazily per process: a pickled copy and a forked child both work.
    clone = pickle.loads(pickle.dumps(source))
    np.testing.assert_array_equal(clone.read_frame(5), frames[5])
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_read_in_child, args=(source, 9, queue))
    child.start()
    np.testing.assert_array_equal(queue.get(timeout=30), frames[9])
    child.join(timeout=30)
    assert child.exitcode == 0
