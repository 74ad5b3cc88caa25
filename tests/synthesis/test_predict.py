"""Sharding, batching, tensor conversion and the writer thread of the predict side."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from mesynth.faces.crop import Crop
from mesynth.synthesis.networks import images_to_tensor
from mesynth.synthesis.output import Manifest, SynthesisOutput, VideoRecord
from mesynth.synthesis.plan import VideoPlan
from mesynth.synthesis.predict import (
    SynthesisWriter,
    all_pieces,
    batches_of,
    cut_videos,
    merge_segments,
    shard_pieces,
    source_jobs,
    tensor_to_images,
)


@pytest.mark.parametrize("world", [1, 2, 3, 8])
def test_shards_cover_every_frame_exactly_once(world: int) -> None:
    counts = [5, 1, 0, 12, 7]
    seen = {}
    for rank, pieces in enumerate(all_pieces(counts, world)):
        flat = [(p.job, i) for p in pieces for i in range(p.start, p.stop)]
        # Contiguous: a rank's frames are one run of the videos concatenated in order.
        offsets = np.cumsum([0, *counts])
        positions = [offsets[job] + i for job, i in flat]
        assert positions == list(range(positions[0], positions[0] + len(positions))) or not flat
        for frame in flat:
            assert frame not in seen, f"frame {frame} on ranks {seen[frame]} and {rank}"
            seen[frame] = rank
        for piece in pieces:
            assert piece.whole == (piece.start == 0 and piece.stop == counts[piece.job])
    assert sorted(seen) == [(job, i) for job, n in enumerate(counts) for i in range(n)]
    sizes = [sum(p.stop - p.start for p in pieces) for pieces in all_pieces(counts, world)]
    assert max(sizes) - min(sizes) <= 1


def test_two_ranks_cut_one_video() -> None:
    assert [(p.job, p.start, p.stop, p.whole) for p in shard_pieces([5, 2], 0, 2)] == [
        (0, 0, 3, False)
    ]
    assert [(p.job, p.start, p.stop, p.whole) for p in shard_pieces([5, 2], 1, 2)] == [
        (0, 3, 5, False),
        (1, 0, 2, True),
    ]


def test_batches_stay_inside_one_video() -> None:
    pieces = shard_pieces([5, 3], 0, 1)
    assert batches_of(pieces, 2) == [(0, 0, 2), (0, 2, 4), (0, 4, 5), (1, 0, 2), (1, 2, 3)]


def test_tensor_conversions_round_trip() -> None:
    images = torch.randint(0, 256, (2, 8, 8, 3), dtype=torch.uint8)
    x = images_to_tensor(images)
    assert x.shape == (2, 3, 8, 8) and x.is_contiguous(memory_format=torch.channels_last)
    assert x.min() >= -1 and x.max() <= 1
    assert float(x[0, 0, 0, 0]) == pytest.approx(int(images[0, 0, 0, 0]) / 127.5 - 1)
    assert torch.equal(tensor_to_images(x), images)
    # Out-of-range generator output saturates instead of wrapping around.
    saturated = tensor_to_images(torch.tensor([-3.0, 3.0]).view(1, 1, 1, 2).expand(1, 3, 1, 2))
    assert saturated[0, 0].tolist() == [[0, 0, 0], [255, 255, 255]]


def make_video(name: str, count: int, source=None) -> VideoPlan:
    source = source or SimpleNamespace(video_id=name)
    names = [f"{source.video_id}_{i:04d}" for i in range(count)]
    record = VideoRecord(name, name, "src", "ref.png", 0, "fixed", count, count)
    video = VideoPlan(name, source, None, names, list(range(count)), 30.0, record)
    video.crop = Crop.full_frame((8, 8), 8)
    return video


def fake_trainer(videos, rank: int, world: int):
    jobs = source_jobs(videos)
    counts = [job.num_frames for job in jobs]
    return SimpleNamespace(
        datamodule=SimpleNamespace(jobs=jobs, pieces=shard_pieces(counts, rank, world)),
        global_rank=rank,
        world_size=world,
        is_global_zero=rank == 0,
        strategy=SimpleNamespace(barrier=lambda name=None: None),
    )


def frames_for(job: int, start: int, stop: int, identities: int = 1) -> np.ndarray:
    """(identities, N, 8, 8, 3): value frame + 10 * job + 100 * identity."""
    values = np.arange(start, stop, dtype=np.uint8)[:, None, None, None] + 10 * job
    frames = np.broadcast_to(values, (stop - start, 8, 8, 3))
    return np.stack([frames + 100 * identity for identity in range(identities)]).astype(np.uint8)


PNG = {"png": {"compression": 1}}


def test_writer_thread_and_segment_merge(tmp_path: Path) -> None:
    """Two ranks simulated in turn: each frame reaches the final output once, in order."""
    output = SynthesisOutput(tmp_path)
    videos = [make_video("a", 5), make_video("b", 2)]
    for rank in (0, 1):
        writer = SynthesisWriter(output, PNG, queue_size=1, progress=False)
        trainer = fake_trainer(videos, rank, 2)
        writer.on_predict_start(trainer, None)
        for job, start, stop in batches_of(trainer.datamodule.pieces, 2):
            prediction = {"job": job, "start": start, "frames": frames_for(job, start, stop)}
            writer.write_on_batch_end(trainer, None, prediction, None, None, 0)
        writer.on_predict_end(trainer, None)
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["b_0000.png", "b_0001.png"]
    assert output.segment_path("a", 0, 3).is_file() and output.segment_path("a", 3, 5).is_file()
    assert not (tmp_path / "a").exists()
    # Each rank left its frame count for rank zero's overall bar.
    assert [output.progress_path(r).read_text() for r in (0, 1)] == ["3", "4"]

    assert cut_videos([5, 2], 2) == {0: [(0, 3), (3, 5)]}
    merge_segments(output, PNG, videos[0], [(0, 3), (3, 5)])
    assert sorted(p.stem for p in (tmp_path / "a").iterdir()) == videos[0].frame_names
    from .conftest import read_png

    assert [int(read_png(tmp_path / "a" / f"a_{i:04d}.png")[0, 0, 0]) for i in range(5)] == [
        0,
        1,
        2,
        3,
        4,
    ]
    output.remove_progress()
    assert not (tmp_path / ".segments").exists()


def test_writer_reports_out_of_order_frames(tmp_path: Path) -> None:
    videos = [make_video("a", 4)]
    writer = SynthesisWriter(SynthesisOutput(tmp_path), PNG, queue_size=8, progress=False)
    trainer = fake_trainer(videos, 0, 1)
    writer.on_predict_start(trainer, None)
    writer.write_on_batch_end(
        trainer, None, {"job": 0, "start": 2, "frames": frames_for(0, 2, 4)}, None, None, 0
    )
    with pytest.raises(RuntimeError, match="out of order"):
        writer.on_predict_end(trainer, None)
    writer.on_exception(trainer, None, RuntimeError())
    assert not (tmp_path / "a").exists() and not (tmp_path / "a.partial").exists()


def test_video_files_carry_their_source_frame_numbers(tmp_path: Path) -> None:
    """With skipped source frames, frame i of the .mkv is matched to the source numbering by
    the sidecar list and by the container's metadata."""
    from mesynth.video.writers import source_frame_numbers

    output = SynthesisOutput(tmp_path)
    video = make_video("a", 4)
    video.frame_numbers = [1, 2, 4, 7]  # frames 3, 5 and 6 were skipped in the source
    writer = SynthesisWriter(output, {"ffv1": {}}, queue_size=2, progress=False)
    trainer = fake_trainer([video], 0, 1)
    writer.on_predict_start(trainer, None)
    writer.write_on_batch_end(
        trainer, None, {"job": 0, "start": 0, "frames": frames_for(0, 0, 4)}, None, None, 0
    )
    writer.on_predict_end(trainer, None)
    assert output.read_frame_map("a") == [1, 2, 4, 7]
    assert source_frame_numbers(output.video_path("a", "ffv1")) == [1, 2, 4, 7]
    assert output.is_complete("a", ["ffv1"], video.frame_names)
    source = output.open_video("a")
    assert source.frame_numbers == [1, 2, 4, 7] and len(source) == 4
    # Without its frame map the video is not complete (it would be made again).
    output.frame_map_path("a").unlink()
    assert not output.is_complete("a", ["ffv1"], video.frame_names)


def test_manifest_round_trip_and_status_check(tmp_path: Path) -> None:
    output = SynthesisOutput(tmp_path)
    record = VideoRecord("v", "006", "src", "ref.png", 1, "fixed", 3, 5, ["x_0004"])
    output.write_manifest(Manifest({"a": 1}, {"sha256": "aaa"}, False, None, {"v": record}))
    output.update_records({"v": {"status": "done", "frames_written": 3}}, num_threads=2)
    manifest = output.read_manifest()
    assert manifest.done() == ["v"] and manifest.num_threads == 2
    assert manifest.videos["v"].skipped_source_frames == ["x_0004"]
    with pytest.raises(ValueError, match="status='finished' is not one of"):
        output.update_records({"v": {"status": "finished"}})
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a readable synthesis manifest"):
        output.read_manifest()


def test_frame_ranges_round_trip() -> None:
    from mesynth.video.writers import frame_ranges, parse_frame_ranges

    numbers = [1, 2, 3, 5, 7, 8, 100]
    assert frame_ranges(numbers) == "1-3,5,7-8,100"
    assert parse_frame_ranges(frame_ranges(numbers)) == numbers
    assert frame_ranges([]) == "" and parse_frame_ranges("") == []


def test_every_writer_kind_has_an_output_name() -> None:
    from mesynth.synthesis.output import KIND_SUFFIXES
    from mesynth.video.writers import WRITER_KINDS

    assert set(KIND_SUFFIXES) == set(WRITER_KINDS)


def test_identities_of_one_source_are_one_job_each_with_its_own_video(tmp_path: Path) -> None:
    """Two identities of source `s` (5 frames) and one of `t`, over two ranks: `s` is cut
    between them, and each identity's frames reach its own video (segments joined per video)."""
    output = SynthesisOutput(tmp_path)
    s, t = SimpleNamespace(video_id="s"), SimpleNamespace(video_id="t")
    videos = [make_video("s_0", 5, s), make_video("s_1", 5, s), make_video("t_0", 2, t)]
    jobs = source_jobs(videos)
    assert [[v.name for v in job.videos] for job in jobs] == [["s_0", "s_1"], ["t_0"]]
    assert [job.num_frames for job in jobs] == [5, 2]
    for rank in (0, 1):
        writer = SynthesisWriter(output, PNG, queue_size=1, progress=False)
        trainer = fake_trainer(videos, rank, 2)
        writer.on_predict_start(trainer, None)
        for job, start, stop in batches_of(trainer.datamodule.pieces, 2):
            frames = frames_for(job, start, stop, len(jobs[job].videos))
            prediction = {"job": job, "start": start, "frames": frames}
            writer.write_on_batch_end(trainer, None, prediction, None, None, 0)
        writer.on_predict_end(trainer, None)
    # Progress counts frames made: 3 of s for two identities, then 2 of s twice and 2 of t.
    assert [output.progress_path(r).read_text() for r in (0, 1)] == ["6", "6"]
    for name in ("s_0", "s_1"):
        merge_segments(output, PNG, videos[int(name[-1])], cut_videos([5, 2], 2)[0])
    from .conftest import read_png

    for identity, name in enumerate(("s_0", "s_1")):
        values = [int(read_png(tmp_path / name / f"s_{i:04d}.png")[0, 0, 0]) for i in range(5)]
        assert values == [100 * identity + i for i in range(5)]
    assert int(read_png(tmp_path / "t_0" / "t_0001.png")[0, 0, 0]) == 11


def test_identities_of_one_source_must_share_its_frames() -> None:
    s = SimpleNamespace(video_id="s")
    with pytest.raises(ValueError, match="different frames"):
        source_jobs([make_video("s_0", 5, s), make_video("s_1", 4, s)])
