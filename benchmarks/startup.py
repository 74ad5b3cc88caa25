"""Start-up time of the commands a user runs most: wall seconds, best and median of N runs.

- ``mesynth download --list`` with the files present and their validation remembered;
- ``python infer.py`` on an output folder that is already complete (it checks the folder and
  the checkpoint, says every video is done, and exits), with a full-size 256x256 checkpoint in
  the official layout (random weights: the size and loading cost are what matter);
- ``python evaluate.py --help``.

Goals (2-core CPU): under 2 s, 5 s and 3 s. Usage: ``python benchmarks/startup.py [--runs 5]``.
Prints a markdown table; ``--json PATH`` also saves the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def timed(command: list[str], env: dict, runs: int) -> list[float]:
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
        seconds.append(time.perf_counter() - start)
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return seconds


def prepare(work: Path, env: dict) -> tuple[list[str], Path]:
    """A demo clip, a full-size official-layout checkpoint, a finished synthesis of 2 frames,
    and a checkpoint folder whose files `download --list` has validated once."""
    import torch

    from mesynth.checkpoint import save_official
    from mesynth.nets import build_nets
    from mesynth.video.demo_clip import make_demo

    make_demo(work / "demo", seconds=0.5, progress=False)
    torch.manual_seed(0)
    nets = build_nets(img_size=256, w_hpf=0.0)
    ckpt = save_official(
        nets,
        work / "ckpt" / "100000_nets_ema.ckpt",
        names=("generator", "mapping_network", "style_encoder"),
    )
    infer = [
        str(BIN / "python"),
        "infer.py",
        f"ckpt={ckpt}",
        f"source={work / 'demo' / 'frames'}",
        f"output_dir={work / 'synthetic'}",
        "max_frames=2",
        "crop=none",
        "progress=false",
        f"hydra.run.dir={work / 'hydra'}",
    ]
    subprocess.run(infer, cwd=REPO, env=env, check=True, capture_output=True)
    checkpoints = work / "checkpoints"
    (checkpoints / "celeba_hq").mkdir(parents=True)
    os.link(ckpt, checkpoints / "celeba_hq" / "100000_nets_ema.ckpt")
    return infer, checkpoints


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    env = {**os.environ, "MESYNTH_OFFLINE": "1"}
    with tempfile.TemporaryDirectory(prefix="startup_") as tmp:
        work = Path(tmp)
        infer, checkpoints = prepare(work, env)
        listing = [str(BIN / "mesynth"), "download", "--list", "--dir", str(checkpoints)]
        subprocess.run(listing, cwd=REPO, env=env, capture_output=True)  # validate once
        commands = {
            "mesynth download --list (validated files)": (listing, 2.0),
            "python infer.py (output already complete)": (infer, 5.0),
            "python evaluate.py --help": ([str(BIN / "python"), "evaluate.py", "--help"], 3.0),
        }
        results = {}
        for name, (command, goal) in commands.items():
            seconds = timed(command, env, args.runs)
            results[name] = {
                "best": min(seconds),
                "median": statistics.median(seconds),
                "goal": goal,
                "runs": seconds,
            }
    load = os.getloadavg()[0]
    print(
        f"\n### Start-up, {os.cpu_count()} CPU cores, load average {load:.1f}, {args.runs} runs\n"
    )
    print("| command | best s | median s | goal s |")
    print("| --- | ---: | ---: | ---: |")
    for name, numbers in results.items():
        print(
            f"| `{name}` | {numbers['best']:.2f} | {numbers['median']:.2f} | < {numbers['goal']:g} |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
