"""What each analysis of ``evaluate.py`` writes, so that a re-run removes what it no longer makes.

A re-run into the same ``output_dir`` with an analysis turned off (or one that produced nothing
this time, e.g. no subset or no figure) would otherwise leave the earlier run's files next to
the new ones, and the folder would contradict its own report. Every file an analysis may write
is declared by its analysis (:mod:`mesynth.evaluation.registry`), relative to ``output_dir``
(``*`` stands for a name part, such as the subset's name); after a run, the declared files it
did not write are removed and each removal is logged.
Files that are not declared (caches such as ``au/``, W&B runs, anything of the user's) are never
touched.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path

log = logging.getLogger(__name__)

# Written by every evaluation, whatever its analyses (last: they mean it finished).
REPORT_OUTPUTS = ("summary.json", "report.md")


Declared = Mapping[str, Iterable[str]]  # analysis -> the patterns of the files it may write


def declared_outputs(output_dir: Path, declared: Declared) -> dict[Path, str]:
    """The ``declared`` outputs present in ``output_dir``, each with the analysis that writes it."""
    output_dir = Path(output_dir)
    found: dict[Path, str] = {}
    for analysis, patterns in declared.items():
        for pattern in patterns:
            for path in sorted(output_dir.glob(pattern)):
                if path.is_file():
                    found.setdefault(path, analysis)
    return found


def remove_stale_outputs(
    output_dir: Path, written: Iterable[Path], declared: Declared
) -> list[Path]:
    """Delete the ``declared`` outputs in ``output_dir`` that this run did not write; returns
    them.

    ``written`` lists every file this run wrote (or is about to write, such as the summary and
    report that come last); ``declared``: the file patterns of every analysis (and the report).
    """
    kept = {Path(path).resolve() for path in written}
    removed = []
    for path, analysis in declared_outputs(output_dir, declared).items():
        if path.resolve() in kept:
            continue
        path.unlink()
        removed.append(path)
        log.info(
            "removed %s: a %s output of an earlier run into %s, not written by this run",
            path.relative_to(output_dir).as_posix(),
            analysis,
            output_dir,
        )
    return removed
