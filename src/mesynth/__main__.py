"""``mesynth COMMAND``: the command-line front door (``python -m mesynth`` does the same).

Commands:
  download   fetch pretrained StarGAN v2 files and datasets (see ``conf/download.yaml``)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: the process arguments), run the command, return its exit status."""
    from mesynth import download

    parser = argparse.ArgumentParser(
        prog="mesynth", description="mesynth command line; `mesynth COMMAND --help` for details."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    fetch = commands.add_parser(
        "download",
        help="fetch pretrained StarGAN v2 files and datasets",
        description="Fetch pretrained StarGAN v2 files and datasets (see conf/download.yaml).",
    )
    download.add_arguments(fetch)
    fetch.set_defaults(handler=download.run_cli)
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
