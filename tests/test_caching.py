"""Cache keys: a stable digest, and a source identity that changes when its frames change."""

from __future__ import annotations

import os
from pathlib import Path

from mesynth.caching import digest, same_key, source_identity


class FrameFolder:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.video_id = "s01"
        self.files = sorted(path.glob("*.jpg"))
        self.frame_numbers = list(range(1, len(self.files) + 1))

    def __len__(self) -> int:
        return len(self.files)


def test_digest_is_short_stable_and_ignores_key_order():
    assert digest({"a": 1, "b": [2, 3]}) == digest({"b": [2, 3], "a": 1})
    assert len(digest({"a": 1})) == 16
    assert digest({"a": 1}) != digest({"a": 2})


def test_same_key_compares_as_json_stores_it():
    assert same_key({"size": [64, 64], "fps": 30}, {"size": (64, 64), "fps": 30})
    assert not same_key({"size": [64, 64]}, {"size": (64, 32)})


def test_rewriting_a_frame_changes_the_identity(tmp_path):
    for index in range(3):
        (tmp_path / f"{index:03d}.jpg").write_bytes(b"frame%d" % index)
    before = source_identity(FrameFolder(tmp_path))
    assert before["frames"] == 3 and before["video_id"] == "s01"
    assert source_identity(FrameFolder(tmp_path)) == before
    frame = tmp_path / "001.jpg"
    frame.write_bytes(b"frame1 again")
    os.utime(frame, ns=(1, 1))
    assert source_identity(FrameFolder(tmp_path))["files"] != before["files"]


def test_a_video_file_is_identified_by_its_size_and_time(tmp_path):
    class VideoFile:
        path = tmp_path / "clip.mp4"
        frame_numbers = [0, 1]

        def __len__(self) -> int:
            return 2

    VideoFile.path.write_bytes(b"12345")
    identity = source_identity(VideoFile())
    assert identity["size"] == 5 and "files" not in identity
    assert identity["type"] == "VideoFile"
