"""``python evaluate.py task=spotting``: does synthetic data help micro/macro-expression spotting?

Leave-one-subject-out folds (participant from the video id, ``participant_regex``); in every
fold a fresh spotter is fitted (trained or calibrated) on the training participants only and
tested on the held-out participant's original videos, under the conditions of
:mod:`mesynth.spotting.folds`. Scores follow the MEGC protocol (:mod:`mesynth.spotting.scoring`),
pooled over subjects, with bootstrap intervals over subjects (:mod:`mesynth.spotting.summary`).

:func:`evaluate` computes everything and returns it (tables, summary entries, figures, a report
section); the ``spotting`` analysis (:mod:`mesynth.spotting.analysis`) hands it to the
evaluation, which writes it to ``output_dir`` and logs it like every other analysis.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig

from mesynth.config import check_choice
from mesynth.evaluation.common import EvaluationInputError, choose_videos
from mesynth.spotting.data import SpottingInputs, VideoEntry, frozen_entries, load_inputs
from mesynth.spotting.folds import (
    FROZEN,
    P_STEPS,
    PRESERVATION_RELEASED,
    TESTED_ON_SYNTHETIC,
    FoldOutcome,
    frozen_set,
    run_folds,
)
from mesynth.spotting.outputs import (
    F1_BY_P_TABLE,
    FOLDS_TABLE,
    PREDICTIONS_PREFIX,
    RELEASED_CURVES_TABLE,
    SUMMARY_TABLE,
)
from mesynth.spotting.presets import Preset, apply_preset
from mesynth.spotting.scoring import MATCHINGS, predictions_table
from mesynth.spotting.summary import (
    OVERALL,
    SAME_SPOTTER_ON_ORIGINALS,
    TYPES,
    f1_by_p,
    fold_table,
    summary_table,
)
from mesynth.spotting.types import EXPRESSION_TYPES, SpottingVideo

log = logging.getLogger(__name__)

# Published overall F1 on the full datasets, with their protocol (MEGC2020: IoU >= 0.5, counts
# pooled over all videos, leave-one-subject-out for SOFTNet).
PUBLISHED = (
    ("MEGC2020 baseline (MDMD, He et al. 2020)", 0.0445, 0.0376,
     "training-free; k 80/260 (SAMM-LV), 12/39 (CAS(ME)^2); p = 0.01; MEGC length filters"),
    ("SOFTNet (Liong et al. 2021)", 0.1881, 0.2022,
     "trained per leave-one-subject-out fold on the real videos; p = 0.55"),
)  # fmt: skip


@dataclass
class SpottingResults:
    """What the experiment produced (written and logged by the evaluation pipeline)."""

    tables: dict[str, pd.DataFrame]  # name -> table (written as <name>.csv)
    summary: dict
    figures: dict[str, Path] = field(default_factory=dict)
    report: str = ""  # the markdown section for report.md


def predictions_name(label: str) -> str:
    """Table (and file) name of an arm's predictions: ``spotting_predictions_original+synthetic``."""
    return PREDICTIONS_PREFIX + re.sub(r"[^\w+.-]+", "_", label).strip("_")


def _build_spotter(node: DictConfig, seed: int):
    from mesynth.spotting.spotters import build_spotter

    return build_spotter(node, seed)


def _training_free(node: DictConfig | None) -> bool:
    """Whether the configured spotter learns nothing but a threshold (flow_peaks)."""
    from mesynth.spotting.spotters import SPOTTERS, build_spotter

    if node is None or node.get("name") not in SPOTTERS:
        return False
    return bool(getattr(build_spotter(node, 0), "training_free", False))


def _spotter_name(node: DictConfig) -> str:
    name = node.get("name") if node is not None else None
    if name:
        return str(name)
    target = str(node.get("_target_", "spotter")) if node is not None else "spotter"
    return target.rsplit(".", 1)[-1]


def _sets(inputs: SpottingInputs, frozen: bool) -> dict[str, list[VideoEntry]]:
    """The synthetic sets to compute features of, with each one's frozen control if asked."""
    sets = dict(inputs.synthetic)
    if frozen:
        sets |= {frozen_set(name): frozen_entries(v) for name, v in inputs.synthetic.items()}
    return sets


def _feature_jobs(inputs: SpottingInputs, sets: dict[str, list[VideoEntry]]):
    """Every video's entry and feature job: originals first, then each set in order."""
    from mesynth.spotting.features import FeatureJob

    fps_of = {entry.video_id: entry.source.fps for entry in inputs.originals}
    entries: list[VideoEntry] = [*inputs.originals]
    jobs = [FeatureJob(e.name, e.source, e.crop, e.source.fps) for e in inputs.originals]
    for set_name, videos in sets.items():
        entries.extend(videos)
        # Job names must differ: synthetic videos may be named like their originals.
        jobs.extend(
            FeatureJob(f"{set_name}/{e.name}", e.source, e.crop, fps_of.get(e.video_id))
            for e in videos
        )
    return entries, jobs


def _features(inputs: SpottingInputs, cfg: DictConfig, entries, jobs, maps, spotter) -> list:
    """mesynth's motion features of the jobs, or the spotter's own (``video_features``)."""
    from mesynth.config import resolve_num_workers
    from mesynth.spotting.feature_cache import compute_many
    from mesynth.spotting.features import FeatureSettings

    spotting = cfg.spotting
    run = (
        Path(str(spotting.cache_dir)),
        resolve_num_workers(spotting.workers, "spotting.workers"),
        bool(spotting.progress),
    )
    own = getattr(spotter, "video_features", None)
    if own is None:
        settings = FeatureSettings.from_config(spotting.features, maps=maps)
        return compute_many(jobs, settings, *run)
    by_participant: dict[str, list] = {}
    for entry in inputs.originals:
        events = inputs.ground_truth.get(entry.video_id, [])
        by_participant.setdefault(entry.participant, []).extend(events)
    participants = [entry.participant for entry in entries]
    return own(jobs, participants, inputs.ground_truth, by_participant, *run)


def spotting_videos(
    inputs: SpottingInputs,
    cfg: DictConfig,
    maps: bool | None = None,
    spotter=None,
    frozen: bool = False,
) -> tuple[list[SpottingVideo], dict[str, list[SpottingVideo]]]:
    """Motion features of every video (cached, in worker processes), as :class:`SpottingVideo`;
    ``maps``: whether the spotter reads flow maps (None: as ``spotting.features`` says). A
    ``spotter`` with features of its own (``video_features``, SOFTNet's) computes them instead.
    ``frozen``: also each set's frozen control (under :func:`frozen_set` of its name).

    Synthetic frames are the face crop already; they are read at their original's frame rate.
    """
    sets = _sets(inputs, frozen)
    entries, jobs = _feature_jobs(inputs, sets)
    features = _features(inputs, cfg, entries, jobs, maps, spotter)
    made = [
        SpottingVideo(
            video_id=entry.video_id,
            participant=entry.participant,
            fps=float(feature.fps),
            features=feature,
            events=list(inputs.ground_truth.get(entry.video_id, [])),
            name=entry.name,
            origin=entry.origin,
        )
        for entry, feature in zip(entries, features, strict=True)
    ]
    originals = made[: len(inputs.originals)]
    synthetic: dict[str, list[SpottingVideo]] = {}
    position = len(inputs.originals)
    for set_name, videos in sets.items():
        synthetic[set_name] = made[position : position + len(videos)]
        position += len(videos)
    return originals, synthetic


def curve_videos(cfg: DictConfig, originals: list[SpottingVideo]) -> list[str]:
    """The originals whose score curves are drawn: the configured ones, else the first
    ``max_videos`` that have events."""
    figures = cfg.spotting.figures
    return choose_videos(
        "spotting.figures.videos",
        figures.videos,
        [video.video_id for video in originals],
        figures.max_videos,
        "the original videos",
        default=[video.video_id for video in originals if video.events],
    )


def _check_settings(cfg: DictConfig) -> None:
    spotting = cfg.spotting
    check_choice("spotting.matching", str(spotting.matching), MATCHINGS, EvaluationInputError)
    if not 0 < float(spotting.iou) <= 1:
        raise EvaluationInputError(f"spotting.iou={spotting.iou} must lie in (0, 1]; MEGC uses 0.5")


def evaluate(cfg: DictConfig) -> SpottingResults:
    """Run the experiment; figures are written under ``<output_dir>/figures``."""
    _check_settings(cfg)
    preset = apply_preset(cfg)
    spotting = cfg.spotting
    spotter_node = cfg.get("spotter")
    if spotter_node is None:
        raise EvaluationInputError(
            "task=spotting needs a spotter: add spotter=flow_peaks or softnet"
        )
    # Built once up front: a bad spotter setting stops the run before any feature is computed.
    probe = _build_spotter(spotter_node, int(spotting.seed))
    inputs = load_inputs(cfg)
    log.info("%s", ground_truth_line(inputs, preset))
    frozen = FROZEN in spotting.conditions
    needs_maps = getattr(probe, "needs_maps", None)
    originals, synthetic = spotting_videos(inputs, cfg, needs_maps, probe, frozen)
    chosen_curves = curve_videos(cfg, originals) if spotting.figures.enabled else []
    log.info(
        "spotting: %s, %d original videos of %d participants, synthetic sets %s",
        _spotter_name(spotter_node),
        len(originals),
        len({v.participant for v in originals}),
        {name: len(videos) for name, videos in synthetic.items()} or "none",
    )
    outcome = run_folds(
        originals,
        synthetic,
        lambda seed: _build_spotter(spotter_node, seed),
        conditions=[str(c) for c in spotting.conditions],
        seed=int(spotting.seed),
        iou_threshold=float(spotting.iou),
        matching=str(spotting.matching),
        curve_videos=chosen_curves,
        progress=bool(spotting.progress),
        lengths=preset.lengths if preset else None,
    )
    if PRESERVATION_RELEASED in spotting.conditions:
        from mesynth.spotting.released import run_released

        folds_of = {fold.held_out: fold.index for fold in outcome.folds}
        outcome.add_released(run_released(inputs, cfg, folds_of, chosen_curves))
    return assemble(cfg, inputs, outcome, preset)


def softnet_ap_entries(outcome: FoldOutcome, inputs: SpottingInputs) -> dict:
    """SOFTNet's COCO AP@[.5:.95] per arm and type (``matching=softnet``), over the original
    videos in natural order; arms tested on synthetic videos have none."""
    from natsort import natsorted

    from mesynth.spotting.scoring import softnet_coco_ap

    order = natsorted(inputs.ground_truth)
    entries = {}
    for label, predictions in outcome.predictions.items():
        if not any(p.video in inputs.ground_truth for p in predictions):
            continue
        entries[label] = {
            kind: softnet_coco_ap(predictions, inputs.ground_truth, kind, order)
            for kind in EXPRESSION_TYPES
        }
    return entries


def _result_tables(
    outcome: FoldOutcome, folds: pd.DataFrame, summary: pd.DataFrame, by_p: pd.DataFrame
) -> dict[str, pd.DataFrame]:
    tables = {FOLDS_TABLE: folds, SUMMARY_TABLE: summary}
    if not by_p.empty:
        tables[F1_BY_P_TABLE] = by_p
    for label, predictions in outcome.predictions.items():
        tables[predictions_name(label)] = predictions_table(predictions, with_score=True)
    if outcome.released is not None:
        tables[RELEASED_CURVES_TABLE] = outcome.released.curves
    return tables


def _result_figures(
    cfg: DictConfig, outcome: FoldOutcome, summary: pd.DataFrame, by_p: pd.DataFrame
) -> dict[str, Path]:
    """The figures the outcome has data for, under ``<output_dir>/figures``."""
    from mesynth.spotting import figures as plots

    spotting = cfg.spotting
    figures: dict[str, Path] = {}
    figure_dir = Path(str(cfg.output_dir)) / "figures"
    dpi = int(spotting.figures.dpi)
    confidence = float(spotting.bootstrap.confidence)
    figures["spotting_f1"] = plots.f1_by_condition(
        summary, figure_dir / "spotting_f1_by_condition.png", dpi, confidence
    )
    if outcome.curves:
        figures["spotting_curves"] = plots.score_curves(
            outcome.curves,
            figure_dir / "spotting_score_curves.png",
            dpi,
            float(spotting.iou),
        )
    if not by_p.empty:
        figures["spotting_f1_by_p"] = plots.f1_against_p(
            by_p, figure_dir / "spotting_f1_by_p.png", dpi
        )
    if outcome.released is not None and outcome.released.traces:
        figures["spotting_released_curves"] = plots.released_curves(
            outcome.released.traces, figure_dir / "spotting_released_curves.png", dpi
        )
    return figures


# The summary's numbers per (condition, type) in summary.json.
_CONDITION_KEYS = (
    "n_pred", "n_tp", "n_gt", "precision", "recall", "f1", "f1_low", "f1_high",
    "f1_diff", "f1_diff_low", "f1_diff_high",
)  # fmt: skip


def _condition_entries(summary: pd.DataFrame) -> dict:
    return {
        label: {
            row["type"]: {key: row[key] for key in _CONDITION_KEYS} for _, row in rows.iterrows()
        }
        for label, rows in summary.groupby("label", sort=False)
    }


def _summary_entries(
    cfg: DictConfig,
    inputs: SpottingInputs,
    outcome: FoldOutcome,
    summary: pd.DataFrame,
    by_p: pd.DataFrame,
    untrained: list[str],
    preset: Preset | None,
) -> dict:
    """summary.json's spotting entries."""
    spotting = cfg.spotting
    return {
        "spotter": _spotter_name(cfg.get("spotter")),
        "matching": str(spotting.matching),
        "iou": float(spotting.iou),
        "n_folds": len(outcome.folds),
        "participants": [fold.held_out for fold in outcome.folds],
        "n_original_videos": len(inputs.originals),
        "synthetic_sets": {name: len(videos) for name, videos in inputs.synthetic.items()},
        "untrained_synthesis": untrained,
        "annotations": str(inputs.annotations),
        "n_gt": inputs.n_gt(),
        "preset": preset.name if preset else None,
        "known_totals": preset.known_totals if preset else None,
        "left_out_videos": inputs.coverage.left_out if inputs.coverage else [],
        "fits": _records(outcome.fits),
        "f1_by_p": {
            label: {kind: rows[rows["type"] == kind]["f1"].tolist() for kind in TYPES}
            for label, rows in by_p.groupby("label", sort=False)
        },
        "p_steps": list(P_STEPS),
        "preservation_released": released_entries(outcome.released),
        "coco_ap": softnet_ap_entries(outcome, inputs) if spotting.matching == "softnet" else None,
        "conditions": _condition_entries(summary),
    }


def assemble(
    cfg: DictConfig, inputs: SpottingInputs, outcome: FoldOutcome, preset: Preset | None = None
) -> SpottingResults:
    """Tables, summary entries, figures and the report section from the folds' outcome."""
    spotting = cfg.spotting
    folds = fold_table(outcome.counts, outcome.fits)
    summary = summary_table(
        folds,
        outcome.arms,
        n_resamples=int(spotting.bootstrap.n_resamples),
        confidence=float(spotting.bootstrap.confidence),
        seed=int(spotting.bootstrap.seed),
    )
    by_p = f1_by_p(outcome.sweep)
    tables = _result_tables(outcome, folds, summary, by_p)
    figures = _result_figures(cfg, outcome, summary, by_p) if spotting.figures.enabled else {}
    untrained = sorted(name for name, flag in inputs.untrained.items() if flag)
    if untrained:
        log.warning(
            "synthetic set(s) %s were made with UNTRAINED networks (manifest.json says so): "
            "their numbers test the pipeline, not style transfer",
            untrained,
        )
    entries = _summary_entries(cfg, inputs, outcome, summary, by_p, untrained, preset)
    report = render_section(cfg, inputs, outcome, summary, figures, untrained, preset)
    return SpottingResults(tables, entries, figures, report)


def released_entries(released) -> dict | None:
    """summary.json's ``preservation_released``: k, folds and the curves' correlations."""
    if released is None:
        return None
    curves = released.curves
    return {
        "dataset": released.dataset,
        "k": released.ks,
        "folds": released.folds,
        "median_correlation": {
            name: {kind: _median(rows[rows["type"] == kind]["correlation"]) for kind in TYPES[:2]}
            for name, rows in curves.groupby("synthetic_set", sort=False)
        },
    }


def _median(values: pd.Series) -> float | None:
    defined = values.dropna()
    return float(defined.median()) if len(defined) else None


def released_lines(summary: pd.DataFrame, released, confidence: int) -> list[str]:
    """The report's paragraph on preservation judged by the released SOFTNet models."""
    if released is None:
        return []
    rows = summary[(summary["condition"] == PRESERVATION_RELEASED) & (summary["type"] == OVERALL)]
    which = (
        f"fold sN of {released.dataset} held out participant N"
        if released.dataset
        else "the mean of all released folds (no participant here was in SOFTNet's training)"
    )
    lines = [
        "**Preservation judged by SOFTNet's released models** (trained on real videos; "
        f"{which}; k {released.ks}, no training): overall F1",
        "",
    ]
    for _, row in rows.iterrows():
        lines.append(
            f"- `{row['label']}`: originals {row['f1_reference']:.3f}, synthetic "
            f"{row['f1']:.3f}, difference {row['f1_diff']:+.3f} "
            f"{_interval(row['f1_diff_low'], row['f1_diff_high'])} ({confidence}% paired "
            "bootstrap over subjects)"
        )
    for name, by_type in released_entries(released)["median_correlation"].items():
        text = ", ".join(
            f"{kind} {value:.3f}" if value is not None else f"{kind} n/a"
            for kind, value in by_type.items()
        )
        lines.append(
            f"- score curves original vs synthetic, median correlation per video (`{name}`): {text}"
        )
    return [*lines, f"- per video: `{RELEASED_CURVES_TABLE}.csv`", ""]


def published_lines(summary: pd.DataFrame, preset: Preset | None = None) -> list[str]:
    """Published overall F1 on SAMM-LV and CAS(ME)^2 next to this run's ``original``."""
    ours = summary[(summary["label"] == "original") & (summary["type"] == "overall")]
    f1 = f"{float(ours['f1'].iloc[0]):.4f}" if len(ours) else "n/a"
    columns = {"samm_lv": f"{f1} | ", "casme2": f" | {f1}"}
    this_run = columns.get(preset.name if preset else "", f"{f1} on this dataset | ")
    return [
        "Published overall F1 (full datasets, MEGC2020 protocol: IoU >= 0.5, counts pooled over "
        "all videos) next to this run's `original` condition, which is comparable only on the "
        "same dataset, spotter and protocol:",
        "",
        "| method | SAMM-LV | CAS(ME)^2 | protocol |",
        "| --- | ---: | ---: | --- |",
        *[f"| {name} | {samm:.4f} | {casme:.4f} | {how} |" for name, samm, casme, how in PUBLISHED],
        f"| this run, `original` | {this_run} | leave-one-subject-out as above |",
        "",
    ]


def ground_truth_line(inputs: SpottingInputs, preset: Preset | None) -> str:
    """Ground-truth events per type, next to the dataset's known totals under a preset."""
    counts = inputs.n_gt()
    if preset is None:
        return "Ground truth scored: " + ", ".join(f"{n} {k}" for k, n in counts.items()) + "."
    parts = [
        f"{kind} {counts[kind]} of {preset.known_totals[kind]}"
        + ("" if counts[kind] == preset.known_totals[kind] else " (**differs**)")
        for kind in counts
    ]
    return (
        f"Ground truth scored against {preset.dataset}'s known totals (as MEGC2020 counts them): "
        + ", ".join(parts)
        + f". Preset `{preset.name}`: intervals kept only within the MEGC2020 baseline's lengths "
        + ", ".join(
            f"{kind} {low}-{high if high is not None else 'any'} frames"
            for kind, (low, high) in preset.lengths.items()
        )
        + "."
    )


def _records(table: pd.DataFrame) -> list[dict]:
    """Rows as plain dicts for summary.json (NaN as null)."""
    if table.empty:
        return []
    return [
        {key: (None if isinstance(v, float) and math.isnan(v) else v) for key, v in row.items()}
        for row in table.to_dict("records")
    ]


def fit_lines(fits: pd.DataFrame) -> list[str]:
    """What the spotters chose in ``fit``, per arm: the range of ``p`` and ``extent`` over the
    folds, how many fits landed on a grid edge or learnt nothing."""
    if fits.empty or "p" not in fits:
        return []
    lines = ["Calibrated per fold (`p`, `extent` in `spotting_folds.csv` and `summary.json`):", ""]
    for label, rows in fits.groupby("label", sort=False):
        edge = int((rows["grid_edge"].astype(str) != "").sum()) if "grid_edge" in rows else 0
        nothing = int(rows["learnt_nothing"].sum()) if "learnt_nothing" in rows else 0
        text = (
            f"- `{label}`: p {rows['p'].min():g}-{rows['p'].max():g}, extent "
            f"{rows['extent'].min():g}-{rows['extent'].max():g} over {len(rows)} fold(s)"
        )
        if edge:
            text += (
                f"; **{edge} on the edge of the grid** (widen `spotter.peaks.p_grid`/`extent_grid`)"
            )
        if nothing:
            text += f"; {nothing} found no training event and predict nothing"
        lines.append(text)
    return [*lines, ""]


def _interval(low: float, high: float) -> str:
    """``[low, high]``; n/a when no resample had a prediction or an interval of the type."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return "[n/a]"
    return f"[{low:.3f}, {high:.3f}]"


def _protocol_lines(
    cfg: DictConfig,
    inputs: SpottingInputs,
    outcome: FoldOutcome,
    untrained: list[str],
    preset: Preset | None,
    confidence: int,
) -> list[str]:
    """The section's title, how the folds were run and the summary table's head."""
    spotting = cfg.spotting
    sets = ", ".join(f"`{name}` ({len(v)} videos)" for name, v in inputs.synthetic.items())
    lines = ["## Spotting: does synthetic data help?", ""]
    if untrained:
        lines += [
            f"**Synthetic set(s) {', '.join(untrained)} were made with UNTRAINED networks: "
            "their rows test the pipeline, not style transfer.**",
            "",
        ]
    return lines + [
        f"Spotter `{_spotter_name(cfg.get('spotter'))}`, leave-one-subject-out over "
        f"{len(outcome.folds)} participants ({len(inputs.originals)} original videos"
        + (f"; synthetic {sets}" if sets else "")
        + f"). MEGC protocol: IoU >= {float(spotting.iou):g}, matching `{spotting.matching}`, "
        "counts pooled over subjects. In every fold the spotter is trained or calibrated on the "
        "training participants only (the held-out participant's original and synthetic videos "
        "never reach training) and tested on the held-out participant's originals; every "
        "condition uses the same folds and seeds. Intervals: "
        f"{confidence}% bootstrap over subjects ({int(spotting.bootstrap.n_resamples)} "
        f"resamples, seed {int(spotting.bootstrap.seed)}); the difference is paired.",
        "",
        ground_truth_line(inputs, preset),
        "",
        "| condition | type | predictions | TP | ground truth | precision | recall | F1 "
        f"[{confidence}% CI] | F1 - reference [{confidence}% CI] |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]


def _summary_row(row: pd.Series) -> str:
    """One (condition, type) of the summary as a row of the report's table."""
    label = row["label"]
    if row["condition"] in TESTED_ON_SYNTHETIC:
        label = f"{label} (tested on synthetic)"
    elif row["condition"] == FROZEN:
        label = f"{label} (control: frozen frames)"
    reference = (
        ""
        if row["label"] == "original"
        else (f"{row['f1_diff']:+.3f} {_interval(row['f1_diff_low'], row['f1_diff_high'])}")
    )
    return (
        f"| {label} | {row['type']} | {row['n_pred']} | {row['n_tp']} | {row['n_gt']} | "
        f"{row['precision']:.3f} | {row['recall']:.3f} | {row['f1']:.3f} "
        f"{_interval(row['f1_low'], row['f1_high'])} | {reference} |"
    )


_CONDITION_NOTES = [
    "",
    "Reference: `original` for the training conditions; for `preservation` (the "
    f"original-trained spotter on the held-out participants' synthetic videos), the "
    f"{SAME_SPOTTER_ON_ORIGINALS} those videos were made from. `frozen` is the control: "
    "trained on the synthetic videos with every frame replaced by the video's first (labels "
    "kept, motion gone); a spotter that learns from motion scores 0 or far below `original` "
    "there, and one that does not is fooling itself.",
    "",
    f"Per fold: `{FOLDS_TABLE}.csv`; summary: `{SUMMARY_TABLE}.csv`; predictions of every "
    f"condition (MEGC CSV): `{PREDICTIONS_PREFIX}<condition>.csv`.",
]

_FIGURE_TITLES = (
    ("spotting_f1", "F1 by condition"),
    ("spotting_curves", "Score curves"),
    ("spotting_f1_by_p", "F1 against p"),
    ("spotting_released_curves", "Released SOFTNet scores, original vs synthetic"),
)


def render_section(
    cfg: DictConfig,
    inputs: SpottingInputs,
    outcome: FoldOutcome,
    summary: pd.DataFrame,
    figures: dict[str, Path],
    untrained: list[str],
    preset: Preset | None = None,
) -> str:
    """The spotting section of ``report.md`` (figure links relative to ``output_dir``)."""
    confidence = round(100 * float(cfg.spotting.bootstrap.confidence))
    lines = _protocol_lines(cfg, inputs, outcome, untrained, preset, confidence)
    lines += [_summary_row(row) for _, row in summary.iterrows()]
    lines += [*_CONDITION_NOTES, "", *fit_lines(outcome.fits)]
    if _training_free(cfg.get("spotter")):
        lines += [
            f"**`{_spotter_name(cfg.get('spotter'))}` is training-free**: its `fit` only "
            "calibrates a threshold, so it measures whether synthesis preserved the motion "
            "(`preservation`), not whether synthetic data helps a spotter learn; for that, use "
            "a trained spotter (`spotter=softnet`).",
            "",
        ]
    output_dir = Path(str(cfg.output_dir))
    lines += released_lines(summary, outcome.released, confidence)
    lines += published_lines(summary, preset)
    for key, title in _FIGURE_TITLES:
        if key in figures:
            lines += ["", f"![{title}]({figures[key].relative_to(output_dir).as_posix()})"]
    if inputs.notes:
        lines += ["", *[f"- {note}" for note in inputs.notes]]
    return "\n".join(lines) + "\n"


def score_as_configured(
    cfg: DictConfig, distractors: pd.DataFrame | None = None
) -> dict[str, dict]:
    """Spot every video with the spotter as configured, untrained and uncalibrated, and score it
    per side: ``{"original": {micro, macro, overall}, "synthetic[<set>]": ...}`` of counts.
    With ``distractors`` (the rows of a generated clip's ``distractors.csv``) each side also
    has ``"distractors"``: the false positives on blinks and head turns
    (:func:`mesynth.spotting.scoring.distractor_hits`).

    For a dataset too small for leave-one-subject-out folds (the one-participant demo clip):
    nothing is fitted, so nothing is tuned on the videos scored.
    """
    from mesynth.spotting.scoring import distractor_hits, score_predictions

    _check_settings(cfg)
    spotter_node = cfg.get("spotter")
    spotter = _build_spotter(spotter_node, int(cfg.spotting.seed))
    inputs = load_inputs(cfg, min_participants=1)
    originals, synthetic = spotting_videos(
        inputs, cfg, getattr(spotter, "needs_maps", None), spotter
    )
    sides = {"original": originals} | {f"synthetic[{n}]": v for n, v in synthetic.items()}
    scores = {}
    for label, videos in sides.items():
        predictions = [p for video in videos for p in spotter.predict(video)]
        truth = {video.video_id: video.events for video in videos}
        score = score_predictions(
            predictions,
            truth,
            iou_threshold=float(cfg.spotting.iou),
            matching=str(cfg.spotting.matching),
        )
        scores[label] = {kind: counts.as_dict() for kind, counts in score.counts.items()}
        if distractors is not None:
            scores[label]["distractors"] = distractor_hits(
                predictions, truth, distractors, iou_threshold=float(cfg.spotting.iou)
            )
    return scores
