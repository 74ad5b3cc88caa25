"""``mesynth COMMAND``: the command-line front door (``python -m mesynth`` does the same).

Commands:
  download         fetch pretrained weights (StarGAN v2, SOFTNet) and datasets (``conf/download.yaml``)
  prepare-data     turn raw face photos into an aligned, split, checked training set
  score-spotting   score MEGC spotting predictions against ground-truth annotations
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _score_spotting(args: argparse.Namespace) -> int:
    # Imported on use: the scorer needs pandas, which `mesynth download` does not.
    from mesynth.spotting.scoring import run_cli

    return run_cli(args)


def _score_spotting_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--predictions", required=True, help="MEGC submission CSV: vid,pred_onset,pred_offset,type"
    )
    parser.add_argument(
        "--annotations",
        required=True,
        help="ground truth: SAMM-LV xlsx, CAS(ME)^2 code sheet or mesynth annotation CSV",
    )
    parser.add_argument(
        "--annotations-format",
        default="auto",
        choices=("auto", "samm_xlsx", "casme2_xlsx", "csv"),
        help="format of --annotations (default: auto, guessed from the file)",
    )
    parser.add_argument("--iou", type=float, default=0.5, help="IoU threshold (default 0.5)")
    parser.add_argument(
        "--matching",
        default="megc",
        choices=("megc", "one_to_one", "softnet"),
        help="megc (default): the found ground-truth intervals are the true positives, as in "
        "the MEGC2020 baseline; one_to_one: each prediction matches at most one interval; "
        "softnet: as SOFTNet counts (and its COCO AP@[.5:.95])",
    )
    parser.add_argument("--json", metavar="OUT", help="also write the scores to this JSON file")


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``mesynth`` (every command and its options)."""
    from mesynth import download

    parser = argparse.ArgumentParser(
        prog="mesynth", description="mesynth command line; `mesynth COMMAND --help` for details."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    fetch = commands.add_parser(
        "download",
        help="fetch pretrained weights (StarGAN v2, SOFTNet) and datasets",
        description="Fetch pretrained weights and datasets (see conf/download.yaml).",
    )
    download.add_arguments(fetch)
    fetch.set_defaults(handler=download.run_cli)
    from mesynth.prepare import cli as prepare_cli

    prepare = commands.add_parser(
        "prepare-data",
        help="turn raw face photos into an aligned, split, checked training set",
        description=prepare_cli.DESCRIPTION,
    )
    prepare_cli.add_arguments(prepare)
    prepare.set_defaults(handler=prepare_cli.run_cli)
    score = commands.add_parser(
        "score-spotting",
        help="score MEGC spotting predictions against ground-truth annotations",
        description="Score spotted intervals (MEGC submission CSV) against ground truth with "
        "the MEGC protocol: IoU >= 0.5 per type, counts pooled over all videos, per type "
        "(micro, macro) and overall. Prints a table; --json writes the numbers.",
    )
    _score_spotting_arguments(score)
    score.set_defaults(handler=_score_spotting)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: the process arguments), run the command, return its exit status."""
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
