"""``make demo``: make the demo long video, synthesise it, evaluate it.

1. ``mesynth.video.demo_clip`` warps scikit-image's astronaut photo into a 200 fps greyscale long
   video with scheduled micro- and macro-expressions and SAMM-style annotations, and the
   distractors of real long videos (unlabelled blinks, head drift and turns, sensor noise and
   flicker; ``distractors.csv``).
2. The official CelebA-HQ weights (and the landmark network) are used when they are in
   ``checkpoints/``; otherwise one download attempt is made (none with ``MESYNTH_OFFLINE=1``).
   Without them the run uses UNTRAINED networks: the output is then not style transfer, and the
   manifest, the log and this summary say so.
3. ``infer.py`` synthesises the clip, ``evaluate.py`` measures how much motion survived
   (landmark AU proxies, onset-apex flow, flicker, identity) into ``<output>/evaluation``.
4. The training-free ``flow_peaks`` spotter, uncalibrated (one participant leaves nothing to
   calibrate on), spots the expressions of the original and the synthetic clip, scored by the
   MEGC protocol against the clip's annotations; its false positives on the blinks and on the
   head turns are counted apart.

Command line: ``python -m mesynth.demo --output data/demo``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from mesynth.download import ensure_weights
from mesynth.synthesis.output import SynthesisOutput
from mesynth.video.demo_clip import DISTRACTORS_CSV, make_demo

ROOT = Path(__file__).resolve().parents[2]
CKPT = Path("checkpoints/celeba_hq/100000_nets_ema.ckpt")
WING = Path("checkpoints/wing.ckpt")
# A 256 px frame costs about 126 GFLOP (masks + generator): around a second on a 2-core CPU, so
# without a GPU the clip is shortened to one blink and one macro smile.
GPU_SECONDS = 10.0
CPU_SECONDS = 2.5
SUMMARY_KEYS = (
    "pearson_mean",
    "pearson_sd",
    "spearman_mean",
    "spearman_sd",
    "n_videos",
    "n_excluded",
)


def find_weights(checkpoint_dir: Path, offline: bool | None) -> tuple[Path, Path] | None:
    """The CelebA-HQ checkpoint and wing.ckpt, fetched once if missing; None when unavailable."""
    ckpt, wing = checkpoint_dir / CKPT.relative_to("checkpoints"), checkpoint_dir / WING.name
    if ckpt.is_file() and wing.is_file():
        return ckpt, wing
    fetched = ensure_weights("celeba-hq", checkpoint_dir, offline=offline)
    if fetched is None or not (ckpt.is_file() and wing.is_file()):
        return None
    return ckpt, wing


def run_step(title: str, command: list[str]) -> None:
    print(f"\n== {title}: {' '.join(command)}", flush=True)
    completed = subprocess.run(command, cwd=ROOT, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"demo: {title} failed (exit code {completed.returncode}); see above")


def spot(output: Path, synthetic: Path) -> dict[str, dict]:
    """Spotting F1 of the uncalibrated flow_peaks spotter on the original and synthetic clip,
    with its false positives on the clip's distractors."""
    from hydra import compose, initialize_config_dir

    from mesynth.config import conf_dir
    from mesynth.spotting.experiment import score_as_configured
    from mesynth.video.distractors import read_distractors

    overrides = [
        "task=spotting",
        f"original_dir={output / 'frames'}",
        f"synthetic_dir={synthetic}",
        f"annotations={output / 'annotations.csv'}",
        f"output_dir={output / 'spotting'}",
        f"spotting.cache_dir={output / 'cache' / 'spotting_features'}",
        "spotter=flow_peaks",
        "logger=none",
    ]
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        cfg = compose(config_name="evaluate", overrides=overrides)
    return score_as_configured(cfg, read_distractors(output / DISTRACTORS_CSV))


def spotting_lines(spotting: dict[str, dict], untrained: bool) -> list[str]:
    """One line per side: F1, expressions found, and the false positives on the distractors
    (blinks and head turns counted apart)."""
    lines = []
    for side, scores in spotting.items():
        counts = scores["overall"]
        label = "original" if side == "original" else "synthetic"  # one synthetic set
        label += " (UNTRAINED synthesis)" if untrained and side != "original" else ""
        line = (
            f"  spotting F1, {label}: {counts['f1']:.3f} ({counts['n_tp']} of {counts['n_gt']} "
            f"expressions found, {counts['n_pred']} predicted)"
        )
        hits = scores.get("distractors")
        if hits:
            blinks, turns = hits["blink"], hits["head_turn"]
            line += (
                f"; false positives on blinks {blinks['false_positives']} ({blinks['marked']} of "
                f"{blinks['n']} blinks), on head turns {turns['false_positives']} "
                f"({turns['marked']} of {turns['n']} turns)"
            )
        lines.append(line)
    return lines


def clip_seconds(requested: float | None) -> float:
    """The clip length: as asked, or the GPU / CPU default (said so when shortened)."""
    if requested is not None:
        return requested
    import torch

    seconds = GPU_SECONDS if torch.cuda.is_available() else CPU_SECONDS
    if seconds != GPU_SECONDS:
        print(
            f"demo: no GPU - making a {seconds:g} s clip instead of {GPU_SECONDS:g} s (about a "
            f"second per frame here); `make demo DEMO_SECONDS={GPU_SECONDS:g}` for the full clip",
            flush=True,
        )
    return seconds


def synthesise(output: Path, synthetic: Path, checkpoints: Path, offline: bool, extra) -> None:
    """``infer.py`` on the clip, with the official weights when there are any."""
    weights = find_weights(checkpoints, True if offline else None)
    infer = [sys.executable, "infer.py", f"source={output / 'frames'}", f"output_dir={synthetic}"]
    infer += [
        f"annotations={output / 'annotations.csv'}",
        "hydra.run.dir=" + str(output / "runs/infer"),
    ]
    if weights is None:
        print(
            "demo: no pretrained weights - running UNTRAINED networks; the synthetic video is "
            "NOT style transfer (see checkpoints/README.md to get the official weights)",
            flush=True,
        )
    else:
        infer += [f"ckpt={weights[0]}", f"wing={weights[1]}"]
    run_step("synthesis", infer + list(extra))


def evaluate(output: Path, synthetic: Path, evaluation: Path) -> None:
    evaluate = [
        sys.executable,
        "evaluate.py",
        "au=landmarks",
        f"original_dir={output / 'frames'}",
        f"synthetic_dir={synthetic}",
        f"output_dir={evaluation}",
        "logger=none",
        "hydra.run.dir=" + str(output / "runs/evaluate"),
    ]
    run_step("evaluation", evaluate)


def print_summary(synthetic: Path, evaluation: Path, spotting: dict[str, dict]) -> None:
    untrained = SynthesisOutput(synthetic).untrained()
    summary = json.loads((evaluation / "summary.json").read_text())
    label = "UNTRAINED networks" if untrained else "pretrained weights"
    print(f"\n== demo done ({label})")
    print(f"synthetic frames: {synthetic}")
    print(f"evaluation report: {evaluation / 'report.md'}")
    for key in SUMMARY_KEYS:
        if key in summary:
            print(f"  {key}: {summary[key]}")
    for line in spotting_lines(spotting, untrained):
        print(line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", default="data/demo", help="demo folder (default data/demo)")
    parser.add_argument(
        "--seconds",
        type=float,
        default=None,
        help=f"clip length at 200 fps (default {GPU_SECONDS:g} with a GPU, {CPU_SECONDS:g} without)",
    )
    parser.add_argument("--checkpoints", default="checkpoints", help="weights folder")
    parser.add_argument("--offline", action="store_true", help="never try to download")
    parser.add_argument(
        "overrides", nargs="*", help="extra infer.py overrides, e.g. batch_size=4 crop=tracked"
    )
    args = parser.parse_args(argv)
    output = Path(args.output).resolve()
    synthetic = output / "synthetic"
    evaluation = output / "evaluation"

    seconds = clip_seconds(args.seconds)
    print(f"== demo clip: {output / 'frames'}", flush=True)
    make_demo(output, seconds=seconds, distractors=True)
    synthesise(output, synthetic, Path(args.checkpoints).resolve(), args.offline, args.overrides)
    evaluate(output, synthetic, evaluation)
    print(
        "\n== spotting: flow_peaks, uncalibrated, on the original and the synthetic clip",
        flush=True,
    )
    print_summary(synthetic, evaluation, spot(output, synthetic))
    return 0


if __name__ == "__main__":
    sys.exit(main())
