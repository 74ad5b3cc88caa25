"""``python evaluate.py``: AU statistics, figures, flow, temporal consistency, identity, report."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from natsort import natsorted
from omegaconf import DictConfig
from tqdm import tqdm

from mesynth.evaluation import figures, stats
from mesynth.evaluation.au import AUInputs, build_backend, check_requested_aus, read_openface_csv
from mesynth.evaluation.common import (
    EvaluationInputError,
    normalise_au,
    write_csv,
    write_json,
    write_text,
)
from mesynth.evaluation.frames import VideoPair, open_pairs
from mesynth.evaluation.outputs import remove_stale_outputs
from mesynth.evaluation.report import Results, render
from mesynth.evaluation.tracking import log_results

log = logging.getLogger(__name__)


def _switch(value: object, setting: str) -> str:
    text = str(value).strip().lower()
    if text not in ("auto", "true", "false"):
        raise EvaluationInputError(f"{setting}={value!r} must be auto, true or false")
    return text


def _wanted(value: object, setting: str, missing: str | None, notes: list[str]) -> bool:
    """Resolve an ``auto|true|false`` switch; ``missing`` says what is lacking, if anything."""
    mode = _switch(value, setting)
    if mode == "false":
        return False
    if missing is None:
        return True
    if mode == "true":
        raise EvaluationInputError(f"{setting}=true but {missing}")
    notes.append(f"`{setting.split('.')[0]}` not run: {missing}.")
    log.warning("%s skipped: %s", setting.split(".")[0], missing)
    return False


class _LazyPairs:
    """Opens the frame pairs once, on first use."""

    def __init__(self, cfg: DictConfig, original: Path, synthetic: Path) -> None:
        self.cfg, self.original, self.synthetic = cfg, original, synthetic
        self.videos: list[str] | None = [str(v) for v in cfg.videos] if cfg.videos else None
        self._pairs: list[VideoPair] | None = None

    def __call__(self) -> list[VideoPair]:
        if self._pairs is None:
            self._pairs = open_pairs(
                self.original,
                self.synthetic,
                original_layout=self.cfg.original_layout,
                crops_dir=self.cfg.crops_dir,
                videos=self.videos,
                align=self.cfg.align,
            )
            for pair in self._pairs:
                cut = stats.truncation_message(
                    pair.video_id, len(pair.original), len(pair.synthetic), "frames"
                )
                if cut:
                    log.info(cut)
        return self._pairs


def read_tables(files: dict[str, tuple[Path, Path]], aus: list[str] | None) -> dict:
    """Read (and check) both CSVs of every video."""
    if aus:
        check_requested_aus(files, aus)
    tables = {}
    for video, (original, synthetic) in tqdm(files.items(), desc="reading AU tables", unit="video"):
        tables[video] = (read_openface_csv(original, aus), read_openface_csv(synthetic, aus))
    return tables


def _curve_selection(
    cfg: DictConfig, tables: dict, aus: list[str], settings: stats.StatsSettings
) -> dict:
    curves_cfg = cfg.figures.curves
    videos = (
        [str(v) for v in curves_cfg.videos]
        if curves_cfg.videos
        else natsorted(tables)[: curves_cfg.max_videos]
    )
    for video in videos:
        if video not in tables:
            raise EvaluationInputError(
                f"figures.curves.videos names {video!r}, which was not evaluated"
            )
    if curves_cfg.aus:
        chosen_aus = [normalise_au(au) for au in curves_cfg.aus]
        unknown = [au for au in chosen_aus if au not in aus]
        if unknown:
            raise EvaluationInputError(
                f"figures.curves.aus names {unknown}, not among the compared AUs {aus}"
            )
    else:
        # The AUs that move most in the originals show the most of the comparison.
        spread = {
            au: np.mean(
                [
                    np.std(series.original) if series.original.size else 0.0
                    for series in (stats.aligned_series(*tables[v], au, settings) for v in videos)
                ]
            )
            for au in aus
        }
        chosen_aus = sorted(aus, key=lambda au: -np.nan_to_num(spread[au]))[: curves_cfg.max_aus]
        chosen_aus = [au for au in aus if au in chosen_aus]
    return {
        (v, au): stats.aligned_series(*tables[v], au, settings) for v in videos for au in chosen_aus
    }


def _statistics_figures(
    cfg: DictConfig,
    figure_dir: Path,
    tables: dict,
    aus: list[str],
    settings: stats.StatsSettings,
    by_au: pd.DataFrame,
    by_participant: pd.DataFrame,
    subsets: dict[str, pd.DataFrame],
    events_by_video: dict,
    per_video: pd.DataFrame,
    excluded: pd.DataFrame,
    frame_numbers: dict[str, list[int]],
) -> dict[str, Path]:
    """Figures of the AU statistics (paper Figs. 3-5 and Table 1 as bars)."""
    dpi = int(cfg.figures.dpi)
    paths = {
        "by_au": figures.by_au_bars(by_au, figure_dir / "au_correlation_by_au.png", dpi),
        "histograms": figures.participant_histograms(
            by_participant,
            figure_dir / "participant_histograms.png",
            int(cfg.figures.histogram_bins),
            dpi,
        ),
    }
    # Event spans in source frame numbers: onset to offset (to the apex when it is unknown).
    spans = {
        video: [(e.onset, e.apex, max(e.apex, e.offset)) for e in events]
        for video, events in events_by_video.items()
    }
    curves = _curve_selection(cfg, tables, aus, settings)
    paths["au_curves"] = figures.au_curves(
        curves,
        spans,
        figure_dir / "au_curves.png",
        dpi,
        frame_numbers,
        figures.curve_labels(per_video, excluded),
    )
    for name, table in subsets.items():
        paths[f"subset_{name}"] = figures.subset_comparison(
            table, name, figure_dir / f"subset_{name}.png", dpi
        )
    return paths


def _flow_analysis(
    cfg: DictConfig, pairs: list[VideoPair], located: dict, figure_dir: Path, notes: list[str]
) -> tuple[pd.DataFrame, dict, Path | None]:
    """Onset -> apex flow of every annotated event: table, summary numbers, figure."""
    from mesynth.evaluation.events import EVENT_COLUMNS, event_flow
    from mesynth.evaluation.flow import FarnebackParams

    params = FarnebackParams(**cfg.flow.farneback)
    pair_of = {pair.video_id: pair for pair in pairs}
    events = [event for video in natsorted(located) for event in located[video][0]]
    rows, rendered = [], []
    for event in tqdm(events, desc="event flow", unit="event"):
        keep = cfg.figures.enabled and len(rendered) < int(cfg.flow.max_figures)
        result = event_flow(
            pair_of[event.video], event, params, float(cfg.flow.min_magnitude), keep
        )
        rows.append(result.row)
        if keep:
            rendered.append(result)
    skipped = [row for video in natsorted(located) for row in located[video][1]]
    if skipped:
        notes.append(
            f"{len(skipped)} annotated event(s) could not be placed in the frames; see "
            "flow_events.csv."
        )
    table = pd.DataFrame(rows + skipped, columns=EVENT_COLUMNS)
    figure = None
    if rendered:
        figure = figures.event_flows(rendered, figure_dir / "event_flow.png", int(cfg.figures.dpi))
    measured = table[table["cosine"].notna()]
    summary = {
        "n_events": int(len(measured)),
        "cosine_mean": float(measured["cosine"].mean()) if len(measured) else float("nan"),
        "epe_mean": float(measured["epe"].mean()) if len(measured) else float("nan"),
    }
    return table, summary, figure


def _temporal_analysis(cfg: DictConfig, pairs: list[VideoPair]) -> tuple[pd.DataFrame, dict]:
    from mesynth.evaluation.flow import FarnebackParams
    from mesynth.evaluation.temporal import TEMPORAL_COLUMNS, temporal_consistency

    params = FarnebackParams(**cfg.flow.farneback)
    rows = [
        temporal_consistency(pair, int(cfg.temporal.max_pairs), params)
        for pair in tqdm(pairs, desc="temporal consistency", unit="video")
    ]
    table = pd.DataFrame(rows, columns=TEMPORAL_COLUMNS)
    summary = {
        name: float(table[name].mean())
        for name in ("warp_error_original", "warp_error_synthetic", "warp_error_ratio")
    }
    return table, summary


def _identity_analysis(cfg: DictConfig, pairs: list[VideoPair]) -> tuple[pd.DataFrame, dict]:
    from mesynth.evaluation.identity import IDENTITY_COLUMNS, identity_distances, read_references

    # An explicit file wins; otherwise each video's reference as the manifest records it.
    references = {}
    if cfg.identity.references is not None:
        references = read_references(Path(cfg.identity.references))
    rows = [
        identity_distances(
            pair,
            int(cfg.identity.frames_per_video),
            float(cfg.identity.threshold),
            references.get(pair.video_id, pair.reference),
        )
        for pair in tqdm(pairs, desc="identity", unit="video")
    ]
    table = pd.DataFrame(rows, columns=IDENTITY_COLUMNS)
    hidden = table["hidden"].dropna()
    summary = {
        "distance_original_synthetic": float(table["distance_original_synthetic"].mean()),
        "distance_synthetic_reference": float(table["distance_synthetic_reference"].mean()),
        "fraction_hidden": float(hidden.astype(float).mean()) if len(hidden) else float("nan"),
    }
    return table, summary


def run(cfg: DictConfig) -> dict:
    """Evaluate one original/synthetic pair of datasets; returns the summary numbers."""
    output_dir = Path(cfg.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("summary.json", "report.md"):
        # A finished run's markers must not survive into a run that fails half-way.
        (output_dir / stale).unlink(missing_ok=True)
    notes: list[str] = []
    settings = stats.StatsSettings(
        min_confidence=float(cfg.min_confidence),
        min_frames=int(cfg.min_frames),
        align=str(cfg.align),
        smooth_window=int(cfg.smooth.window),
        smooth_polyorder=int(cfg.smooth.polyorder),
    )
    backend = build_backend(cfg.au)
    original_dir, synthetic_dir = Path(cfg.original_dir), Path(cfg.synthetic_dir)
    original_frames = cfg.original_frames or (original_dir if backend.needs_frames else None)
    synthetic_frames = cfg.synthetic_frames or (synthetic_dir if backend.needs_frames else None)
    pairs_of = None
    if original_frames is not None and synthetic_frames is not None:
        pairs_of = _LazyPairs(cfg, Path(original_frames), Path(synthetic_frames))
    elif original_frames is not None or synthetic_frames is not None:
        raise EvaluationInputError("set both original_frames and synthetic_frames, or neither")
    videos = [str(v) for v in cfg.videos] if cfg.videos else None
    log.info("AU backend %s: %s vs %s", backend.name, original_dir, synthetic_dir)

    # AU statistics.
    files = backend.csv_pairs(AUInputs(original_dir, synthetic_dir, videos, pairs_of))
    requested_aus = [normalise_au(au) for au in cfg.aus] if cfg.aus else None
    tables = read_tables(files, requested_aus)
    aus, missing_columns = (
        (requested_aus, {}) if requested_aus else stats.compared_aus(tables, files)
    )
    notes += stats.missing_au_notes(missing_columns) + stats.truncation_notes(tables, settings)
    per_video, excluded = stats.correlate_tables(tables, aus, settings, files)
    regex = str(cfg.participant_regex)
    by_au = stats.by_au(per_video)
    by_participant = stats.by_participant(per_video, regex)
    summary = stats.summarise(per_video, excluded, regex, missing_columns)
    if summary["n_pairs"] == 0:
        notes.append("No (video, AU) pair could be correlated; see excluded.csv.")
        log.warning("no (video, AU) pair could be correlated; see %s", output_dir / "excluded.csv")
    subsets = {
        str(name): stats.subset_comparison(per_video, list(members), regex)
        for name, members in (cfg.subsets or {}).items()
        if members
    }

    # Frames, annotations and the analyses that need them.
    pairs = pairs_of() if pairs_of is not None else None
    if pairs is not None:
        unknown = [pair.video_id for pair in pairs if pair.video_id not in tables]
        pairs = [pair for pair in pairs if pair.video_id in tables]
        if unknown:
            log.info(
                "frames of %d video(s) without AU tables are not analysed: %s",
                len(unknown),
                unknown[:5],
            )
    no_frames = None if pairs else "no frames (set original_frames and synthetic_frames)"
    annotations_path = cfg.annotations
    if annotations_path is None and synthetic_frames is not None:
        candidate = Path(synthetic_frames) / "annotations.csv"
        annotations_path = candidate if candidate.is_file() else None
    annotations = None
    if annotations_path is not None and pairs:
        from mesynth.evaluation.events import load_annotations

        annotations = load_annotations(annotations_path, cfg.annotations_format)
    located: dict = {}
    if annotations is not None:
        from mesynth.evaluation.events import locate_events

        located = {pair.video_id: locate_events(annotations, pair) for pair in pairs}
    events_by_video = {video: events for video, (events, _) in located.items()}

    figure_dir = output_dir / "figures"
    figure_paths: dict[str, Path] = {}
    if cfg.figures.enabled and summary["n_pairs"]:
        figure_paths.update(
            _statistics_figures(
                cfg,
                figure_dir,
                tables,
                aus,
                settings,
                by_au,
                by_participant,
                subsets,
                events_by_video,
                per_video,
                excluded,
                {pair.video_id: pair.frame_numbers() for pair in pairs or []},
            )
        )

    flow_table = None
    missing_for_flow = no_frames or (
        None if annotations is not None else "no annotation file (set annotations)"
    )
    if _wanted(cfg.flow.enabled, "flow.enabled", missing_for_flow, notes):
        flow_table, summary["flow"], figure = _flow_analysis(cfg, pairs, located, figure_dir, notes)
        if figure is not None:
            figure_paths["flow"] = figure
        if not any(events for events, _ in located.values()):
            notes.append(
                f"No annotated event in {annotations_path} belongs to the evaluated videos."
            )

    temporal_table = None
    if _wanted(cfg.temporal.enabled, "temporal.enabled", no_frames, notes):
        temporal_table, summary["temporal"] = _temporal_analysis(cfg, pairs)

    identity_table = None
    if _wanted(cfg.identity.enabled, "identity.enabled", no_frames, notes):
        identity_table, summary["identity"] = _identity_analysis(cfg, pairs)

    if backend.name == "landmarks":
        notes.append(
            "AU values are geometric proxies from dlib landmarks (au=landmarks), not FACS "
            "intensities; see mesynth.evaluation.au.landmarks."
        )
    if pairs and all(pair.crop is None for pair in pairs):
        notes.append(
            "No synthesis crops were found: the whole original frames were scaled to the synthetic size."
        )
    smoothing = (
        "off"
        if not settings.smooth_window
        else f"Savitzky-Golay window {settings.smooth_window}, order {settings.smooth_polyorder} "
        "(failed frames interpolated first)"
    )
    report_settings = {
        "original_dir": str(original_dir),
        "synthetic_dir": str(synthetic_dir),
        "au_backend": backend.name,
        "aus": aus,
        "smoothing": smoothing,
        "align": settings.align,
        "min_confidence": settings.min_confidence,
        "min_frames": settings.min_frames,
        "participant_regex": regex,
        "identity_threshold": float(cfg.identity.threshold),
    }
    untrained = synthesis_was_untrained(synthetic_dir, synthetic_frames)
    if untrained:
        log.warning(
            "the synthetic videos were made with UNTRAINED networks (manifest.json says so): "
            "these numbers test the pipeline, not style transfer"
        )
    summary = {
        **summary,
        "untrained_synthesis": untrained,
        "au_backend": backend.name,
        "aus": aus,
        "settings": report_settings,
    }
    results = Results(
        settings=report_settings,
        summary=summary,
        per_video=per_video,
        by_au=by_au,
        by_participant=by_participant,
        excluded=excluded,
        subsets=subsets,
        flow_events=flow_table,
        temporal=temporal_table,
        identity=identity_table,
        figures=figure_paths,
        notes=notes,
    )
    written = [
        write_csv(output_dir / f"{name}.csv", table) for name, table in results.tables().items()
    ]
    # An earlier run's outputs of analyses that did not run (or wrote nothing) this time go.
    remove_stale_outputs(
        output_dir,
        [*written, *figure_paths.values(), output_dir / "summary.json", output_dir / "report.md"],
    )
    # Written last: a summary.json and report.md mean the evaluation finished.
    write_json(output_dir / "summary.json", summary)
    write_text(output_dir / "report.md", render(results, output_dir))
    log.info(
        "Pearson %.3f (SD %.3f), Spearman %.3f (SD %.3f) over %d participants; results in %s",
        summary["pearson_mean"], summary["pearson_sd"], summary["spearman_mean"],
        summary["spearman_sd"], summary["n_participants"], output_dir,
    )  # fmt: skip
    log_results(cfg.get("logger"), output_dir, results, cfg)
    return summary


def synthesis_was_untrained(*roots: Path | str | None) -> bool:
    """Whether a synthesis manifest among ``roots`` records untrained networks."""
    for root in roots:
        if root is None:
            continue
        path = Path(root) / "manifest.json"
        if path.is_file():
            try:
                return bool(json.loads(path.read_text()).get("untrained"))
            except (ValueError, OSError) as error:
                raise EvaluationInputError(
                    f"{path} is not a readable synthesis manifest ({error}); re-run infer.py "
                    "into that output_dir or remove the file"
                ) from error
    return False
