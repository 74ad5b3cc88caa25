"""What to prepare: every source photo with its domain, identity and (CelebA) partition.

Two kinds of source: a folder tree of photos (any size; jpg, png, webp, ...), or a raw CelebA
folder (``img_celeba/`` with ``list_attr_celeba.txt``, ``list_landmarks_celeba.txt``,
``identity_CelebA.txt`` and ``list_eval_partition.txt``). Domains come from a CSV
(``file,domain``), one CelebA attribute, or the source's sub-folders.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from mesynth.media import IMAGE_SUFFIXES, is_image

CELEBA_IMAGES = "img_celeba"
CELEBA_FILES = {
    "attributes": "list_attr_celeba.txt",
    "landmarks": "list_landmarks_celeba.txt",
    "identities": "identity_CelebA.txt",
    "partition": "list_eval_partition.txt",
}
CELEBA_PARTITIONS = {"0": "train", "1": "val", "2": "test"}
DEFAULT_DOMAIN = "faces"
_DOMAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class PrepareError(ValueError):
    """Input that prepare-data cannot use; the message names the file and the fix."""


@dataclass(frozen=True)
class SourceImage:
    """One photo to prepare. ``key`` is its path relative to SOURCE (posix), ``name`` its path
    under ``OUT/<split>/<domain>/`` (without suffix)."""

    key: str
    path: Path
    domain: str
    name: str
    identity: str | None = None
    partition: str | None = None  # CelebA's own split: train, val or test
    eyes: tuple[float, float, float, float] | None = None  # annotated eye centres (x, y, x, y)


def is_celeba(root: Path) -> bool:
    return (root / CELEBA_IMAGES).is_dir() and (root / CELEBA_FILES["attributes"]).is_file()


def list_photos(root: Path) -> list[Path]:
    """Every image file under ``root`` (hidden files and folders left out), sorted."""
    found = []
    for path in root.rglob("*"):
        parts = path.relative_to(root).parts
        if any(part.startswith(".") for part in parts) or not path.is_file():
            continue
        if is_image(path):
            found.append(path)
    return sorted(found)


def check_source(root: Path) -> None:
    if not root.exists():
        raise PrepareError(
            f"SOURCE {root} does not exist; give the folder that holds the photos (a tree of "
            "images, or a raw CelebA folder with img_celeba/ and its text files)"
        )
    if not root.is_dir():
        raise PrepareError(f"SOURCE {root} is a file, not a folder; give the folder of photos")


def _empty_error(root: Path) -> PrepareError:
    suffixes = ", ".join(sorted(s.lstrip(".") for s in IMAGE_SUFFIXES))
    return PrepareError(
        f"SOURCE {root} holds no images ({suffixes}); put the photos there (one sub-folder per "
        "domain for --by-folder) or point SOURCE at the folder that has them"
    )


def check_domain_name(name: str, where: str) -> str:
    if not _DOMAIN_NAME.match(name):
        raise PrepareError(
            f"{where}: domain {name!r} cannot be a folder name; use letters, digits, '_', '-' "
            "or '.' (starting with a letter or digit)"
        )
    return name


def read_two_columns(path: Path, column: str) -> dict[str, str]:
    """``file -> value`` from a CSV with a header ``file,<column>`` (or two unnamed columns)."""
    if not path.is_file():
        raise PrepareError(
            f"{column} CSV {path} not found; give a CSV file with rows file,{column}"
        )
    with path.open(newline="", encoding="utf-8-sig") as handle:
        rows = [row for row in csv.reader(handle) if row and any(cell.strip() for cell in row)]
    if rows and [cell.strip().lower() for cell in rows[0][:2]] == ["file", column]:
        rows = rows[1:]
    bad = [number for number, row in enumerate(rows, start=2) if len(row) < 2 or not row[1].strip()]
    if bad or not rows:
        found = "no rows" if not rows else f"rows {bad[:5]} have fewer than two values"
        raise PrepareError(
            f"{column} CSV {path}: expected a header file,{column} and one row per photo "
            f"(e.g. people/ann_01.jpg,{column == 'domain' and 'glasses' or 'ann'}); found {found}"
        )
    return {row[0].strip(): row[1].strip() for row in rows}


def _resolve_listed(root: Path, listed: dict[str, str], csv_path: Path) -> dict[str, str]:
    """CSV file names as keys relative to ``root``; every listed file must exist."""
    resolved, missing = {}, []
    for name, value in listed.items():
        path = Path(name) if Path(name).is_absolute() else root / name
        if not path.is_file():
            missing.append(name)
            continue
        try:
            key = path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            key = None
        if key is None:
            raise PrepareError(
                f"CSV {csv_path} names {name}, which is outside SOURCE {root}; list files under "
                "SOURCE (paths relative to it)"
            )
        resolved[key] = value
    if missing:
        shown = ", ".join(missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        raise PrepareError(
            f"CSV {csv_path} names {len(missing)} file(s) that do not exist under SOURCE {root}: "
            f"{shown}; fix the paths (relative to SOURCE) or remove those rows"
        )
    return resolved


def _name_in_domain(key: str, drop_first: bool) -> str:
    path = PurePosixPath(key)
    parts = path.parts[1:] if drop_first and len(path.parts) > 1 else path.parts
    return PurePosixPath(*parts).with_suffix("").as_posix()


def folder_source(
    root: Path, domains_csv: Path | None, by_folder: bool, identities_csv: Path | None
) -> list[SourceImage]:
    """The photos of a folder tree, with their domains (CSV, sub-folder, or one domain)."""
    photos = list_photos(root)
    if not photos:
        raise _empty_error(root)
    keys = {path.relative_to(root).as_posix(): path for path in photos}
    identities = _identities(root, identities_csv)
    if domains_csv is not None:
        listed = _resolve_listed(root, read_two_columns(domains_csv, "domain"), domains_csv)
        return [
            SourceImage(
                key,
                root / key,
                check_domain_name(domain, str(domains_csv)),
                _name_in_domain(key, False),
                identities.get(key),
            )
            for key, domain in sorted(listed.items())
        ]
    nested = any("/" in key for key in keys)
    by_folder = by_folder or nested
    images = []
    for key, path in keys.items():
        if by_folder and "/" not in key:
            raise PrepareError(
                f"{path} is not in a domain sub-folder of SOURCE {root}; with --by-folder every "
                "photo sits in SOURCE/<domain>/; move it there, or give the domains with --domains"
            )
        domain = key.split("/")[0] if by_folder else DEFAULT_DOMAIN
        images.append(
            SourceImage(
                key,
                path,
                check_domain_name(domain, str(path.parent)),
                _name_in_domain(key, by_folder),
                identities.get(key),
            )
        )
    return images


def _identities(root: Path, identities_csv: Path | None) -> dict[str, str]:
    if identities_csv is None:
        return {}
    return _resolve_listed(root, read_two_columns(identities_csv, "identity"), identities_csv)


def with_identities(images: list[SourceImage], root: Path, identities_csv: Path | None):
    """``images`` with the identities of ``--identities`` (they replace any known ones)."""
    identities = _identities(root, identities_csv)
    if not identities:
        return images
    return [replace(image, identity=identities.get(image.key, image.identity)) for image in images]
