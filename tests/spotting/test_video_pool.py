"""Per-video results computed once and cached: file names, cache hits and misses by key, order,
unreadable cache files, and worker processes that hand results back through the files."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import pytest

from mesynth.caching import digest
from mesynth.spotting.video_pool import cache_path, compute_cached


@dataclass(frozen=True)
class Job:
    name: str
    value: int
    frames: int = 3


class Squares:
    """The square of each job's value, saved as JSON with its key; counts what it computed."""

    def __init__(self) -> None:
        self.computed: list[str] = []

    def key(self, job: Job) -> dict:
        return {"value": job.value}

    def frames(self, job: Job) -> int:
        return job.frames

    def compute(self, job: Job, on_frames) -> int:
        self.computed.append(job.name)
        on_frames(job.frames)
        return job.value**2

    def save(self, result: int, path: Path, key) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"key": key, "result": result}))

    def load(self, path: Path, key) -> int | None:
        stored = json.loads(path.read_text())
        return stored["result"] if key is None or stored["key"] == key else None


def test_cache_files_are_named_after_the_video_and_the_key(tmp_path):
    path = cache_path(tmp_path, "006/1 a", {"k": 3, "fps": 50})
    assert path == tmp_path / f"006_1_a-{digest({'fps': 50, 'k': 3})}.npz"
    assert cache_path(tmp_path, "", {}, ".json").name == f"video-{digest({})}.json"
    assert cache_path(tmp_path, "v", {"k": 4}) != cache_path(tmp_path, "v", {"k": 3})


def test_results_come_in_job_order_and_only_changed_keys_compute_again(tmp_path):
    jobs = [Job("b", 3), Job("a", 2), Job("c", 5)]
    kind = Squares()
    assert compute_cached(jobs, kind, tmp_path, progress=False) == [9, 4, 25]
    assert kind.computed == ["b", "a", "c"]
    assert len(list(tmp_path.glob("*.npz"))) == 3

    again = Squares()
    changed = [Job("b", 3), Job("a", 7), Job("c", 5)]
    assert compute_cached(changed, again, tmp_path, progress=False) == [9, 49, 25]
    assert again.computed == ["a"]

    uncached = Squares()
    assert compute_cached(jobs, uncached, None, progress=False) == [9, 4, 25]
    assert uncached.computed == ["b", "a", "c"]


def test_repeated_names_are_refused_and_an_unreadable_cache_file_computes_again(tmp_path, caplog):
    with pytest.raises(ValueError, match=r"distinct names; repeated: \['a'\]"):
        compute_cached([Job("a", 1), Job("a", 2), Job("b", 3)], Squares(), progress=False)
    kind = Squares()
    path = cache_path(tmp_path, "a", kind.key(Job("a", 4)))
    path.write_text("not json")
    with caplog.at_level(logging.WARNING):
        assert compute_cached([Job("a", 4)], kind, tmp_path, progress=False) == [16]
    assert kind.computed == ["a"]
    assert "is unreadable" in caplog.text and "computing it again" in caplog.text
    assert json.loads(path.read_text())["result"] == 16


def test_worker_processes_hand_their_results_back_through_the_cache(tmp_path):
    jobs = [Job(f"v{i}", i) for i in range(4)]
    kind = Squares()
    assert compute_cached(jobs, kind, tmp_path, workers=2, progress=False) == [0, 1, 4, 9]
    assert kind.computed == []  # computed in the workers, not here
    assert len(list(tmp_path.glob("v*-*.npz"))) == 4
