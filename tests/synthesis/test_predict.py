"""Sharding, batching, tensor conversion and the writer thread of the predict side."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from mesynth.faces.crop import Crop
from mesynth.synthesis.manifest import Manifest
from mesynth.synthesis.predict import (
    SynthesisWriter,
    VideoJob,
    all_pieces,
    batches_of,
    images_to_tensor,
    merge_segments,
    segment_path,
    shard_pieces,
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


def make_job(name: str, count: int) -> VideoJob:
    source = SimpleNamespace(video_id=name)
    crop = Crop.full_frame((8, 8), 8)
    return VideoJob(name, source, crop, [f"{name}_{i:04d}" for i in range(count)], 30.0)


def fake_trainer(jobs, rank: int, world: int):
    return SimpleNamespace(
        datamodule=SimpleNamespace(jobs=jobs),
        global_rank=rank,
        world_size=world,
        is_global_zero=rank == 0,
        strategy=SimpleNamespace(barrier=lambda name=None: None),
    )


def frames_for(job: int, start: int, stop: int) -> np.ndarray:
    values = np.arange(start, stop, dtype=np.uint8)[:, None, None, None] + 10 * job
    return np.broadcast_to(values, (stop - start, 8, 8, 3)).copy()


def test_writer_thread_and_segment_merge(tmp_path: Path) -> None:
    """Two ranks simulated in turn: each frame reaches the final output once, in order."""
    jobs = [make_job("a", 5), make_job("b", 2)]
    done = []
    for rank in (0, 1):
        writer = SynthesisWriter(tmp_path, ["png"], img_size=8, queue_size=1, progress=False)
        writer.on_video_done = lambda job, path: done.append((job, path.name))
        trainer = fake_trainer(jobs, rank, 2)
        writer.on_predict_start(trainer, None)
        for job, start, stop in batches_of(shard_pieces([5, 2], rank, 2), 2):
            prediction = {"job": job, "start": start, "frames": frames_for(job, start, stop)}
            writer.write_on_batch_end(trainer, None, prediction, None, None, 0)
        writer.on_predict_end(trainer, None)
    # Video b was whole on rank 1 (not zero): no early manifest update from there.
    assert done == []
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["b_0000.png", "b_0001.png"]
    assert (
        segment_path(tmp_path, "a", 0, 3).is_file() and segment_path(tmp_path, "a", 3, 5).is_file()
    )
    assert not (tmp_path / "a").exists()

    merge_segments(jobs[0], [(0, 3), (3, 5)], ["png"], tmp_path, 8)
    assert sorted(p.stem for p in (tmp_path / "a").iterdir()) == jobs[0].frame_names
    from .conftest import read_png

    assert [int(read_png(tmp_path / "a" / f"a_{i:04d}.png")[0, 0, 0]) for i in range(5)] == [
        0,
        1,
        2,
        3,
        4,
    ]
    assert not (tmp_path / ".segments").exists()


def test_writer_reports_out_of_order_frames(tmp_path: Path) -> None:
    jobs = [make_job("a", 4)]
    writer = SynthesisWriter(tmp_path, ["png"], img_size=8, progress=False)
    trainer = fake_trainer(jobs, 0, 1)
    writer.on_predict_start(trainer, None)
    writer.write_on_batch_end(
        trainer, None, {"job": 0, "start": 2, "frames": frames_for(0, 2, 4)}, None, None, 0
    )
    with pytest.raises(RuntimeError, match="out of order"):
        writer.on_predict_end(trainer, None)
    writer.on_exception(trainer, None, RuntimeError())
    assert not (tmp_path / "a").exists() and not (tmp_path / "a.partial").exists()


def test_manifest_refuses_other_networks(tmp_path: Path) -> None:
    manifest = Manifest(tmp_path)
    manifest.start_run({}, {"path": "a.ckpt", "sha256": "aaa"}, untrained=False)
    manifest.update_video("v", status="done")
    manifest.start_run({}, {"path": "a.ckpt", "sha256": "aaa"}, untrained=False)
    with pytest.raises(ValueError, match="made with checkpoint a.ckpt"):
        manifest.start_run({}, {"path": "b.ckpt", "sha256": "bbb"}, untrained=False)
    with pytest.raises(ValueError, match="status 'finished'"):
        manifest.update_video("v", status="finished")
