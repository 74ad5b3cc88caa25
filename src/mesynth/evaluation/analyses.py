"""The analyses of ``evaluate.py``, each a named unit in one registry.

An analysis declares the files it may write (``outputs``, so a re-run removes what it no longer
makes), says what it lacks to run (``missing``), and returns an :class:`AnalysisResult`: its
tables (written as ``<name>.csv``), its summary entries, its figures and its section of
``report.md``. :func:`mesynth.evaluation.pipeline.run` loops over the analyses of the chosen
``task``; inputs several analyses share (AU tables, frame pairs, annotations) are computed once,
on first use, by the :class:`Context`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
from natsort import natsorted
from omegaconf import DictConfig
from tqdm import tqdm

from mesynth.evaluation import stats
from mesynth.evaluation.common import EvaluationInputError, normalise_au
from mesynth.evaluation.report import figure_markdown, markdown_table
from mesynth.spotting.experiment import SPOTTING_OUTPUTS

log = logging.getLogger(__name__)


@dataclass
class AnalysisResult:
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    summary: dict = field(default_factory=dict)  # merged into summary.json (see Analysis.key)
    figures: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # The report section, rendered once every analysis has run (it may show their figures).
    section: Callable[[dict[str, Path], Path], str] | None = None
    unlogged: set[str] = field(default_factory=set)  # tables written but not sent to the logger


class Analysis:
    """One named analysis. ``switch``: the config key of its auto|true|false switch, if any."""

    name = ""
    outputs: tuple[str, ...] = ()
    switch: str | None = None
    key: str | None = None  # summary.json key of its entries; None: the top level

    def missing(self, ctx: Context) -> str | None:
        """What the analysis lacks to run (None: it can run)."""
        return None

    def run(self, ctx: Context) -> AnalysisResult:
        raise NotImplementedError


REGISTRY: dict[str, Analysis] = {}
# The analyses each task runs, in order (later ones may use earlier results).
TASKS: dict[str, tuple[str, ...]] = {
    "au": ("statistics", "figures", "flow", "temporal", "identity"),
    "spotting": ("spotting",),
}


def register(analysis: type[Analysis]) -> type[Analysis]:
    REGISTRY[analysis.name] = analysis()
    return analysis


def declared_outputs() -> dict[str, tuple[str, ...]]:
    """Every file each analysis may write, relative to output_dir (``*``: a name part)."""
    return {name: analysis.outputs for name, analysis in REGISTRY.items()}


# --------------------------------------------------------------------------------------------
# What analyses share


class Context:
    """The config, and the inputs analyses share, each computed once on first use."""

    def __init__(self, cfg: DictConfig) -> None:
        self.cfg = cfg
        self.output_dir = Path(str(cfg.output_dir))
        self.figure_dir = self.output_dir / "figures"
        self.results: dict[str, AnalysisResult] = {}

    @cached_property
    def settings(self) -> stats.StatsSettings:
        cfg = self.cfg
        return stats.StatsSettings(
            min_confidence=float(cfg.min_confidence),
            min_frames=int(cfg.min_frames),
            align=str(cfg.align),
            smooth_window=int(cfg.smooth.window),
            smooth_polyorder=int(cfg.smooth.polyorder),
        )

    @cached_property
    def detector(self):
        """The face detector and landmark model of ``faces`` (loaded on first use)."""
        from mesynth.config import to_plain
        from mesynth.faces.landmarks import LazyDetector

        return LazyDetector(**to_plain(self.cfg.faces))

    @cached_property
    def backend(self):
        from mesynth.evaluation.au import build_backend

        return build_backend(self.cfg.au)

    @property
    def original_dir(self) -> Path:
        return Path(str(self.cfg.original_dir))

    @property
    def synthetic_dir(self) -> Path:
        return Path(str(self.cfg.synthetic_dir))

    @cached_property
    def frame_roots(self) -> tuple[Path, Path] | None:
        """(original, synthetic) frame roots, or None when the evaluation has no frames."""
        if str(self.cfg.get("task") or "au") != "au":
            return None  # frame pairs belong to the AU analyses (spotting reads its own sets)
        cfg, needs = self.cfg, self.backend.needs_frames
        original = cfg.original_frames or (self.original_dir if needs else None)
        synthetic = cfg.synthetic_frames or (self.synthetic_dir if needs else None)
        if (original is None) != (synthetic is None):
            raise EvaluationInputError("set both original_frames and synthetic_frames, or neither")
        return None if original is None else (Path(str(original)), Path(str(synthetic)))

    @property
    def videos(self) -> list[str] | None:
        return [str(v) for v in self.cfg.videos] if self.cfg.videos else None

    @cached_property
    def pairs(self) -> list | None:
        """The original/synthetic frame pairs (:class:`mesynth.evaluation.frames.VideoPair`)."""
        if self.frame_roots is None:
            return None
        from mesynth.evaluation.frames import open_pairs

        cfg = self.cfg
        pairs = open_pairs(
            *self.frame_roots,
            original_layout=cfg.original_layout,
            crops_dir=cfg.crops_dir,
            videos=self.videos,
            align=cfg.align,
        )
        for pair in pairs:
            cut = stats.truncation_message(
                pair.video_id, len(pair.original), len(pair.synthetic), "frames"
            )
            if cut:
                log.info(cut)
        return pairs

    @cached_property
    def au_files(self) -> dict[str, tuple[Path, Path]]:
        from mesynth.evaluation.au import AUInputs

        inputs = AUInputs(self.original_dir, self.synthetic_dir, self.videos, lambda: self.pairs)
        return self.backend.csv_pairs(inputs)

    @cached_property
    def requested_aus(self) -> list[str] | None:
        return [normalise_au(au) for au in self.cfg.aus] if self.cfg.aus else None

    @cached_property
    def au_tables(self) -> dict:
        """Both OpenFace-style tables of every video (checked)."""
        from mesynth.evaluation.au import check_requested_aus, read_openface_csv

        aus = self.requested_aus
        if aus:
            check_requested_aus(self.au_files, aus)
        return {
            video: (read_openface_csv(original, aus), read_openface_csv(synthetic, aus))
            for video, (original, synthetic) in tqdm(
                self.au_files.items(), desc="reading AU tables", unit="video"
            )
        }

    @cached_property
    def analysed_pairs(self) -> list:
        """The frame pairs of the videos that have AU tables (empty without frames)."""
        pairs = self.pairs or []
        unknown = [pair.video_id for pair in pairs if pair.video_id not in self.au_tables]
        if unknown:
            log.info(
                "frames of %d video(s) without AU tables are not analysed: %s",
                len(unknown),
                unknown[:5],
            )
        return [pair for pair in pairs if pair.video_id in self.au_tables]

    @cached_property
    def annotations_path(self) -> Path | None:
        if self.cfg.annotations is not None:
            return Path(str(self.cfg.annotations))
        if self.frame_roots is None:
            return None
        from mesynth.synthesis.output import SynthesisOutput

        candidate = SynthesisOutput(self.frame_roots[1]).annotations_path
        return candidate if candidate.is_file() else None

    @cached_property
    def located_events(self) -> dict | None:
        """video -> (events placed in its frames, rows of events that could not be placed)."""
        if self.annotations_path is None or not self.analysed_pairs:
            return None
        from mesynth.evaluation.events import load_annotations, locate_events

        annotations = load_annotations(self.annotations_path, self.cfg.annotations_format)
        return {pair.video_id: locate_events(annotations, pair) for pair in self.analysed_pairs}

    def no_frames(self) -> str | None:
        if self.analysed_pairs:
            return None
        return "no frames (set original_frames and synthetic_frames)"

    def untrained_synthesis(self) -> bool:
        from mesynth.evaluation.pipeline import synthesis_was_untrained
        from mesynth.spotting.data import synthetic_sets

        # synthetic_dir may list several synthesis outputs (task=spotting).
        roots = [path for _, path in synthetic_sets(self.cfg.synthetic_dir)]
        roots += [self.frame_roots[1]] if self.frame_roots else []
        return synthesis_was_untrained(*roots)


# --------------------------------------------------------------------------------------------
# AU statistics (paper Tables 1 and 2, Fig. 5 as numbers)


@register
class Statistics(Analysis):
    """Pearson and Spearman per (video, AU), Fisher-z means by AU, participant and overall."""

    name = "statistics"
    outputs = (
        "per_video.csv",
        "au_correlation_by_au.csv",
        "au_correlation_by_participant.csv",
        "excluded.csv",
        "subset_*_by_au.csv",
    )

    def run(self, ctx: Context) -> AnalysisResult:
        cfg, settings, tables = ctx.cfg, ctx.settings, ctx.au_tables
        log.info("AU backend %s: %s vs %s", ctx.backend.name, ctx.original_dir, ctx.synthetic_dir)
        aus, missing = (
            (ctx.requested_aus, {})
            if ctx.requested_aus
            else stats.compared_aus(tables, ctx.au_files)
        )
        per_video, excluded = stats.correlate_tables(tables, aus, settings, ctx.au_files)
        regex = str(cfg.participant_regex)
        summary = stats.summarise(per_video, excluded, regex, missing)
        notes = stats.missing_au_notes(missing) + stats.truncation_notes(tables, settings)
        if summary["n_pairs"] == 0:
            notes.append("No (video, AU) pair could be correlated; see excluded.csv.")
            log.warning("no (video, AU) pair could be correlated; see excluded.csv")
        if ctx.backend.name == "landmarks":
            notes.append(
                "AU values are geometric proxies from dlib landmarks (au=landmarks), not FACS "
                "intensities; see mesynth.evaluation.au.landmarks."
            )
        subsets = {
            str(name): stats.subset_comparison(per_video, list(members), regex)
            for name, members in (cfg.subsets or {}).items()
            if members
        }
        result_tables = {
            "per_video": per_video,
            "au_correlation_by_au": stats.by_au(per_video),
            "au_correlation_by_participant": stats.by_participant(per_video, regex),
            "excluded": excluded,
        }
        result_tables |= {f"subset_{name}_by_au": table for name, table in subsets.items()}
        summary |= {"au_backend": ctx.backend.name, "aus": aus, "settings": self.settings(ctx, aus)}
        log.info(
            "Pearson %.3f (SD %.3f), Spearman %.3f (SD %.3f) over %d participants",
            summary["pearson_mean"], summary["pearson_sd"], summary["spearman_mean"],
            summary["spearman_sd"], summary["n_participants"],
        )  # fmt: skip
        result = AnalysisResult(result_tables, summary, notes=notes)
        result.section = lambda figures, out: self.section(result, subsets, figures, out)
        return result

    @staticmethod
    def settings(ctx: Context, aus: list[str]) -> dict:
        settings = ctx.settings
        smoothing = (
            "off"
            if not settings.smooth_window
            else f"Savitzky-Golay window {settings.smooth_window}, order "
            f"{settings.smooth_polyorder} (failed frames interpolated first)"
        )
        return {
            "original_dir": str(ctx.original_dir),
            "synthetic_dir": str(ctx.synthetic_dir),
            "au_backend": ctx.backend.name,
            "aus": aus,
            "smoothing": smoothing,
            "align": settings.align,
            "min_confidence": settings.min_confidence,
            "min_frames": settings.min_frames,
            "participant_regex": str(ctx.cfg.participant_regex),
            "identity_threshold": float(ctx.cfg.identity.threshold),
        }

    @staticmethod
    def section(result: AnalysisResult, subsets: dict, figures: dict, output_dir: Path) -> str:
        s, tables, settings = result.summary, result.tables, result.summary["settings"]
        out = [
            f"Original: `{settings['original_dir']}`  \n"
            f"Synthetic: `{settings['synthetic_dir']}`  \n"
            f"AU backend: `{settings['au_backend']}`; smoothing: {settings['smoothing']}; "
            f"align: `{settings['align']}`; min_confidence: {settings['min_confidence']}\n"
        ]
        out.append("## AU correlation, overall\n")
        out.append(
            "Mean over participants of their Fisher-z mean coefficient; SD = tanh of the "
            "population SD of the participants' z values.\n"
        )
        overall = pd.DataFrame(
            [
                {"": "Pearson", "mean": s["pearson_mean"], "SD": s["pearson_sd"]},
                {"": "Spearman", "mean": s["spearman_mean"], "SD": s["spearman_sd"]},
            ]
        )
        out.append(markdown_table(overall) + "\n")
        reasons = ", ".join(f"{n} {reason}" for reason, n in s["excluded_by_reason"].items())
        out.append(
            f"{s['n_videos']} videos, {s['n_participants']} participants, {s['n_pairs']} "
            f"(video, AU) pairs correlated, {s['n_excluded']} excluded"
            + (f" ({reasons})" if s["n_excluded"] else "")
            + ". Excluded pairs are listed in `excluded.csv`.\n"
        )
        out.append("## By AU (Table 1)\n")
        out.append(markdown_table(tables["au_correlation_by_au"]) + "\n")
        out.append(
            figure_markdown(figures, "by_au", "Fisher-z mean correlation per AU", output_dir)
        )
        out.append("## By participant (Table 2)\n")
        out.append(markdown_table(tables["au_correlation_by_participant"]) + "\n")
        out.append(
            figure_markdown(
                figures, "histograms", "Per-participant coefficients (Fig. 4)", output_dir
            )
        )
        out.append(
            figure_markdown(
                figures, "au_curves", "AU intensity, original vs synthetic (Fig. 3)", output_dir
            )
        )
        for name, table in subsets.items():
            out.append(f"## Subset `{name}` (Fig. 5)\n")
            out.append(markdown_table(table) + "\n")
            caption = f"By-AU Pearson, all vs without {name}"
            out.append(figure_markdown(figures, f"subset_{name}", caption, output_dir))
        return "\n".join(part for part in out if part)


# --------------------------------------------------------------------------------------------
# Figures of the AU statistics (paper Figs. 3-5)


@register
class StatisticsFigures(Analysis):
    name = "figures"
    outputs = (
        "figures/au_correlation_by_au.png",
        "figures/participant_histograms.png",
        "figures/au_curves.png",
        "figures/subset_*.png",
    )

    def missing(self, ctx: Context) -> str | None:
        if not ctx.cfg.figures.enabled:
            return "figures.enabled=false"
        statistics = ctx.results.get("statistics")
        if statistics is None or not statistics.summary["n_pairs"]:
            return "no (video, AU) pair was correlated"
        return None

    def run(self, ctx: Context) -> AnalysisResult:
        from mesynth.evaluation import figures

        cfg, directory, dpi = ctx.cfg, ctx.figure_dir, int(ctx.cfg.figures.dpi)
        tables = ctx.results["statistics"].tables
        paths = {
            "by_au": figures.by_au_bars(
                tables["au_correlation_by_au"], directory / "au_correlation_by_au.png", dpi
            ),
            "histograms": figures.participant_histograms(
                tables["au_correlation_by_participant"],
                directory / "participant_histograms.png",
                int(cfg.figures.histogram_bins),
                dpi,
            ),
        }
        events = {video: placed for video, (placed, _) in (ctx.located_events or {}).items()}
        # Event spans in source frame numbers: onset to offset (to the apex when it is unknown).
        spans = {
            video: [(e.onset, e.apex, max(e.apex, e.offset)) for e in placed]
            for video, placed in events.items()
        }
        paths["au_curves"] = figures.au_curves(
            self.curves(ctx),
            spans,
            directory / "au_curves.png",
            dpi,
            {pair.video_id: pair.frame_numbers() for pair in ctx.analysed_pairs},
            figures.curve_labels(tables["per_video"], tables["excluded"]),
        )
        for table_name, table in tables.items():
            if table_name.startswith("subset_"):
                name = table_name[len("subset_") : -len("_by_au")]
                paths[f"subset_{name}"] = figures.subset_comparison(
                    table, name, directory / f"subset_{name}.png", dpi
                )
        return AnalysisResult(figures=paths)

    @staticmethod
    def curves(ctx: Context) -> dict:
        """The (video, AU) series the curve figure shows."""
        chosen, tables, settings = ctx.cfg.figures.curves, ctx.au_tables, ctx.settings
        aus = ctx.results["statistics"].summary["aus"]
        videos = [str(v) for v in chosen.videos] if chosen.videos else natsorted(tables)
        videos = videos if chosen.videos else videos[: chosen.max_videos]
        unknown = [video for video in videos if video not in tables]
        if unknown:
            raise EvaluationInputError(
                f"figures.curves.videos names {unknown}, which were not evaluated"
            )
        if chosen.aus:
            picked = [normalise_au(au) for au in chosen.aus]
            absent = [au for au in picked if au not in aus]
            if absent:
                raise EvaluationInputError(
                    f"figures.curves.aus names {absent}, not among the compared AUs {aus}"
                )
        else:
            # The AUs that move most in the originals show the most of the comparison.
            def spread(au: str) -> float:
                series = [stats.aligned_series(*tables[v], au, settings) for v in videos]
                return float(
                    np.mean([np.std(s.original) if s.original.size else 0.0 for s in series])
                )

            top = sorted(aus, key=lambda au: -np.nan_to_num(spread(au)))[: chosen.max_aus]
            picked = [au for au in aus if au in top]
        return {
            (v, au): stats.aligned_series(*tables[v], au, settings) for v in videos for au in picked
        }


# --------------------------------------------------------------------------------------------
# Frame analyses: event flow (paper Fig. 6), temporal consistency, identity


def _farneback(cfg: DictConfig):
    from mesynth.evaluation.flow import FarnebackParams

    return FarnebackParams(**cfg.flow.farneback)


@register
class EventFlow(Analysis):
    """Onset -> apex flow of every annotated event, original vs synthetic."""

    name = "flow"
    outputs = ("flow_events.csv", "figures/event_flow.png")
    switch = "flow.enabled"
    key = "flow"

    def missing(self, ctx: Context) -> str | None:
        if ctx.no_frames():
            return ctx.no_frames()
        return None if ctx.located_events is not None else "no annotation file (set annotations)"

    def run(self, ctx: Context) -> AnalysisResult:
        from mesynth.evaluation import figures
        from mesynth.evaluation.events import EVENT_COLUMNS, event_flow

        cfg, located, notes = ctx.cfg, ctx.located_events, []
        pair_of = {pair.video_id: pair for pair in ctx.analysed_pairs}
        events = [event for video in natsorted(located) for event in located[video][0]]
        rows, rendered = [], []
        for event in tqdm(events, desc="event flow", unit="event"):
            keep = cfg.figures.enabled and len(rendered) < int(cfg.flow.max_figures)
            flow = event_flow(
                pair_of[event.video],
                event,
                _farneback(cfg),
                float(cfg.flow.min_magnitude),
                keep,
                ctx.detector,
            )
            rows.append(flow.row)
            if keep:
                rendered.append(flow)
        skipped = [row for video in natsorted(located) for row in located[video][1]]
        if skipped:
            notes.append(
                f"{len(skipped)} annotated event(s) could not be placed in the frames; see "
                "flow_events.csv."
            )
        if not events:
            notes.append(
                f"No annotated event in {ctx.annotations_path} belongs to the evaluated videos."
            )
        table = pd.DataFrame(rows + skipped, columns=EVENT_COLUMNS)
        paths = {}
        if rendered:
            path = ctx.figure_dir / "event_flow.png"
            paths["flow"] = figures.event_flows(rendered, path, int(cfg.figures.dpi))
        measured = table[table["cosine"].notna()]
        summary = {
            "n_events": int(len(measured)),
            "cosine_mean": float(measured["cosine"].mean()) if len(measured) else float("nan"),
            "epe_mean": float(measured["epe"].mean()) if len(measured) else float("nan"),
        }
        result = AnalysisResult({"flow_events": table}, summary, paths, notes)
        result.section = lambda figures_, out: self.section(table, figures_, out)
        return result

    @staticmethod
    def section(events: pd.DataFrame, figures: dict, output_dir: Path) -> str:
        out = ["## Optical flow of the annotated events (Fig. 6)\n"]
        out.append(
            "Farneback flow onset -> apex on both sides, compared inside the face: `cosine` is "
            "the magnitude-weighted cosine similarity (1 = same motion, 0 = unrelated or "
            "missing), `epe` the mean end-point error in pixels.\n"
        )
        measured = events[events["cosine"].notna()] if len(events) else events
        if len(measured):
            out.append(
                f"Mean over {len(measured)} events: cosine {measured['cosine'].mean():.3f}, "
                f"EPE {measured['epe'].mean():.3f} px.\n"
            )
        out.append(markdown_table(events, max_rows=40) + "\n")
        caption = "Onset -> apex flow, original | synthetic (Fig. 6)"
        out.append(figure_markdown(figures, "flow", caption, output_dir))
        return "\n".join(part for part in out if part)


@register
class TemporalConsistency(Analysis):
    """Flicker: warping error of consecutive synthetic frames under the original's flow."""

    name = "temporal"
    outputs = ("temporal.csv",)
    switch = "temporal.enabled"
    key = "temporal"

    def missing(self, ctx: Context) -> str | None:
        return ctx.no_frames()

    def run(self, ctx: Context) -> AnalysisResult:
        from mesynth.evaluation.temporal import TEMPORAL_COLUMNS, temporal_consistency

        max_pairs, params = int(ctx.cfg.temporal.max_pairs), _farneback(ctx.cfg)
        rows = [
            temporal_consistency(pair, max_pairs, params)
            for pair in tqdm(ctx.analysed_pairs, desc="temporal consistency", unit="video")
        ]
        table = pd.DataFrame(rows, columns=TEMPORAL_COLUMNS)
        summary = {
            name: float(table[name].mean())
            for name in ("warp_error_original", "warp_error_synthetic", "warp_error_ratio")
        }
        result = AnalysisResult({"temporal": table}, summary)
        result.section = lambda figures, out: "\n".join(
            [
                "## Temporal consistency\n",
                "Warping error of consecutive frames with the original's flow (0-1 grey "
                "levels); a ratio above 1 means the synthetic video changes more than the "
                "original motion explains (flicker).\n",
                markdown_table(table, max_rows=60) + "\n",
            ]
        )
        return result


@register
class Identity(Analysis):
    """dlib face-descriptor distances: original <-> synthetic, synthetic <-> reference."""

    name = "identity"
    outputs = ("identity.csv",)
    switch = "identity.enabled"
    key = "identity"

    def missing(self, ctx: Context) -> str | None:
        return ctx.no_frames()

    def run(self, ctx: Context) -> AnalysisResult:
        from mesynth.evaluation.identity import (
            IDENTITY_COLUMNS,
            identity_distances,
            read_references,
        )

        settings = ctx.cfg.identity
        # An explicit file wins; otherwise each video's reference as the manifest records it.
        references = {}
        if settings.references is not None:
            references = read_references(Path(str(settings.references)))
        rows = [
            identity_distances(
                pair,
                int(settings.frames_per_video),
                float(settings.threshold),
                references.get(pair.video_id, pair.reference),
                ctx.detector,
            )
            for pair in tqdm(ctx.analysed_pairs, desc="identity", unit="video")
        ]
        table = pd.DataFrame(rows, columns=IDENTITY_COLUMNS)
        hidden = table["hidden"].dropna()
        summary = {
            "distance_original_synthetic": float(table["distance_original_synthetic"].mean()),
            "distance_synthetic_reference": float(table["distance_synthetic_reference"].mean()),
            "fraction_hidden": float(hidden.astype(float).mean()) if len(hidden) else float("nan"),
        }
        threshold = float(settings.threshold)
        result = AnalysisResult({"identity": table}, summary)
        result.section = lambda figures, out: "\n".join(
            [
                "## Identity\n",
                "Distances between dlib face descriptors (same person below about "
                f"{threshold}). `hidden`: the synthetic face is farther than that from the "
                "participant.\n",
                markdown_table(table, max_rows=60) + "\n",
            ]
        )
        return result


# --------------------------------------------------------------------------------------------
# Spotting: does the synthetic data help micro/macro-expression spotting? (task=spotting)


@register
class Spotting(Analysis):
    """The leave-one-subject-out spotting experiment (:mod:`mesynth.spotting.experiment`)."""

    name = "spotting"
    outputs = SPOTTING_OUTPUTS
    key = "spotting"

    def run(self, ctx: Context) -> AnalysisResult:
        from mesynth.spotting.experiment import PREDICTIONS_PREFIX, evaluate

        results = evaluate(ctx.cfg)
        result = AnalysisResult(results.tables, results.summary, results.figures)
        # The predictions are MEGC submission files, one row per interval: files, not charts.
        result.unlogged = {name for name in results.tables if name.startswith(PREDICTIONS_PREFIX)}
        result.section = lambda figures, out: results.report
        return result
