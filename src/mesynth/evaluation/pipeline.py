"""``python evaluate.py``: run the analyses of the chosen task and write what they found.

``task=au`` (the default) asks how much facial motion survived synthesis: AU statistics, their
figures, onset -> apex flow of annotated events, temporal consistency and identity.
``task=spotting`` asks whether the synthetic videos help micro/macro-expression spotting. Each
analysis is a unit of :mod:`mesynth.evaluation.analyses`; ``run`` loops over those of the task,
then writes the tables, ``summary.json`` and ``report.md`` (last: their presence means the
evaluation finished), removes what an earlier run left that this one did not make, and logs
everything to the configured logger.
"""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig

import mesynth.evaluation.analyses  # noqa: F401  (registers the analyses of task=au)
from mesynth.config import check_choice
from mesynth.evaluation.common import EvaluationInputError, write_csv, write_json, write_text
from mesynth.evaluation.context import Context
from mesynth.evaluation.outputs import REPORT_OUTPUTS, remove_stale_outputs
from mesynth.evaluation.registry import REGISTRY, Analysis, declared_outputs, tasks
from mesynth.evaluation.report import render
from mesynth.tracking import log_results

log = logging.getLogger(__name__)

SWITCHES = ("auto", "true", "false")


def _switch(cfg: DictConfig, setting: str) -> str:
    node = cfg
    for part in setting.split("."):
        node = node[part]
    text = str(node).strip().lower()
    return check_choice(setting, text, SWITCHES, EvaluationInputError)


def wanted(analysis: Analysis, ctx: Context, notes: list[str]) -> bool:
    """Whether to run ``analysis``: its switch (auto|true|false) and what it lacks, if anything."""
    mode = _switch(ctx.cfg, analysis.switch) if analysis.switch else "auto"
    if mode == "false":
        return False
    missing = analysis.missing(ctx)
    if missing is None:
        return True
    if mode == "true":
        raise EvaluationInputError(f"{analysis.switch}=true but {missing}")
    if analysis.switch:  # an analysis the user can ask for: say why it did not run
        notes.append(f"`{analysis.name}` not run: {missing}.")
        log.warning("%s skipped: %s", analysis.name, missing)
    return False


def run(cfg: DictConfig) -> dict:
    """Evaluate as ``cfg.task`` says; returns the summary (what ``summary.json`` holds)."""
    ctx = Context(cfg)
    task, known = ctx.task, tasks()
    check_choice("task", task, sorted(known), EvaluationInputError, "e.g. task=spotting")
    missing = [p for p in (ctx.output_dir, *ctx.output_dir.parents) if not p.exists()]
    ctx.output_dir.mkdir(parents=True, exist_ok=True)
    for marker in ("summary.json", "report.md"):
        # A finished run's markers must not survive into a run that fails half-way.
        (ctx.output_dir / marker).unlink(missing_ok=True)
    notes: list[str] = []
    try:
        for name in known[task]:
            if wanted(REGISTRY[name], ctx, notes):
                ctx.results[name] = REGISTRY[name].run(ctx)
        return record(ctx, task, notes)
    except BaseException:
        if missing:  # a refused run leaves no empty output_dir (nor folders above it) behind
            remove_if_empty(missing[-1])
        raise


def remove_if_empty(folder: Path) -> None:
    """Remove ``folder`` and its subfolders when none of them holds a file."""
    if any(path.is_file() or path.is_symlink() for path in folder.rglob("*")):
        return
    for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        path.rmdir()
    folder.rmdir()


def record(ctx: Context, task: str, notes: list[str]) -> dict:
    """Write every table, the summary and the report; drop stale outputs; log; return summary."""
    output_dir, summary, tables, figures = ctx.output_dir, {"task": task}, {}, {}
    unlogged: set[str] = set()
    for name, result in ctx.results.items():
        key = REGISTRY[name].key
        summary.update({key: result.summary} if key else result.summary)
        tables.update(result.tables)
        figures.update(result.figures)
        unlogged |= result.unlogged
        notes = result.notes + notes
    if ctx.pairs and all(pair.crop is None for pair in ctx.pairs):
        notes.append(
            "No synthesis crops were found: the whole original frames were scaled to the "
            "synthetic size."
        )
    # An analysis that judged its own inputs untrained has said so already (log and section).
    untrained = ctx.untrained_synthesis()
    if untrained:
        log.warning(
            "the synthetic videos were made with UNTRAINED networks (manifest.json says so): "
            "these numbers test the pipeline, not style transfer"
        )
    reported = any(result.untrained for result in ctx.results.values())
    summary["untrained_synthesis"] = untrained or reported
    written = [write_csv(output_dir / f"{name}.csv", table) for name, table in tables.items()]
    markers = [output_dir / name for name in REPORT_OUTPUTS]
    # An earlier run's outputs of analyses that did not run (or wrote nothing) this time go.
    declared = {**declared_outputs(), "report": REPORT_OUTPUTS}
    remove_stale_outputs(output_dir, [*written, *figures.values(), *markers], declared)
    sections = [
        result.section(figures, output_dir) for result in ctx.results.values() if result.section
    ]
    # Written last: a summary.json and report.md mean the evaluation finished.
    write_json(markers[0], summary)
    write_text(markers[1], render(sections, notes, untrained))
    log.info("evaluation (%s) written to %s", task, output_dir)
    logged = {name: table for name, table in tables.items() if name not in unlogged}
    log_results(ctx.cfg, logged, figures, summary)
    return summary
