"""The output folder of prepare-data, the one place that knows its layout.

``OUT/train/<domain>/``, ``OUT/val/<domain>/`` (``OUT/test/`` for CelebA's partition),
``OUT/prepared.csv``, ``OUT/report.md``, ``OUT/contact_sheets/``, and the working folder
``OUT/.prepare/``: ``settings.json`` (what this folder is a preparation of), ``records.jsonl``
(one line per analysed photo, appended as they finish: a re-run skips them) and ``staged/``
(aligned faces waiting for the near-duplicate check). Every file is written under a temporary
name and renamed, so a file under its final name is complete; the source is only read.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from mesynth.atomic import write_atomically
from mesynth.prepare.analyse import Record
from mesynth.prepare.sources import PrepareError

WORK_DIR = ".prepare"
OUTPUT_FILES = ("prepared.csv", "report.md", "contact_sheets")
SPLIT_DIRS = ("train", "val", "test")


class OutputFolder:
    """``OUT``: checks it may be written, then records, stages and places the faces."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.work = self.root / WORK_DIR
        self.staging = self.work / "staged"
        self.settings_path = self.work / "settings.json"
        self.records_path = self.work / "records.jsonl"

    def face_path(self, split: str, domain: str, name: str) -> Path:
        return self.root / split / domain / f"{name}.png"

    def refusal(self, settings: dict) -> str | None:
        """Why this run may not write into ``OUT`` (another preparation there), or None."""
        if not self.root.exists():
            return None
        if not self.root.is_dir():
            return f"OUT {self.root} is a file; give a folder (new or empty) for the training set"
        if self.settings_path.is_file():
            previous = json.loads(self.settings_path.read_text())
            if previous == settings:
                return None
            changed = sorted(
                k for k in settings.keys() | previous.keys() if previous.get(k) != settings.get(k)
            )
            details = ", ".join(
                f"{k}: {previous.get(k)!r} there, {settings.get(k)!r} now" for k in changed
            )
            return (
                f"OUT {self.root} holds a preparation with other settings ({details}); give "
                "another OUT, or delete that folder to prepare it again"
            )
        if any(self.root.iterdir()):
            return (
                f"OUT {self.root} is not empty and is not a prepare-data output (no "
                f"{WORK_DIR}/settings.json); give a new or empty folder"
            )
        return None

    def open(self, settings: dict) -> None:
        """Refuse (nothing written) or claim ``OUT`` for this preparation."""
        problem = self.refusal(settings)
        if problem is not None:
            raise PrepareError(problem)
        if not self.settings_path.is_file():
            text = json.dumps(settings, indent=1, sort_keys=True)
            write_atomically(self.settings_path, lambda partial: partial.write_text(text))
        self.staging.mkdir(parents=True, exist_ok=True)

    def done_records(self) -> dict[str, Record]:
        """Records of photos analysed by earlier runs (a line cut short by a kill is redone)."""
        if not self.records_path.is_file():
            return {}
        records = {}
        with self.records_path.open(encoding="utf-8") as handle:
            for line in handle:
                try:
                    record = Record.from_dict(json.loads(line))
                except (ValueError, KeyError, TypeError):
                    continue
                records[record.key] = record
        return records

    def journal(self):
        """Append-only handle for new records (one JSON line each, flushed at once)."""
        self.work.mkdir(parents=True, exist_ok=True)
        if self.records_path.is_file() and self.records_path.stat().st_size:
            with self.records_path.open("rb+") as handle:
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":
                    handle.write(b"\n")  # end a line cut short by a kill
        return self.records_path.open("a", encoding="utf-8")

    @staticmethod
    def append(journal, record: Record) -> None:
        journal.write(json.dumps(record.to_dict()) + "\n")
        journal.flush()

    def place(self, staged: Path, final: Path) -> bool:
        """Move a staged face to its final name; False when neither exists (redo it)."""
        if final.is_file() and not staged.is_file():
            return True
        if not staged.is_file():
            return False
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, final)
        return True

    def remove_strays(self, expected: Iterable[Path]) -> list[Path]:
        """Faces under train/val/test that this preparation does not place (a split changed by
        a resumed run cannot happen, but a face moved by hand can): removed, and returned."""
        keep = {path.resolve() for path in expected}
        strays = []
        for split in SPLIT_DIRS:
            folder = self.root / split
            if not folder.is_dir():
                continue
            for path in folder.rglob("*.png"):
                if path.resolve() not in keep:
                    path.unlink()
                    strays.append(path)
        return strays
