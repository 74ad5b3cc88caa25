"""One preparation from start to end: list, refuse or claim OUT, analyse (worker processes,
resumable), drop near-duplicates, split, place, report."""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from mesynth.atomic import write_atomically
from mesynth.prepare.analyse import Checks, Record, analyse, staged_path
from mesynth.prepare.celeba import celeba_source
from mesynth.prepare.filters import DUPLICATE, DuplicateIndex
from mesynth.prepare.report import Row, contact_sheet, render_report, write_csv
from mesynth.prepare.sources import (
    PrepareError,
    SourceImage,
    check_source,
    folder_source,
    is_celeba,
    with_identities,
)
from mesynth.prepare.split import VAL, split_faces
from mesynth.prepare.writer import OutputFolder

log = logging.getLogger(__name__)

REPORTED_SETTINGS = ("size", "val", "seed", "min_face", "min_sharpness", "duplicate_bits")
REPORTED_SETTINGS += ("one_face_only", "attribute", "celeba_partition")


@dataclass
class PrepareSettings:
    """Everything one preparation needs (the command line over ``conf/prepare.yaml``)."""

    source: Path
    out: Path
    domains_csv: Path | None = None
    attribute: str | None = None
    by_folder: bool = False
    size: int = 256
    val: float = 0.1
    seed: int = 0
    identities_csv: Path | None = None
    workers: int = 1
    one_face_only: bool = False
    celeba_partition: bool = False
    min_face: float = 96
    min_sharpness: float = 50
    duplicate_bits: int = 4
    attribute_names: dict = field(default_factory=dict)
    contact_sheet: dict = field(default_factory=lambda: {"faces": 32, "columns": 8, "thumb": 96})
    progress: bool = True

    @property
    def checks(self) -> Checks:
        return Checks(self.size, self.min_face, self.min_sharpness, self.one_face_only)

    def fingerprint(self) -> dict:
        """What makes two preparations the same (a re-run of the same one resumes)."""

        def digest(path: Path | None) -> str | None:
            return None if path is None else hashlib.sha256(path.read_bytes()).hexdigest()

        return {
            "source": str(self.source.resolve()),
            "domains_csv_sha256": digest(self.domains_csv),
            "identities_csv_sha256": digest(self.identities_csv),
            "attribute": self.attribute,
            "attribute_names": {
                name: list(self.attribute_names.get(name) or [])
                for name in (self.attribute or "").split(",")
                if name
            },
            "by_folder": self.by_folder,
            "size": self.size,
            "val": self.val,
            "seed": self.seed,
            "one_face_only": self.one_face_only,
            "celeba_partition": self.celeba_partition,
            "min_face": self.min_face,
            "min_sharpness": self.min_sharpness,
            "duplicate_bits": self.duplicate_bits,
        }


def check_settings(settings: PrepareSettings) -> None:
    check_source(settings.source)
    for path, option in (
        (settings.domains_csv, "--domains"),
        (settings.identities_csv, "--identities"),
    ):
        if path is not None and not path.is_file():
            raise PrepareError(f"{option} {path} not found; give an existing CSV file")
    if not 0 <= settings.val < 1:
        raise PrepareError(f"--val {settings.val} must be at least 0 and below 1 (e.g. 0.1)")
    if settings.size < 16:
        raise PrepareError(f"--size {settings.size} is too small; use the networks' img_size")
    out, source = settings.out.resolve(), settings.source.resolve()
    if out == source or out.is_relative_to(source):
        raise PrepareError(
            f"OUT {settings.out} is inside SOURCE {settings.source}; put it elsewhere, so that "
            "the source stays untouched and its listing does not change"
        )


def list_sources(settings: PrepareSettings) -> list[SourceImage]:
    root = settings.source
    if is_celeba(root):
        images = celeba_source(
            root, settings.attribute, settings.domains_csv, settings.attribute_names
        )
        return with_identities(images, root, settings.identities_csv)
    if settings.attribute is not None:
        raise PrepareError(
            f"--attribute {settings.attribute} needs a raw CelebA folder as SOURCE; {root} has no "
            "img_celeba/ with list_attr_celeba.txt. For other photos give --domains CSV or "
            "--by-folder"
        )
    if settings.celeba_partition:
        raise PrepareError(
            f"--celeba-partition needs a raw CelebA folder as SOURCE; {root} is not one"
        )
    return folder_source(root, settings.domains_csv, settings.by_folder, settings.identities_csv)


# Worker processes hold one detector each, made once.
_worker: dict = {}


def _start_worker(checks: Checks, staging: Path) -> None:
    from mesynth.faces.landmarks import LandmarkDetector

    _worker.update(detector=LandmarkDetector(), checks=checks, staging=staging)


def _analyse_in_worker(image: SourceImage) -> Record:
    return analyse(image, _worker["checks"], _worker["detector"], _worker["staging"])


def analysed(
    todo: Sequence[SourceImage], checks: Checks, staging: Path, workers: int
) -> Iterator[Record]:
    """Records of ``todo`` as they finish (any order), in ``workers`` processes (1: here)."""
    if workers <= 1:
        _start_worker(checks, staging)
        yield from (_analyse_in_worker(image) for image in todo)
        return
    context = multiprocessing.get_context("spawn")  # no fork of a process that may hold threads
    with context.Pool(workers, _start_worker, (checks, staging)) as pool:
        yield from pool.imap_unordered(_analyse_in_worker, todo, chunksize=4)


def analyse_all(images: list[SourceImage], settings: PrepareSettings, out: OutputFolder) -> dict:
    """Records of every photo: those of earlier runs, and the rest analysed now."""
    done = out.done_records()
    # A face staged by a run that was killed before recording it is redone.
    todo = [image for image in images if image.key not in done]
    bar = tqdm(
        total=len(images),
        initial=len(images) - len(todo),
        desc="prepare-data",
        unit="photo",
        disable=not settings.progress,
        dynamic_ncols=True,
    )
    with bar, out.journal() as journal:
        for record in analysed(todo, settings.checks, out.staging, settings.workers):
            out.append(journal, record)
            done[record.key] = record
            bar.update(1)
    return done


def drop_duplicates(images: Sequence[SourceImage], records: dict, max_bits: int) -> None:
    """In source order, a passing photo within ``max_bits`` of an earlier kept one is left out."""
    index = DuplicateIndex(max_bits)
    for image in images:
        record = records[image.key]
        if record.reason not in (None, DUPLICATE):
            continue
        value = int(record.hash, 16)
        first = index.find(value)
        if first is not None and first != image.key:
            record.reason, record.detail = DUPLICATE, f"near-duplicate of {first}"
            continue
        record.reason, record.detail = None, ""
        index.add(value, image.key)


def place_faces(
    images: Sequence[SourceImage], records: dict, splits: dict, out: OutputFolder
) -> tuple[list[Row], list[SourceImage]]:
    """Move kept faces from staging to ``OUT/<split>/<domain>/``; staged duplicates go. Returns
    the rows, and the images whose face is neither staged nor placed (to analyse again)."""
    rows, lost = [], []
    for image in images:
        record = records[image.key]
        staged = staged_path(out.staging, image.key)
        if record.reason is not None:
            staged.unlink(missing_ok=True)
            rows.append(Row(record, image.identity))
            continue
        split = splits[image.key]
        final = out.face_path(split, image.domain, image.name)
        if not out.place(staged, final):
            lost.append(image)
        output = final.relative_to(out.root).as_posix()
        rows.append(Row(record, image.identity, split, output))
    return rows, lost


def split_kept(images: Sequence[SourceImage], records: dict, settings: PrepareSettings) -> dict:
    kept = [image for image in images if records[image.key].reason is None]
    partitions = {i.key: i.partition for i in kept} if settings.celeba_partition else None
    return split_faces(
        [i.key for i in kept],
        {i.key: i.domain for i in kept},
        {i.key: i.identity for i in kept},
        partitions,
        settings.val,
        settings.seed,
    )


def write_sheets(rows: Sequence[Row], settings: PrepareSettings) -> dict[str, str]:
    """Contact sheets of random kept faces per domain and of the photos left out."""
    sheet = settings.contact_sheet
    count, columns, side = int(sheet["faces"]), int(sheet["columns"]), int(sheet["thumb"])
    rng = np.random.default_rng(settings.seed)
    folder = settings.out / "contact_sheets"
    written = {}
    groups: dict[str, list[tuple[Path, str]]] = {}
    for row in rows:
        if row.record.reason is None:
            entry = (settings.out / row.output, row.split)
            groups.setdefault(f"kept_{row.record.domain}", []).append(entry)
        else:
            groups.setdefault("left_out", []).append(
                (settings.source / row.record.key, row.record.reason)
            )
    for name, entries in sorted(groups.items()):
        picked = sorted(rng.permutation(len(entries))[:count].tolist())
        path = contact_sheet(folder / f"{name}.png", [entries[i] for i in picked], columns, side)
        if path is not None:
            title = name.replace("kept_", "kept faces: ").replace("left_out", "photos left out")
            written[title] = path.relative_to(settings.out).as_posix()
    return written


def missing_val_notes(rows: Sequence[Row], settings: PrepareSettings) -> list[str]:
    if settings.val <= 0 or settings.celeba_partition:
        return []
    kept = [row for row in rows if row.record.reason is None]
    domains = sorted({row.record.domain for row in kept})
    with_val = {row.record.domain for row in kept if row.split == VAL}
    return [
        f"domain {domain} has no validation face (too few faces or identities); train without "
        "data.val_root, or add photos"
        for domain in domains
        if domain not in with_val
    ]


def prepare(settings: PrepareSettings) -> dict:
    """Prepare ``settings.source`` into ``settings.out``; returns counts for the summary."""
    check_settings(settings)
    images = list_sources(settings)
    out = OutputFolder(settings.out)
    out.open(settings.fingerprint())
    log.info("prepare-data: %d photos from %s into %s", len(images), settings.source, settings.out)
    records = analyse_all(images, settings, out)
    drop_duplicates(images, records, settings.duplicate_bits)
    splits = split_kept(images, records, settings)
    rows, lost = place_faces(images, records, splits, out)
    if lost:
        log.info("%d staged faces were missing; aligning them again", len(lost))
        with out.journal() as journal:
            for record in analysed(lost, settings.checks, out.staging, 1):
                out.append(journal, record)
                records[record.key] = record
        rows, lost = place_faces(images, records, splits, out)
    out.remove_strays(settings.out / row.output for row in rows if row.output)
    notes = missing_val_notes(rows, settings)
    for note in notes:
        log.warning(note)
    write_csv(settings.out / "prepared.csv", rows)
    sheets = write_sheets(rows, settings)
    shown = {k: v for k, v in settings.fingerprint().items() if k in REPORTED_SETTINGS}
    report = render_report(str(settings.source), shown, rows, sheets, notes)
    write_atomically(settings.out / "report.md", lambda partial: partial.write_text(report))
    kept = sum(row.record.reason is None for row in rows)
    return {"photos": len(rows), "kept": kept, "left_out": len(rows) - kept, "out": settings.out}
