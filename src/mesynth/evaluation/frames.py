"""Original and synthetic frames of one video, side by side, at the synthetic frame size.

Synthesis cropped (and scaled) every original frame before generating; to compare like with
like the originals are cropped here with the very crop it saved (``<synthetic>/crops/<video>.json``)
and scaled to the synthetic frame size, as the SAMM-SYNTH paper compared 256x256 faces.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mesynth.evaluation.common import EvaluationInputError
from mesynth.faces.crop import Crop
from mesynth.synthesis.output import OutputError, SynthesisOutput, VideoRecord

log = logging.getLogger(__name__)


@dataclass
class VideoPair:
    """One video's original and synthetic frames, read on demand, original cropped to match."""

    video_id: str
    original: object  # mesynth.video.decoders.VideoSource
    synthetic: object
    crop: Crop | None
    length: int
    reference: str | None = None  # the reference image synthesis used (manifest), if recorded

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the synthetic frames, which the originals are brought to."""
        return tuple(self.synthetic.frame_size)

    def __len__(self) -> int:
        return self.length

    def original_frame(self, index: int) -> np.ndarray:
        return self._fit(self.original.read_frame(index), index)

    def synthetic_frame(self, index: int) -> np.ndarray:
        return self.synthetic.read_frame(index)

    def frame(self, side: str, index: int) -> np.ndarray:
        if side == "original":
            return self.original_frame(index)
        if side == "synthetic":
            return self.synthetic_frame(index)
        raise ValueError(f"side must be 'original' or 'synthetic', not {side!r}")

    def frames(
        self, side: str, indices: Iterable[int] | None = None
    ) -> Iterator[tuple[int, np.ndarray]]:
        """(index, frame) of one side; sequential reads when ``indices`` is None."""
        if indices is None:
            source = self.original if side == "original" else self.synthetic
            for index, frame in source.iter_frames(0, self.length):
                yield index, (self._fit(frame, index) if side == "original" else frame)
            return
        for index in indices:
            yield index, self.frame(side, index)

    def frame_numbers(self) -> list[int]:
        """Source frame numbers of the compared frames (annotation frame numbers refer to these)."""
        return list(self.original.frame_numbers[: self.length])

    def _fit(self, frame: np.ndarray, index: int) -> np.ndarray:
        if self.crop is not None:
            frame = self.crop.apply(frame, index)
        height, width = self.size
        if frame.shape[:2] != (height, width):
            shrinking = frame.shape[0] > height or frame.shape[1] > width
            interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
            frame = cv2.resize(frame, (width, height), interpolation=interpolation)
        return frame


def _open_sources(path: Path, layout: str) -> list:
    # Imported here so that CSV-only evaluations never need the video stack.
    from mesynth.video.layouts import open_sources

    return open_sources(path, layout=layout)


@dataclass
class SyntheticSet:
    """The synthetic videos of a folder, and what synthesis recorded about them."""

    sources: dict[str, object]  # synthetic video id -> VideoSource
    source_video: dict[str, str]  # synthetic video id -> original video id
    manifest: dict[str, VideoRecord]  # synthetic video id -> record (empty without manifest)
    unfinished: list[str]  # in the manifest but not done (or its frames are missing)
    output: SynthesisOutput | None = None  # None when the folder is a plain dataset


def open_synthetic(root: Path) -> SyntheticSet:
    """The synthetic videos under ``root``.

    A synthesis output (:class:`mesynth.synthesis.output.SynthesisOutput`) is read through its
    manifest, which says which original each video came from; anything else is read like a
    dataset (layout auto-detected), ids matching the originals'.
    """
    if not root.exists():
        raise EvaluationInputError(
            f"synthetic frames {root} do not exist; set synthetic_dir (or synthetic_frames) to the "
            "output_dir of `python infer.py`"
        )
    output = SynthesisOutput(root)
    if not output.is_synthesis_output():
        sources = {source.video_id: source for source in _open_sources(root, "auto")}
        return SyntheticSet(sources, {video: video for video in sources}, {}, [])
    try:
        manifest = output.read_manifest()
        records = manifest.videos if manifest is not None else {}
        finished, unfinished = output.finished_videos()
        sources = {name: output.open_video(name) for name in finished}
    except OutputError as error:
        raise EvaluationInputError(str(error)) from error
    if not sources and not unfinished:  # unfinished ones are reported by name by the caller
        raise EvaluationInputError(
            f"synthesis output {root} holds no finished videos (no <video>/ PNG folders or "
            "<video>.mkv files); run or finish `python infer.py` first"
        )
    source_video = {
        name: records[name].source_video if name in records else name for name in sources
    }
    return SyntheticSet(sources, source_video, records, unfinished, output)


def resolve_crops_dir(crops_dir: str | Path | None, synthetic_root: Path) -> Path | None:
    """The crop folder to use: the configured one (must exist) or ``<synthetic>/crops`` if any."""
    if crops_dir is not None:
        path = Path(crops_dir)
        if not path.is_dir():
            raise EvaluationInputError(
                f"crops_dir={path} is not a directory; point it at the crops/ folder of the "
                "synthesis output, or set crops_dir=null"
            )
        return path
    default = SynthesisOutput(synthetic_root).crops_dir
    return default if default.is_dir() else None


def _open_originals(original_root: Path, layout: str) -> dict[str, object]:
    if not original_root.exists():
        demo = original_root.name == "frames" and original_root.parent.name == "demo"
        raise EvaluationInputError(
            f"original frames {original_root} do not exist; set original_dir (or "
            "original_frames) to the dataset that was synthesised"
            + ("; this default is the demo clip: make it with `make demo`" if demo else "")
        )
    return {source.video_id: source for source in _open_sources(original_root, layout)}


def _chosen_videos(synthetic: SyntheticSet, root: Path, videos: list[str] | None) -> list[str]:
    """The synthetic videos to compare: all finished ones, or those ``videos`` names (each
    finished)."""
    unfinished = [v for v in synthetic.unfinished if videos is None or v in videos]
    if unfinished:
        record = synthetic.manifest[unfinished[0]]
        state = record.status if record.status != "done" else "frames missing"
        raise EvaluationInputError(
            f"{synthetic.output.manifest_path}: {len(unfinished)} video(s) are not finished (e.g. "
            f"{unfinished[0]}: {state}); re-run `python infer.py` with the same output_dir to "
            "finish them, or choose the finished ones with videos=[...]"
        )
    if videos is None:
        return sorted(synthetic.sources)
    absent = [video for video in videos if video not in synthetic.sources]
    if absent:
        raise EvaluationInputError(
            f"videos={absent} requested but {root} has no such synthetic video "
            f"(have {sorted(synthetic.sources)[:10]}); fix `videos`"
        )
    return list(videos)


def _check_originals(
    chosen: list[str],
    synthetic: SyntheticSet,
    originals: dict[str, object],
    roots: tuple[Path, Path],
    every_video: bool,
) -> None:
    """Every chosen video has its original; with ``every_video``, every original outside a
    synthesis run's own choice has its synthetic version."""
    original_root, synthetic_root = roots
    without_original = [v for v in chosen if synthetic.source_video[v] not in originals]
    if without_original:
        video = without_original[0]
        raise EvaluationInputError(
            f"{len(without_original)} synthetic video(s) have no original in {original_root} "
            f"(e.g. {video}, made from {synthetic.source_video[video]!r}); point original_dir "
            "at the dataset that was synthesised, or choose videos=[...]"
        )
    unpaired = sorted(set(originals) - {synthetic.source_video[v] for v in chosen})
    if not (unpaired and every_video):
        return
    if not synthetic.manifest:
        raise EvaluationInputError(
            f"{len(unpaired)} original video(s) have no synthetic version in "
            f"{synthetic_root} (e.g. {unpaired[0]}); finish their synthesis, or choose the "
            "videos to compare with videos=[...]"
        )
    # The synthesis run chose its videos (its manifest lists them); the rest were not asked for.
    log.info(
        "%d original video(s) were not part of this synthesis run and are not evaluated",
        len(unpaired),
    )


def _check_lengths(video: str, original, synthetic, record: VideoRecord | None) -> None:
    n_original, n_synthetic = len(original), len(synthetic)
    if n_original == n_synthetic:
        return
    limited = (
        record is not None
        and record.frames == n_synthetic
        and record.source_frames == n_original + len(original.skipped)
    )
    raise EvaluationInputError(
        f"video {video}: {n_original} original frames ({original.path}) but "
        f"{n_synthetic} synthetic frames ({synthetic.path})"
        + ("; synthesis made only the first frames (max_frames)" if limited else "")
        + "; finish the synthesis of this video, or compare the common leading frames "
        "with align=truncate"
    )


def open_pairs(
    original_root: str | Path,
    synthetic_root: str | Path,
    *,
    original_layout: str = "auto",
    crops_dir: str | Path | None = None,
    videos: list[str] | None = None,
    align: str = "error",
) -> list[VideoPair]:
    """Pair the original and synthetic videos by id, with the originals' crops."""
    original_root, synthetic_root = Path(original_root), Path(synthetic_root)
    originals = _open_originals(original_root, original_layout)
    synthetic = open_synthetic(synthetic_root)
    chosen = _chosen_videos(synthetic, synthetic_root, videos)
    _check_originals(chosen, synthetic, originals, (original_root, synthetic_root), videos is None)
    crop_root = resolve_crops_dir(crops_dir, synthetic_root)
    if crop_root is None:
        log.warning(
            "no crops found (%s/crops); the whole original frames are scaled to the synthetic "
            "size. Set crops_dir if synthesis cropped the faces",
            synthetic_root,
        )
    pairs = []
    for video in chosen:
        original = originals[synthetic.source_video[video]]
        synthetic_source, record = synthetic.sources[video], synthetic.manifest.get(video)
        if align != "truncate":
            _check_lengths(video, original, synthetic_source, record)
        crop_file = None if crop_root is None else crop_root / SynthesisOutput.crop_file_name(video)
        crop = Crop.load(crop_file) if crop_file is not None else None
        reference = record.reference if record is not None else None
        length = min(len(original), len(synthetic_source))
        reference = str(reference) if reference else None
        pairs.append(VideoPair(video, original, synthetic_source, crop, length, reference))
    return pairs
