"""The feature cache and worker processes: a cached video is read, a changed one computed again,
workers give what one process gives."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from mesynth.spotting import feature_cache
from mesynth.spotting.feature_cache import compute_many
from mesynth.spotting.features import FeatureSettings, VideoFeatures
from mesynth.video.demo_clip import demo_face

from .feature_clips import feature_jobs, make_clips, write_clip


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    return make_clips(demo_face(128), tmp_path_factory.mktemp("feature_clips"))


@pytest.fixture(scope="module")
def computed(clips) -> dict[str, VideoFeatures]:
    results = compute_many(
        feature_jobs(clips), FeatureSettings(maps=True, map_size=16), progress=False
    )
    return {f.name: f for f in results}


def test_cache_reuses_results_and_notices_changed_frames(clips, tmp_path, monkeypatch):
    root = tmp_path / "clips"
    for name in ("brows", "sway"):
        write_clip(root / name, [cv2.imread(str(p)) for p in sorted((clips / name).iterdir())])
    settings = FeatureSettings()
    cache = tmp_path / "cache"
    first = compute_many(feature_jobs(root), settings, cache, progress=False)
    assert len(list(cache.glob("*.npz"))) == 2

    computed_names = []
    original = feature_cache.compute_features

    def counting(job, *args, **kwargs):
        computed_names.append(job.name)
        return original(job, *args, **kwargs)

    monkeypatch.setattr(feature_cache, "compute_features", counting)
    again = compute_many(feature_jobs(root), settings, cache, progress=False)
    assert computed_names == []
    for before, after in zip(first, again, strict=True):
        np.testing.assert_array_equal(before.motion, after.motion)
        np.testing.assert_array_equal(before.vectors, after.vectors)
        assert before.name == after.name and before.k == after.k

    # A rewritten frame changes the source's identity: only that video is computed again.
    frame = root / "sway" / "sway_0005.png"
    cv2.imwrite(str(frame), np.full((128, 128), 128, np.uint8))
    compute_many(feature_jobs(root), settings, cache, progress=False)
    assert computed_names == ["sway"]
    # Other settings are other cache files.
    compute_many(feature_jobs(root), dataclasses.replace(settings, k=4), cache, progress=False)
    assert computed_names == ["sway", "brows", "sway"]
    assert len(list(cache.glob("*.npz"))) == 5


@pytest.mark.slow
def test_worker_processes_give_the_same_features(clips, computed):
    pooled = compute_many(
        feature_jobs(clips), FeatureSettings(maps=True, map_size=16), workers=2, progress=False
    )
    for features in pooled:
        reference = computed[features.name]
        np.testing.assert_allclose(features.motion, reference.motion, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(features.vectors, reference.vectors, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(features.maps, reference.maps)
