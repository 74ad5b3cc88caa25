"""Writing files so that a file which exists under its final name is complete."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

# A file or folder under construction carries this suffix until it is complete and renamed.
PARTIAL_SUFFIX = ".partial"


def partial_path(path: str | Path) -> Path:
    """Where ``path`` is written until it is complete (``<name>.partial``)."""
    path = Path(path)
    return path.with_name(path.name + PARTIAL_SUFFIX)


def write_atomically(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(partial)`` on a hidden temporary name next to ``path``, then rename it.

    A crash or an error leaves no file under the final name (and removes the temporary one).
    Writers that infer the format from the file name must be told the format explicitly.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}{PARTIAL_SUFFIX}")
    try:
        write(partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path
