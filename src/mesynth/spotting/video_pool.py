"""Per-video computations (spotting features) in worker processes, with one progress bar and a
cache file per video.

A *kind* says how one video's result is keyed, computed, saved and loaded (see
:class:`VideoComputation`); :func:`compute_cached` reads the cached results whose key still
matches and computes the others, in this process or in ``workers`` spawned processes (one per
core: each is single-threaded), reporting frames as they are done. Keys hold the settings and
the source's identity (:func:`mesynth.caching.source_identity`), so a changed frame, crop or
setting computes again and re-runs or sweeps over spotter settings cost nothing.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any, Protocol

from mesynth.caching import digest

log = logging.getLogger(__name__)


class VideoComputation(Protocol):
    """One kind of per-video result; instances are pickled to the worker processes."""

    def key(self, job: Any) -> dict:
        """What the result depends on (JSON-serialisable)."""

    def frames(self, job: Any) -> int:
        """Frames the progress bar counts for the job."""

    def compute(self, job: Any, on_frames: Callable[[int], None]) -> Any:
        """The result of one job; ``on_frames(n)`` reports ``n`` more frames done."""

    def save(self, result: Any, path: Path, key: Mapping) -> None:
        """Write the result (atomically) with its key."""

    def load(self, path: Path, key: Mapping | None) -> Any | None:
        """The result in ``path`` if its key is ``key`` (None: do not check), else None."""


def cache_path(cache_dir: str | Path, name: str, key: Mapping, suffix: str = ".npz") -> Path:
    """``<cache_dir>/<safe name>-<key digest><suffix>``."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "video"
    return Path(cache_dir) / f"{safe}-{digest(key)}{suffix}"


def compute_cached(
    jobs: Sequence[Any],
    kind: VideoComputation,
    cache_dir: str | Path | None = None,
    workers: int = 1,
    progress: bool = True,
    desc: str = "spotting features",
    suffix: str = ".npz",
) -> list[Any]:
    """The result of every job, in job order (jobs have distinct ``name``)."""
    from tqdm.auto import tqdm

    names = [job.name for job in jobs]
    if len(set(names)) != len(names):
        duplicates = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"feature jobs must have distinct names; repeated: {duplicates}")
    results: list[Any] = [None] * len(jobs)
    keys: list[dict | None] = [None] * len(jobs)
    paths: list[Path | None] = [None] * len(jobs)
    todo = []
    for position, job in enumerate(jobs):
        if cache_dir is not None:
            keys[position] = kind.key(job)
            paths[position] = cache_path(cache_dir, job.name, keys[position], suffix)
            results[position] = _load(kind, paths[position], keys[position])
        if results[position] is None:
            todo.append(position)
    if len(jobs) - len(todo):
        log.info("%s: %d of %d video(s) from the cache", desc, len(jobs) - len(todo), len(jobs))
    if not todo:
        return results
    total = sum(kind.frames(jobs[p]) for p in todo)
    bar = tqdm(total=total, desc=desc, unit="frame", disable=not progress, dynamic_ncols=True)
    workers = max(1, min(int(workers), len(todo)))
    try:
        if workers == 1:
            for position in todo:
                result = kind.compute(jobs[position], bar.update)
                if paths[position] is not None:
                    kind.save(result, paths[position], keys[position])
                results[position] = result
        else:
            _run_pool(jobs, kind, todo, paths, keys, results, workers, bar)
    finally:
        bar.close()
    return results


def _load(kind: VideoComputation, path: Path, key: Mapping) -> Any | None:
    if not path.is_file():
        return None
    try:
        return kind.load(path, key)
    except (OSError, ValueError, KeyError) as error:
        log.warning("cache file %s is unreadable (%s); computing it again", path, error)
        return None


# ----------------------------------------------------------------------------- worker processes

_progress_queue = None


def _init_worker(progress_queue) -> None:
    import cv2

    global _progress_queue
    _progress_queue = progress_queue
    cv2.setNumThreads(1)  # one process per core already


def _report(frames: int) -> None:
    if _progress_queue is not None:
        _progress_queue.put(frames)


def _work(kind: VideoComputation, job: Any, path: str | None, key: dict | None):
    result = kind.compute(job, _report)
    if path is not None:
        kind.save(result, Path(path), key)
        return None  # the parent reads the file: no large arrays through the pipe
    return result


def _run_pool(jobs, kind, todo, paths, keys, results, workers, bar) -> None:
    context = multiprocessing.get_context("spawn")  # no inherited threads or decoder state
    messages = context.Queue()
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_init_worker, initargs=(messages,)
    ) as pool:
        futures = {
            pool.submit(
                _work, kind, jobs[p], None if paths[p] is None else str(paths[p]), keys[p]
            ): p
            for p in todo
        }
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            _drain(messages, bar)
            for future in done:
                position = futures[future]
                result = future.result()
                if result is None:
                    result = kind.load(paths[position], None)
                results[position] = result
        _drain(messages, bar)


def _drain(messages, bar) -> None:
    while True:
        try:
            bar.update(messages.get_nowait())
        except queue.Empty:
            return
