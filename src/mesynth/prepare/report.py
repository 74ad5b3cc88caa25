"""What a preparation made: ``prepared.csv`` (every source photo), ``report.md`` (counts and
reasons) and contact sheets (random kept faces per domain, and the photos left out)."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mesynth.atomic import write_atomically
from mesynth.media import MediaError, read_image
from mesynth.prepare.analyse import Record, write_png
from mesynth.prepare.filters import REASONS

CSV_COLUMNS = (
    "file",
    "status",
    "reason",
    "detail",
    "domain",
    "split",
    "identity",
    "output",
    "width",
    "height",
    "faces",
    "centre_x",
    "centre_y",
    "half_side",
    "angle",
    "sharpness",
    "hash",
)


@dataclass
class Row:
    """A record with where it ended up: ``split`` and ``output`` are empty for left-out photos."""

    record: Record
    identity: str | None
    split: str = ""
    output: str = ""

    def values(self) -> dict:
        data = self.record.to_dict()
        data.update(
            file=self.record.key,
            status="kept" if self.record.reason is None else "left_out",
            reason=self.record.reason or "",
            split=self.split,
            output=self.output,
            identity=self.identity or "",
        )
        return {column: "" if data.get(column) is None else data[column] for column in CSV_COLUMNS}


def write_csv(path: Path, rows: Sequence[Row]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(row.values() for row in rows)
    write_atomically(path, lambda partial: partial.write_text(buffer.getvalue(), encoding="utf-8"))


def read_csv(path: Path) -> list[dict[str, str]]:
    with Path(path).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def render_report(
    source: str, settings: Mapping, rows: Sequence[Row], sheets: Mapping[str, str], notes: list
) -> str:
    """report.md: counts per domain and split, reasons for leaving photos out, the sheets."""
    kept = [row for row in rows if row.record.reason is None]
    splits = sorted({row.split for row in kept}, key=("train", "val", "test").index)
    domains = sorted({row.record.domain for row in rows})
    counts = Counter((row.record.domain, row.split) for row in kept)
    per_domain = [
        [
            domain,
            *(counts[domain, split] for split in splits),
            sum(counts[domain, s] for s in splits),
        ]
        for domain in domains
    ]
    reasons = Counter(row.record.reason for row in rows if row.record.reason is not None)
    lines = [
        "# Prepared training set",
        "",
        f"Source: `{source}`; {len(rows)} photos, {len(kept)} kept, {len(rows) - len(kept)} left out.",
        "Faces aligned as synthesis aligns them for `crop=fixed` (mesynth.faces.align).",
        f"Settings: {', '.join(f'{k}={v}' for k, v in settings.items())}.",
        "",
        "## Kept faces per domain and split",
        "",
        *_table(["domain", *splits, "total"], per_domain),
        "",
        "## Photos left out",
        "",
        *_table(
            ["reason", "photos"], [[r, reasons[r]] for r in REASONS if reasons[r]] or [["-", 0]]
        ),
        "",
        "Every photo, kept or not, with its reason, domain, split and alignment: `prepared.csv`.",
    ]
    if notes:
        lines += ["", "## Notes", "", *[f"- {note}" for note in notes]]
    if sheets:
        lines += ["", "## Contact sheets", ""]
        lines += [f"### {title}\n\n![{title}]({path})\n" for title, path in sheets.items()]
    return "\n".join(lines) + "\n"


def _tile(image: np.ndarray, side: int, caption: str = "") -> np.ndarray:
    """``image`` letterboxed onto a ``side`` square, with an optional caption."""
    height, width = image.shape[:2]
    scale = side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    tile = np.full((side, side, 3), 255, dtype=np.uint8)
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    top, left = (side - size[1]) // 2, (side - size[0]) // 2
    tile[top : top + size[1], left : left + size[0]] = small
    if caption:
        cv2.rectangle(tile, (0, side - 14), (side, side), (0, 0, 0), -1)
        cv2.putText(tile, caption[:18], (2, side - 3), cv2.FONT_HERSHEY_SIMPLEX, 0.33, (255,) * 3)
    return tile


def contact_sheet(
    path: Path, images: Sequence[tuple[Path, str]], columns: int, side: int
) -> Path | None:
    """A grid of ``(image file, caption)`` thumbnails as PNG; unreadable files show as grey."""
    if not images:
        return None
    tiles = []
    for file, caption in images:
        try:
            picture = read_image(file)
        except MediaError:
            picture = np.full((side, side, 3), 128, dtype=np.uint8)
        tiles.append(_tile(picture, side, caption))
    blank = np.full_like(tiles[0], 255)
    tiles += [blank] * (-len(tiles) % columns)
    rows = [np.hstack(tiles[i : i + columns]) for i in range(0, len(tiles), columns)]
    write_png(path, np.vstack(rows))
    return path
