"""Throughput of ``mesynth prepare-data`` against the face detector alone, in photos per second.

A folder of generated photos (posed copies of scikit-image's astronaut on backgrounds, 288 px
JPEGs, two domains) is prepared end to end (read, detect, 68 landmarks, align, sharpness,
hash, write, then duplicates, split, report and contact sheets), once with one process and
once with ``--workers`` processes; the detector-only rate reads every photo and runs dlib's HOG
detector on it, in one process. The landmark model load and the worker start-up are counted in
the end-to-end runs (they are part of what a user waits for).

Usage: ``python benchmarks/prepare_data.py [--photos 1000] [--workers 2] [--json OUT]``.
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


def detector_only(photos: list[Path]) -> float:
    from mesynth.faces.landmarks import LandmarkDetector
    from mesynth.media import read_image

    detector = LandmarkDetector()
    start = time.perf_counter()
    for path in photos:
        detector.detect_faces(read_image(path, exif_rotate=True))
    return time.perf_counter() - start


def end_to_end(source: Path, out: Path, workers: int) -> float:
    from mesynth.prepare.run import PrepareSettings, prepare

    start = time.perf_counter()
    prepare(PrepareSettings(source=source, out=out, size=256, workers=workers, progress=False))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--photos", type=int, default=1000, help="photos to generate (default 1000)"
    )
    parser.add_argument("--workers", type=int, default=2, help="processes of the second run")
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args()
    from mesynth.prepare.example import make_pipeline_photos

    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        source = make_pipeline_photos(work / "photos", per_domain=args.photos // 2)
        photos = sorted(source.glob("*/*.jpg"))
        seconds = {"detector only (1 process)": detector_only(photos)}
        seconds["prepare-data, 1 process"] = end_to_end(source, work / "out1", 1)
        seconds[f"prepare-data, {args.workers} processes"] = end_to_end(
            source, work / "out2", args.workers
        )
    load = os.getloadavg()[0]
    print(f"{len(photos)} photos of 288x288 px; load average {load:.1f} at the end\n")
    print("| run | seconds | photos/s |\n| --- | ---: | ---: |")
    for name, value in seconds.items():
        print(f"| {name} | {value:.1f} | {len(photos) / value:.1f} |")
    if args.json:
        rates = {name: len(photos) / value for name, value in seconds.items()}
        Path(args.json).write_text(json.dumps({"photos": len(photos), "photos_per_s": rates}))


if __name__ == "__main__":
    main()
