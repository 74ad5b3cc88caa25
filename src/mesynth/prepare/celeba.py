"""The raw CelebA release as a source: ``img_celeba/`` (the in-the-wild photos) and its lists.

- ``list_attr_celeba.txt``: a count, the 40 attribute names, then ``<file> 1|-1 ...`` per photo;
- ``list_landmarks_celeba.txt``: a count, a header, then ``<file>`` and five (x, y) points (eyes,
  nose, mouth corners): they say which face of a crowded photo is the annotated one;
- ``identity_CelebA.txt``: ``<file> <person>``, so that no person is in both train and val;
- ``list_eval_partition.txt``: ``<file> 0|1|2`` (train, val, test), used on request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from mesynth.prepare.sources import (
    CELEBA_FILES,
    CELEBA_IMAGES,
    CELEBA_PARTITIONS,
    DEFAULT_DOMAIN,
    PrepareError,
    SourceImage,
    check_domain_name,
    read_two_columns,
)


def _lines(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8") as handle:
        return [line.split() for line in handle if line.strip()]


def _format_error(path: Path, expected: str, found: str) -> PrepareError:
    return PrepareError(
        f"CelebA list {path} is not in CelebA's format: expected {expected}, found {found}; "
        "use the files of the CelebA release unchanged"
    )


def read_attributes(path: Path) -> tuple[list[str], dict[str, list[int]]]:
    """Attribute names and ``file -> [1|-1, ...]`` of ``list_attr_celeba.txt``."""
    lines = _lines(path)
    if len(lines) < 2 or not lines[0][0].isdigit():
        raise _format_error(path, "a count line, then the attribute names", f"{lines[:1]}")
    names = lines[1]
    table = {}
    for row in lines[2:]:
        if len(row) != len(names) + 1:
            raise _format_error(path, f"a file name and {len(names)} values per row", f"{row[:3]}")
        table[row[0]] = [int(value) for value in row[1:]]
    return names, table


def read_eyes(path: Path) -> dict[str, tuple[float, float, float, float]]:
    """``file -> (left eye x, y, right eye x, y)`` of ``list_landmarks_celeba.txt``."""
    lines = _lines(path)
    if len(lines) < 2 or not lines[0][0].isdigit():
        raise _format_error(path, "a count line, then a header", f"{lines[:1]}")
    eyes = {}
    for row in lines[2:]:
        if len(row) != 11:
            raise _format_error(path, "a file name and 10 coordinates per row", f"{row[:3]}")
        eyes[row[0]] = tuple(float(value) for value in row[1:5])
    return eyes


def read_pairs(path: Path, what: str) -> dict[str, str]:
    """``file -> value`` of ``identity_CelebA.txt`` or ``list_eval_partition.txt``."""
    pairs = {}
    for row in _lines(path):
        if len(row) != 2:
            raise _format_error(path, f"<file> <{what}> per row", f"{row[:3]}")
        pairs[row[0]] = row[1]
    return pairs


def attribute_names_of(attribute: str, attribute_names: Mapping) -> tuple[str, str]:
    """(name when present, name when absent) of one attribute; absent may be empty."""
    names = attribute_names.get(attribute)
    if not names:
        return attribute.lower(), f"no_{attribute.lower()}"
    present, absent = (str(name or "").lower() for name in names)
    return present, absent


def domain_name(values: Sequence[int], names: Sequence[tuple[str, str]]) -> str:
    """The domain of a photo from its attribute values (1 present, -1 absent): the present or
    absent names joined by '_', empty names left out; ``no_<present names>`` when all are."""
    parts = [
        present if value == 1 else absent
        for value, (present, absent) in zip(values, names, strict=True)
    ]
    joined = "_".join(part for part in parts if part)
    return joined or "no_" + "_".join(present for present, _ in names)


def attribute_domains(
    names: Sequence[str], attribute: str, attribute_names: Mapping, path: Path
) -> tuple[list[int], list[tuple[str, str]]]:
    """The columns of ``attribute`` (one name or several, comma-separated) and their names."""
    wanted = [name.strip() for name in attribute.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in names]
    if unknown or not wanted:
        raise PrepareError(
            f"--attribute {attribute}: {path} has no attribute {', '.join(unknown) or '(none given)'}; "
            f"it has {', '.join(names)} (names are case-sensitive; several: Male,Eyeglasses)"
        )
    return [names.index(name) for name in wanted], [
        attribute_names_of(n, attribute_names) for n in wanted
    ]


def _check_lists(root: Path) -> dict[str, Path]:
    paths = {what: root / name for what, name in CELEBA_FILES.items()}
    missing = [path.name for path in paths.values() if not path.is_file()]
    if missing:
        raise PrepareError(
            f"CelebA folder {root} lacks {', '.join(missing)}; a raw CelebA folder holds "
            f"{CELEBA_IMAGES}/ and {', '.join(CELEBA_FILES.values())} (from the CelebA release)"
        )
    return paths


def _domains_of(root, paths, table, names, attribute, attribute_names, domains_csv):
    if domains_csv is not None:
        keys = {f"{CELEBA_IMAGES}/{name}": name for name in table}
        listed = read_two_columns(domains_csv, "domain")
        by_file = {}
        for key, domain in listed.items():
            name = keys.get(key, key if key in table else None)
            if name is None or not (root / CELEBA_IMAGES / name).is_file():
                raise PrepareError(
                    f"CSV {domains_csv} names {key}, which is not a photo of {root / CELEBA_IMAGES} "
                    "listed in list_attr_celeba.txt; name the photos as 000001.jpg or "
                    f"{CELEBA_IMAGES}/000001.jpg"
                )
            by_file[name] = check_domain_name(domain, str(domains_csv))
        return by_file
    if attribute is None:
        return dict.fromkeys(table, DEFAULT_DOMAIN)
    columns, domain_names = attribute_domains(
        names, attribute, attribute_names, paths["attributes"]
    )
    return {
        name: check_domain_name(domain_name([values[c] for c in columns], domain_names), attribute)
        for name, values in table.items()
    }


def celeba_source(
    root: Path,
    attribute: str | None,
    domains_csv: Path | None,
    attribute_names: Mapping,
) -> list[SourceImage]:
    """The photos of a raw CelebA folder that its attribute list names."""
    paths = _check_lists(root)
    names, table = read_attributes(paths["attributes"])
    domains = _domains_of(root, paths, table, names, attribute, attribute_names, domains_csv)
    present = {path.name for path in (root / CELEBA_IMAGES).iterdir()}
    missing = sorted(name for name in domains if name not in present)
    if missing:
        raise PrepareError(
            f"{paths['attributes']} lists {len(missing)} photo(s) missing from "
            f"{root / CELEBA_IMAGES}, e.g. {', '.join(missing[:3])}; extract the whole "
            "img_celeba archive there (or remove those rows)"
        )
    eyes = read_eyes(paths["landmarks"])
    identities = read_pairs(paths["identities"], "identity")
    partition = read_pairs(paths["partition"], "partition")
    return [
        SourceImage(
            f"{CELEBA_IMAGES}/{name}",
            root / CELEBA_IMAGES / name,
            domain,
            Path(name).stem,
            identities.get(name),
            CELEBA_PARTITIONS.get(partition.get(name, "")),
            eyes.get(name),
        )
        for name, domain in sorted(domains.items())
    ]
