"""Spotting features: end-to-end frames/s against decode-only frames/s on the same frames.

The frames are a SAMM-LV-like long video (2040 x 1088 greyscale JPEGs at 200 fps, the demo
face scaled up and placed in a wider frame) unless ``--source`` points at a video or frame
folder of your own (its frame rate from the layout, or ``--fps``). The face crop is estimated
once (``fixed``, 256 px, as the spotting experiment does for originals without a saved crop) and
timed apart, as is loading the landmark model (once per process).

- decode-only: every frame read with the source's reader and the same read-ahead threads the
  features use (``mesynth.spotting.features._sampled_frames``), nothing else;
- end-to-end: ``compute_features`` (landmarks on 5 frames, crop to the 128 px working size,
  Farneback flow on the face regions at both time scales, strain, region statistics) with the
  default settings (``max_fps: 50``: every 4th frame decoded at 200 fps), and with every frame
  (``max_fps: null``), and with the SOFTNet maps on.

Frames/s always counts the video's frames (a video of N frames done in s seconds is N / s),
so sampling shows up as speed. Each number is the best of ``--repeats`` alternating turns.
Usage: ``python benchmarks/spotting_features.py [--frames 1000] [--source PATH] [--json OUT]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import cv2

from mesynth.faces.align import estimate_crop
from mesynth.faces.landmarks import LandmarkDetector
from mesynth.spotting.features import (
    FeatureJob,
    FeatureSettings,
    _sampled_frames,
    compute_features,
)
from mesynth.video.demo_clip import make_demo
from mesynth.video.layouts import open_sources

SAMM_SIZE = (1088, 2040)  # height, width


def samm_like_video(root: Path, frames: int, fps: float) -> Path:
    """A demo clip made at half size, scaled to SAMM-LV's height and padded to its width."""
    make_demo(root / "demo", seconds=frames / fps, fps=fps, frame_size=SAMM_SIZE[0] // 2)
    (source,) = open_sources(root / "demo" / "frames")
    folder = root / "samm" / "900_1"
    folder.mkdir(parents=True)
    height, width = SAMM_SIZE
    for index in range(len(source)):
        face = cv2.cvtColor(source.read_frame(index), cv2.COLOR_RGB2GRAY)
        face = cv2.resize(face, (height, height), interpolation=cv2.INTER_CUBIC)
        left = (width - height) // 3
        frame = cv2.copyMakeBorder(
            face, 0, 0, left, width - height - left, borderType=cv2.BORDER_REFLECT
        )
        number = source.frame_numbers[index]
        cv2.imwrite(str(folder / f"900_1_{number:05d}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return root / "samm"


def decode_only(source) -> float:
    start = time.perf_counter()
    for _ in _sampled_frames(source, list(range(len(source)))):
        pass
    return time.perf_counter() - start


def end_to_end(job: FeatureJob, settings: FeatureSettings, detector) -> float:
    start = time.perf_counter()
    compute_features(job, settings, detector)
    return time.perf_counter() - start


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{model}, {cores} cores, load average {load:.1f} at the start"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", help="a video file or frame folder (default: generated)")
    parser.add_argument("--frames", type=int, default=1000, help="generated frames (200 fps)")
    parser.add_argument("--fps", type=float, default=None, help="frame rate of --source")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)  # one video is one worker process's work: measure one core

    with tempfile.TemporaryDirectory() as temp:
        if args.source:
            (source, *_) = open_sources(args.source)
            fps = args.fps or source.fps or 200.0
            origin = str(args.source)
        else:
            fps = 200.0
            source = open_sources(samm_like_video(Path(temp), args.frames, fps))[0]
            origin = f"generated SAMM-LV-like video, {SAMM_SIZE[1]}x{SAMM_SIZE[0]} JPEG"
        started = time.perf_counter()
        detector = LandmarkDetector()  # once per process, as compute_many and its workers do
        load_seconds = time.perf_counter() - started
        started = time.perf_counter()
        crop = estimate_crop(source, "fixed", 256, detector=detector, progress=False)
        crop_seconds = time.perf_counter() - started
        job = FeatureJob(source.video_id, source, crop, fps)
        runs = {
            "decode only (every frame)": None,
            "features, defaults (max_fps 50)": FeatureSettings(),
            "features, every frame (max_fps null)": FeatureSettings(max_fps=None),
            "features, defaults + softnet maps": FeatureSettings(maps=True),
        }
        best = {name: float("inf") for name in runs}
        for _ in range(args.repeats):
            for name, settings in runs.items():
                if settings is None:
                    seconds = decode_only(source)
                else:
                    seconds = end_to_end(job, settings, detector)
                best[name] = min(best[name], seconds)

    frames = len(source)
    decode_rate = frames / best["decode only (every frame)"]
    resolved = FeatureSettings().resolve(fps)
    result = {
        "machine": machine(),
        "source": origin,
        "frames": frames,
        "fps": fps,
        "frame_size": list(source.frame_size),
        "crop_seconds": crop_seconds,
        "detector_load_seconds": load_seconds,
        "k": resolved[0],
        "k_macro": resolved[1],
        "stride": resolved[2],
        "runs": {
            name: {
                "seconds": seconds,
                "frames_per_second": frames / seconds,
                "share_of_decode_only": frames / seconds / decode_rate,
            }
            for name, seconds in best.items()
        },
    }
    print(f"machine: {result['machine']}")
    print(
        f"source: {origin}, {frames} frames of {source.frame_size[1]}x{source.frame_size[0]} at "
        f"{fps:g} fps; k={resolved[0]}, k_macro={resolved[1]}, every {resolved[2]} frame(s) "
        f"by default; not counted below: the landmark model loaded once in {load_seconds:.1f} s, "
        f"the crop estimated once in {crop_seconds:.1f} s"
    )
    print("\n| run | seconds | frames/s | share of decode-only |\n| --- | ---: | ---: | ---: |")
    for name, row in result["runs"].items():
        print(
            f"| {name} | {row['seconds']:.2f} | {row['frames_per_second']:.1f} | "
            f"{100 * row['share_of_decode_only']:.0f}% |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
