"""What each analysis of ``evaluate.py`` writes, so that a re-run removes what it no longer makes.

A re-run into the same ``output_dir`` with an analysis turned off (or one that produced nothing
this time, e.g. no subset or no figure) would otherwise leave the earlier run's files next to
the new ones, and the folder would contradict its own report. Every file an analysis may write
is declared by its analysis (:mod:`mesynth.evaluation.analyses`), relative to ``output_dir`` (``*`` stands for a name part, such as the subset's
name); after a run, the declared files it did not write are removed and each removal is logged.
Files that are not declared (caches such as ``au/``, W&B runs, anything of the user's) are never
touched.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

# Written by every evaluation, whatever its analyses (last: they mean it finished).
REPORT_OUTPUTS = ("summary.json", "report.md")


def analysis_outputs() -> dict[str, tuple[str, ...]]:
    """Every file each analysis may write (as the registry declares them), and the report."""
    from mesynth.evaluation.analyses import declared_outputs as by_analysis

    return {**by_analysis(), "report": REPORT_OUTPUTS}


def declared_outputs(output_dir: Path) -> dict[Path, str]:
    """The declared outputs present in ``output_dir``, each with the analysis that writes it."""
    output_dir = Path(output_dir)
    found: dict[Path, str] = {}
    for analysis, patterns in analysis_outputs().items():
        for pattern in patterns:
            for path in sorted(output_dir.glob(pattern)):
                if path.is_file():
                    found.setdefault(path, analysis)
    return found


def remove_stale_outputs(output_dir: Path, written: Iterable[Path]) -> list[Path]:
    """Delete the declared outputs in ``output_dir`` that this run did not write; returns them.

    ``written`` lists every file this run wrote (or is about to write, such as the summary and
    report that come last).
    """
    kept = {Path(path).resolve() for path in written}
    removed = []
    for path, analysis in declared_outputs(output_dir).items():
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
