"""The synthesis output folder: which videos are finished, the manifest and frame maps."""

from __future__ import annotations

import numpy as np
import pytest

from mesynth.synthesis.output import Manifest, OutputError, SynthesisOutput, VideoRecord


def record(status: str = "done", frames: int = 2) -> VideoRecord:
    return VideoRecord(
        source_video="006_1", participant="006", source="/data/006_1", reference="ref.png",
        domain=0, strategy="fixed", frames=frames, source_frames=frames, status=status,
    )  # fmt: skip


def png_frames(output: SynthesisOutput, name: str, count: int = 2) -> None:
    folder = output.video_path(name, "png")
    folder.mkdir(parents=True)
    for index in range(count):
        (folder / f"{index:03d}.png").write_bytes(b"png")


def test_finished_means_done_in_the_manifest_with_its_frames_on_disk(tmp_path):
    output = SynthesisOutput(tmp_path)
    videos = {name: record() for name in ("done_a", "done_without_frames")}
    videos |= {"partial_b": record("partial"), "failed_c": record("failed")}
    output.write_manifest(Manifest(videos=videos))
    for name in ("done_a", "partial_b", "failed_c", "not_listed"):
        png_frames(output, name)
    finished, unfinished = output.finished_videos()
    assert finished == ["done_a"]
    # Listed but not done, or done but its frames are gone; an unlisted folder is neither.
    assert unfinished == ["done_without_frames", "failed_c", "partial_b"]


def test_without_a_manifest_every_readable_video_is_finished(tmp_path):
    output = SynthesisOutput(tmp_path)
    png_frames(output, "a")
    (tmp_path / "b.mkv").write_bytes(b"mkv")
    (tmp_path / "c.mkv.partial").write_bytes(b"half")
    (tmp_path / "empty").mkdir()
    assert output.finished_videos() == (["a", "b"], [])
    assert not output.is_synthesis_output()  # neither a manifest nor crops/


def test_manifest_round_trip_and_record_updates(tmp_path):
    output = SynthesisOutput(tmp_path)
    assert output.read_manifest() is None and not output.untrained()
    output.write_manifest(Manifest(untrained=True, videos={"v": record("partial")}))
    output.update_records({"v": {"status": "done", "frames_written": 2}}, num_threads=3)
    manifest = output.read_manifest()
    assert manifest.untrained and manifest.num_threads == 3 and manifest.done() == ["v"]
    assert manifest.videos["v"].frames_written == 2 and output.untrained()
    assert output.is_synthesis_output()
    with pytest.raises(ValueError, match="status='finished' is not one of"):
        output.update_records({"v": {"status": "finished"}})
    output.manifest_path.write_text("[1, 2]")
    with pytest.raises(OutputError, match="a JSON object expected"):
        output.read_manifest()


def test_frame_map_round_trip_and_which_kinds_need_one(tmp_path):
    output = SynthesisOutput(tmp_path)
    assert SynthesisOutput.needs_frame_map("ffv1") and SynthesisOutput.needs_frame_map(
        ["png", "mp4"]
    )
    assert not SynthesisOutput.needs_frame_map(["png"])
    with pytest.raises(OutputError, match="is missing"):
        output.read_frame_map("v")
    numbers = list(np.array([3, 4, 7]))
    output.write_frame_map("v", numbers, ["f3", "f4", "f7"])
    assert output.read_frame_map("v") == [3, 4, 7]
    assert output.video_path("v", "ffv1") == tmp_path / "v.mkv"
    with pytest.raises(ValueError, match="writer kind='gif' is not one of"):
        output.video_path("v", "gif")
