"""Spotting features of many videos: one cache file per video, worker processes.

:func:`compute_many` reads the cached :class:`mesynth.spotting.features.VideoFeatures` whose
key still matches and computes the others (:func:`mesynth.spotting.features.compute_features`)
in this process or in worker processes, with a progress bar (the processes and the progress
are :mod:`mesynth.spotting.video_pool`'s). The key (:func:`cache_key`) holds the settings, the
resolved ``k``/``k_macro``/sampling, the source (path, frame count, file sizes and modification
times) and the crop, so re-runs and sweeps over spotter settings cost nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mesynth.caching import digest, same_key, source_identity
from mesynth.spotting.features import (
    FEATURES_VERSION,
    FeatureJob,
    FeatureSettings,
    VideoFeatures,
    compute_features,
    frame_rate,
)
from mesynth.spotting.video_pool import compute_cached


def cache_key(job: FeatureJob, settings: FeatureSettings) -> dict:
    fps = frame_rate(job, settings)
    k, k_macro, stride = settings.resolve(fps)
    crop = job.crop.to_dict() if job.crop is not None else None
    return {
        "version": FEATURES_VERSION,
        "settings": settings.cache_dict(),
        "fps": fps,
        "resolved": [k, k_macro, stride],
        "source": source_identity(job.source),
        "crop": digest(crop),
    }


_detector = None  # one landmark detector per process (loading it takes about a second)


@dataclass(frozen=True)
class RegionFeatures:
    """The region features of :func:`compute_features` as a cached per-video computation
    (:mod:`mesynth.spotting.video_pool`)."""

    settings: FeatureSettings

    def key(self, job: FeatureJob) -> dict:
        return cache_key(job, self.settings)

    def frames(self, job: FeatureJob) -> int:
        return len(job.source)

    def compute(self, job: FeatureJob, on_frames: Callable[[int], None]) -> VideoFeatures:
        global _detector
        if _detector is None:
            from mesynth.faces.landmarks import LandmarkDetector

            _detector = LandmarkDetector()
        return compute_features(job, self.settings, _detector, on_frames)

    def save(self, result: VideoFeatures, path: Path, key: Mapping) -> None:
        result.save(path, key)

    def load(self, path: Path, key: Mapping | None) -> VideoFeatures | None:
        maps = self.settings.maps
        if key is not None:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                has_maps = "maps" in data.files
            if not same_key(meta.get("key"), key) or (maps and not has_maps):
                return None
        return VideoFeatures.load(path, maps=maps)


def compute_many(
    jobs: Sequence[FeatureJob],
    settings: FeatureSettings,
    cache_dir: str | Path | None = None,
    workers: int = 1,
    progress: bool = True,
) -> list[VideoFeatures]:
    """Features of every job, in job order: cached ones read, the others computed by
    ``workers`` processes (1: in this process), with a progress bar in frames/s and ETA."""
    return compute_cached(jobs, RegionFeatures(settings), cache_dir, workers, progress)
