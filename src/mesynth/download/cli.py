"""The ``download`` command line, shared by ``mesynth download`` and ``python -m mesynth.download``.

Exit status: 0 done (or ``--best-effort``); 2 (:data:`mesynth.console.USER_ERROR_EXIT`) a file
could not be had or the command or config is wrong, one line per problem on stderr and no
traceback unless ``MESYNTH_DEBUG=1``; 130 Ctrl-C, with the ``.part`` kept for the same command.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from dataclasses import replace

from mesynth.console import INTERRUPTED_EXIT, USER_ERROR_EXIT, print_error
from mesynth.download.errors import ConfigError, Interrupted
from mesynth.download.listing import print_listing
from mesynth.download.obtain import download_all
from mesynth.download.sources import (
    CHECKPOINTS,
    CONFIG_ENV,
    DATA,
    OFFLINE_ENV,
    DownloadConfig,
    Entry,
    load_config,
    normalise_url,
    plan,
    resolve_urls,
    with_dirs,
)

PREFIX = "mesynth download"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``download`` options."""
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="what to fetch: celeba-hq, afhq, wing, celeba-hq-dataset, afhq-dataset, "
        "afhq-v2-dataset, softnet (default: the config's `default`, i.e. what the demo needs)",
    )
    parser.add_argument(
        "--dir", help="checkpoint folder (default: dirs.checkpoints, ./checkpoints)"
    )
    parser.add_argument(
        "--data-dir", metavar="DIR", help="dataset folder (default: dirs.data, ./data)"
    )
    parser.add_argument(
        "--config", help=f"download config merged over conf/download.yaml (or {CONFIG_ENV})"
    )
    parser.add_argument(
        "--url",
        action="append",
        metavar="[FILE=]URL",
        help="fetch from this mirror, local path or file:// URL instead; FILE=URL picks one file "
        "of a multi-file entry (repeatable); for an entry with a base_url (softnet) it is the "
        "folder its files are below",
    )
    parser.add_argument(
        "--force", action="store_true", help="fetch again even if a valid copy is present"
    )
    parser.add_argument(
        "--offline", action="store_true", help=f"never touch the network (same as {OFFLINE_ENV}=1)"
    )
    parser.add_argument(
        "--retries", type=int, help="retries after a dropped connection (config: network.retries)"
    )
    parser.add_argument(
        "--list",
        action="store_true",
        help="show each entry (the NAMEs given, or all): where its files go, whether they are "
        "present and valid, their sizes",
    )
    parser.add_argument(
        "--best-effort",
        action="store_true",
        help="on failure print one line and exit 0 (for callers that fall back)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run_cli(args: argparse.Namespace) -> int:
    """Carry out a parsed ``download`` command; returns the exit status."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        return _run(args)
    except KeyboardInterrupt as err:
        if not (isinstance(err, Interrupted) and str(err)):
            err = Interrupted("interrupted; the same command resumes").with_traceback(
                err.__traceback__
            )
        print_error(err, PREFIX)
        return INTERRUPTED_EXIT


def _run(args: argparse.Namespace) -> int:
    try:
        config = with_dirs(load_config(args.config), args.dir, getattr(args, "data_dir", None))
        unknown = [n for n in args.names if n not in config.entries]
        if unknown:
            raise ConfigError(f"unknown download {unknown}; available: {', '.join(config.entries)}")
        if args.list:
            print_listing(config, list(dict.fromkeys(args.names)))
            return 0
        names, config, overrides = _prepare(args, config)
        outcomes = download_all(
            names,
            config,
            url=overrides,
            force=args.force,
            offline=True if args.offline else None,
            progress=not args.no_progress,
            keep_going=not args.best_effort,
        )
    except ConfigError as err:
        print_error(err, PREFIX)
        return USER_ERROR_EXIT
    failed = 0
    for outcome in outcomes:
        if outcome.error is None:
            print(outcome.path)
        else:
            print_error(outcome.error, PREFIX)
            failed += 1
    if failed and not args.best_effort:
        return USER_ERROR_EXIT
    return 0


def _prepare(
    args: argparse.Namespace, config: DownloadConfig
) -> tuple[list[str], DownloadConfig, str | dict[str, str] | None]:
    """The names to fetch, the config with the command line's settings, the URL overrides."""
    names = list(dict.fromkeys(args.names)) or list(config.default)
    if not names:
        raise ConfigError(f"nothing to fetch: name one of {', '.join(config.entries)}")
    _check_folders(args, names, config)
    if args.url and len(names) != 1:
        raise ConfigError("--url needs exactly one NAME")
    if args.retries is not None:
        if args.retries < 0:
            raise ConfigError(f"--retries must be >= 0, got {args.retries}")
        config = replace(config, network=replace(config.network, retries=args.retries))
    overrides = _url_overrides(args.url, config.entries[names[0]])
    for url in resolve_urls(config.entries[names[0]], overrides).values():
        normalise_url(url)
    return names, config, overrides


def _check_folders(args: argparse.Namespace, names: list[str], config: DownloadConfig) -> None:
    """--dir and --data-dir each move one kind of file: refuse one that would move nothing."""
    kinds = {config.entries[name].dir for name in plan(names, config)}
    asked = " ".join(names)
    if args.dir is not None and CHECKPOINTS not in kinds:
        raise ConfigError(
            f"--dir sets the checkpoint folder, but `{asked}` fetches no checkpoint; datasets "
            f"go to the dataset folder: use --data-dir {args.dir}"
        )
    if getattr(args, "data_dir", None) is not None and DATA not in kinds:
        raise ConfigError(
            f"--data-dir sets the dataset folder, but `{asked}` fetches no dataset; "
            f"checkpoints go to the checkpoint folder: use --dir {args.data_dir}"
        )


def _url_overrides(values: Sequence[str] | None, entry: Entry) -> str | dict[str, str] | None:
    if not values:
        return None
    per_file: dict[str, str] = {}
    single: list[str] = []
    known = {spec.basename for spec in entry.files} | {spec.path for spec in entry.files}
    for value in values:
        key, sep, rest = value.partition("=")
        if sep and key in known:
            per_file[key] = rest
        else:
            single.append(value)
    if single and (per_file or len(single) > 1):
        raise ConfigError(
            f"give either one --url URL or --url FILE=URL per file, not {list(values)}"
        )
    return single[0] if single else per_file


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m mesynth.download``: same options as ``mesynth download``."""
    parser = argparse.ArgumentParser(
        prog="python -m mesynth.download",
        description="Fetch pretrained weights and datasets (see conf/download.yaml).",
    )
    add_arguments(parser)
    return run_cli(parser.parse_args(argv))
