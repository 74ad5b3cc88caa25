"""SOFTNet features: pairs per second on one core, and against the number of worker processes.

The frames are the 128 px SOFTNet crops of a demo clip (the demo face with its expressions,
30 fps); every pair is a TV-L1 flow (``cv2.optflow.DualTVL1OpticalFlow_create``, a new solver
per pair, as SOFTNet) plus its strain, head-motion removal, eye masks and ROIs.

- one core: :func:`mesynth.spotting.softnet.softnet_features` in this process with OpenCV on one
  thread (``cv2.setNumThreads(1)``), the best of ``--repeats`` runs;
- workers: ``W`` spawned processes, each single-threaded with its dlib models loaded once (as
  the spotting workers of :mod:`mesynth.spotting.video_pool` are), each computing its own
  copies of the clip; pairs/s = all pairs / wall time of the parallel part. Efficiency is that
  rate over ``W`` x the one-core rate (the goal is >= 0.9 up to the number of cores);
- ``--fast``: the DIS flow of ``spotter.flow=fast`` instead (NOT SOFTNet's features).

The load average is recorded: on a machine other processes share, the worker rates say little.

The projection for all of SAMM-LV (about 2M pairs: one per frame and expression type) on
``--project-cores`` cores uses the one-core rate and the efficiency measured at the most
workers. Usage: ``python benchmarks/softnet_features.py [--pairs 40] [--workers 1 2]
[--json OUT]``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from mesynth.spotting import softnet as sn

SAMM_LV_PAIRS = 2_000_000
K = 3  # pairs 3 frames apart (any k costs the same per pair)

_models = None


def clip_crops(pairs: int) -> np.ndarray:
    """(pairs + K, 128, 128) uint8 SOFTNet crops of a demo clip."""
    from mesynth.video.demo_clip import make_demo
    from mesynth.video.layouts import open_sources

    with tempfile.TemporaryDirectory() as folder:
        make_demo(folder, seconds=(pairs + K) / 30.0, fps=30.0, frame_size=256, progress=False)
        (source,) = open_sources(Path(folder) / "frames")
        frames = [frame for _, frame in source.iter_frames()]
    return sn.softnet_faces(frames[: pairs + K])


def _init(fast: bool) -> None:
    global _models
    cv2.setNumThreads(1)
    _models = sn.SoftNetDlib()


def _features(crops: np.ndarray, fast: bool) -> int:
    flow = sn.dis_flow if fast else sn.tvl1_flow
    return len(sn.softnet_features(crops, K, _models, flow))


def one_core(crops: np.ndarray, fast: bool, repeats: int) -> float:
    """Pairs per second in this process, one OpenCV thread."""
    _init(fast)
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        done = _features(crops, fast)
        best = max(best, done / (time.perf_counter() - start))
    return best


def with_workers(crops: np.ndarray, fast: bool, workers: int, per_worker: int) -> float:
    """Pairs per second of ``workers`` processes, ``per_worker`` clips each (models loaded
    before the clock starts)."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_init, initargs=(fast,)) as pool:
        pool.starmap(_features, [(crops[: K + 2], fast)] * workers)  # every worker started
        start = time.perf_counter()
        done = sum(pool.starmap(_features, [(crops, fast)] * (workers * per_worker)))
        return done / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=40, help="pairs per clip")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--workers", type=int, nargs="+", default=None)
    parser.add_argument("--per-worker", type=int, default=2, help="clips each worker computes")
    parser.add_argument("--project-cores", type=int, default=16)
    parser.add_argument("--fast", action="store_true", help="DIS (NOT SOFTNet's features)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    cores = os.cpu_count() or 1
    workers = args.workers or sorted({1, max(1, cores // 2), cores})
    crops = clip_crops(args.pairs)
    load_before = os.getloadavg()[0]
    single = one_core(crops, args.fast, args.repeats)
    rows = []
    for count in workers:
        rate = with_workers(crops, args.fast, count, args.per_worker)
        rows.append({"workers": count, "pairs_per_s": rate, "efficiency": rate / (count * single)})
    efficiency = min(1.0, rows[-1]["efficiency"])
    hours = SAMM_LV_PAIRS / (single * args.project_cores * efficiency) / 3600
    result = {
        "flow": "dis (NOT SOFTNet's)" if args.fast else "tvl1",
        "opencv": cv2.__version__,
        "machine": f"{platform.processor() or platform.machine()}, {cores} cores",
        "load_average": [load_before, os.getloadavg()[0]],
        "one_core_pairs_per_s": single,
        "ms_per_pair": 1000 / single,
        "workers": rows,
        "samm_lv_hours": {"cores": args.project_cores, "efficiency": efficiency, "hours": hours},
    }
    print(f"one core: {single:.2f} pairs/s ({1000 / single:.0f} ms per pair, {result['flow']})")
    for row in rows:
        print(
            f"{row['workers']:>3} worker(s): {row['pairs_per_s']:.2f} pairs/s, "
            f"{100 * row['efficiency']:.0f}% of workers x one core"
        )
    print(
        f"all of SAMM-LV ({SAMM_LV_PAIRS:,} pairs) on {args.project_cores} cores at "
        f"{100 * efficiency:.0f}% efficiency: {hours:.1f} h"
    )
    if max(result["load_average"]) > 0.5 * cores:
        print(
            f"note: load average {max(result['load_average']):.1f} on {cores} cores: other "
            "processes share them, so the efficiency above understates the workers"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
