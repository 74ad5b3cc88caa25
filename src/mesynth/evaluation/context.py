"""What the analyses of ``evaluate.py`` share: the config, and inputs several analyses use (AU
tables, frame pairs, annotations, the face detector), each computed once, on first use."""

from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path

from omegaconf import DictConfig
from tqdm import tqdm

from mesynth.evaluation import stats
from mesynth.evaluation.common import EvaluationInputError, normalise_au
from mesynth.evaluation.registry import AnalysisResult

log = logging.getLogger(__name__)


class Context:
    """The config, and the inputs analyses share, each computed once on first use."""

    def __init__(self, cfg: DictConfig) -> None:
        self.cfg = cfg
        self.output_dir = Path(str(cfg.output_dir))
        self.figure_dir = self.output_dir / "figures"
        self.results: dict[str, AnalysisResult] = {}

    @property
    def task(self) -> str:
        return str(self.cfg.get("task") or "au")

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
        if self.task != "au":
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
        """Whether the AU task's synthetic videos were made with untrained networks (other
        tasks judge their own inputs and say so in their results)."""
        if self.task != "au":
            return False
        synthetic_frames = self.frame_roots[1] if self.frame_roots else None
        synthetic_dir = self.synthetic_dir if self.cfg.synthetic_dir else None
        return synthesis_was_untrained(synthetic_dir, synthetic_frames)


def synthesis_was_untrained(*roots: Path | str | None) -> bool:
    """Whether a synthesis output among ``roots`` records untrained networks."""
    from mesynth.synthesis.output import OutputError, SynthesisOutput

    try:
        return any(SynthesisOutput(root).untrained() for root in roots if root is not None)
    except OutputError as error:
        raise EvaluationInputError(str(error)) from error
