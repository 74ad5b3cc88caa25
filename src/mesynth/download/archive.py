"""A dataset archive: extracted through a staging folder, so a half-unpacked one never looks done."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

from mesynth.download.errors import InvalidFileError
from mesynth.download.sources import FileSpec


def dataset_problem(folder: Path, spec: FileSpec) -> str | None:
    """Why ``folder`` is not this dataset, extracted (None when it is)."""
    if not folder.is_dir():
        return f"{folder} is not a folder"
    missing = [name for name in spec.contains if not (folder / name).is_dir()]
    if missing:
        return f"{folder} holds no {' or '.join(name + '/' for name in missing)}"
    return None


def extract(archive_path: Path, spec: FileSpec, directory: Path, progress: bool) -> Path:
    """Unpack into a staging folder, then rename the dataset's folder into place."""
    from tqdm import tqdm

    assert spec.extracts_to is not None
    target = directory / spec.extracts_to
    root = spec.archive_root or spec.extracts_to
    staging = directory / f".{spec.extracts_to}.extracting"
    if staging.exists():  # left over from an interrupted extraction
        shutil.rmtree(staging)
    with zipfile.ZipFile(archive_path) as archive:
        members = archive.infolist()
        for member in tqdm(
            members, unit="file", desc=f"extract {spec.basename}", disable=not progress
        ):
            archive.extract(member, staging)
    produced = staging if root in (".", "") else staging / root
    problem = dataset_problem(produced, spec)
    if problem is not None:
        found = sorted(p.name for p in staging.iterdir())
        shutil.rmtree(staging)
        inside = "the archive's top level" if produced == staging else f"its folder {root!r}"
        raise InvalidFileError(
            f"{spec.basename} does not hold the expected dataset: {inside} has no "
            f"{' and '.join(name + '/' for name in spec.contains)} (top level: {found}); the "
            "archive is not the expected dataset, or `archive_root`/`contains` in the download "
            "config is wrong"
        )
    if target.exists():  # a previous extraction (anything else was refused before fetching)
        shutil.rmtree(target)
    if produced == staging:
        staging.rename(target)
    else:
        produced.rename(target)
        shutil.rmtree(staging)
    return target
