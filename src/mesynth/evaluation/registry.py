"""The registry of the analyses of ``evaluate.py``: what an analysis is, and which there are.

An analysis declares the files it may write (``outputs``, so a re-run removes what it no longer
makes), says what it lacks to run (``missing``), and returns an :class:`AnalysisResult`: its
tables (written as ``<name>.csv``), its summary entries, its figures and its section of
``report.md``. Each analysis registers itself with :func:`register` in its own module: those of
the AU task in :mod:`mesynth.evaluation.analyses`, the spotting experiment in
:mod:`mesynth.spotting.analysis` (the entry points import it, so evaluation never imports
spotting). A task runs its analyses by their ``rank``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from mesynth.evaluation.context import Context


@dataclass
class AnalysisResult:
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    summary: dict = field(default_factory=dict)  # merged into summary.json (see Analysis.key)
    figures: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # The report section, rendered once every analysis has run (it may show their figures).
    section: Callable[[dict[str, Path], Path], str] | None = None
    unlogged: set[str] = field(default_factory=set)  # tables written but not sent to the logger
    # Its inputs were made with untrained networks, and it has said so (log and section).
    untrained: bool = False


class Analysis:
    """One named analysis of ``task``. ``switch``: the config key of its auto|true|false switch."""

    name = ""
    task = "au"
    rank = 0  # its place in the task: lower runs first (later ones may use earlier results)
    outputs: tuple[str, ...] = ()
    switch: str | None = None
    key: str | None = None  # summary.json key of its entries; None: the top level

    def missing(self, ctx: Context) -> str | None:
        """What the analysis lacks to run (None: it can run)."""
        return None

    def run(self, ctx: Context) -> AnalysisResult:
        raise NotImplementedError


REGISTRY: dict[str, Analysis] = {}


def register(analysis: type[Analysis]) -> type[Analysis]:
    """Class decorator: add one instance of ``analysis`` to the registry, under its name."""
    REGISTRY[analysis.name] = analysis()
    return analysis


def tasks() -> dict[str, tuple[str, ...]]:
    """The analyses of each task, in the order they run (later ones may use earlier results)."""
    found: dict[str, list[Analysis]] = {}
    for analysis in REGISTRY.values():
        found.setdefault(analysis.task, []).append(analysis)
    return {
        task: tuple(a.name for a in sorted(analyses, key=lambda a: a.rank))
        for task, analyses in found.items()
    }


def declared_outputs() -> dict[str, tuple[str, ...]]:
    """Every file each analysis may write, relative to output_dir (``*``: a name part)."""
    return {name: analysis.outputs for name, analysis in REGISTRY.items()}
