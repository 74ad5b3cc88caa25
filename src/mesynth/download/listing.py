"""``mesynth download --list``: both folders, each entry, and the state of each of its files.

A file counts as present only once it validates; the validation cache makes that cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mesynth.download.archive import dataset_problem
from mesynth.download.errors import InvalidFileError
from mesynth.download.http import part_path
from mesynth.download.sources import (
    CHECKPOINTS,
    DATA,
    DownloadConfig,
    Entry,
    FileSpec,
    file_result,
    plan,
)
from mesynth.download.validation import ValidationCache, validate_cached


def human_size(size: int) -> str:
    if size < 1000:
        return f"{size} bytes"
    value = float(size)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000 or unit == "TB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def file_state(
    entry: Entry, spec: FileSpec, config: DownloadConfig, wing: Path | None, needs: str | None
) -> tuple[str, bool]:
    """(what ``--list`` says about the file, whether it is present and valid).

    ``needs`` names the missing landmark network when the file cannot be checked without it.
    """
    directory = config.dirs[entry.dir]
    cache = ValidationCache(directory)
    final = directory / spec.path
    known = spec.size or cache.size(spec.path)
    if spec.check == "zip":
        result = file_result(spec, directory)
        if result.exists():
            problem = dataset_problem(result, spec)
            if problem is not None:
                return f"in the way: {problem}; move it or use --data-dir", False
            archive = f" from a {human_size(known)} archive" if known else ""
            return f"present, extracted{archive}", True
    elif final.exists():
        found = human_size(final.stat().st_size)
        if needs is not None:
            return f"{found}, not checked: needs {needs}", False
        try:
            validate_cached(final, spec, wing, cache, spec.path)
        except InvalidFileError as err:
            return f"INVALID ({found}): {err}; --force fetches it again", False
        return f"present, {found}", True
    part = part_path(final)
    if part.exists():
        of = f" of {human_size(known)}" if known else ""
        return f"partial, {human_size(part.stat().st_size)}{of} in {part.name}", False
    return f"missing, {human_size(known) if known else 'size unknown'}", False


def print_listing(config: DownloadConfig, names: Sequence[str] = ()) -> None:
    """Both folders, then each entry (``names``, or all) with the state of its files."""
    print(f"checkpoint folder: {config.dirs.get(CHECKPOINTS)}  (--dir)")
    print(f"dataset folder:    {config.dirs.get(DATA)}  (--data-dir)")
    shown = list(names) or list(config.entries)
    states = _states(config, shown)
    for entry in (config.entries[name] for name in shown):
        print(f"\n{entry.name}: {entry.description}")
        for spec in entry.files:
            result = file_result(spec, config.dirs[entry.dir])
            print(f"  {result}  [{states[entry.name, spec.path]}]  <- {spec.url}")


def _states(config: DownloadConfig, shown: Sequence[str]) -> dict[tuple[str, str], str]:
    """(entry, file path) -> its state, requirements first: they check the rest."""
    states: dict[tuple[str, str], str] = {}
    wing_of: dict[str, Path] = {}
    missing_wing: dict[str, str] = {}
    for name in plan(shown, config):
        entry = config.entries[name]
        directory = config.dirs[entry.dir]
        wing = next((wing_of[r] for r in entry.requires if r in wing_of), None)
        needs = next((missing_wing[r] for r in entry.requires if r in missing_wing), None)
        for spec in entry.files:
            text, present = file_state(
                entry, spec, config, wing, needs if spec.check == "official" else None
            )
            states[name, spec.path] = text
            if spec.check != "wing":
                continue
            if present:
                wing_of[name] = directory / spec.path
            else:
                missing_wing[name] = f"{directory / spec.path} ({text.split(',')[0].split(':')[0]})"
    return states
