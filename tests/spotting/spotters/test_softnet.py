"""spotter=softnet on generated clips: its features per video and type, trained folds, the
released folds assigned by participant, predictions in source frame numbers."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from omegaconf import OmegaConf

from mesynth.config import conf_dir
from mesynth.spotting import softnet as sn
from mesynth.spotting.features import FeatureJob
from mesynth.spotting.scoring import read_ground_truth
from mesynth.spotting.spotters import build_spotter
from mesynth.spotting.spotters.softnet import SoftNet, assign_folds, training_set
from mesynth.spotting.types import SpottingVideo
from mesynth.video.demo_clip import make_demo
from mesynth.video.layouts import open_sources
from tests.spotting.softnet_fixtures import write_keras_weights

FPS = 30.0
K = {"micro": 3, "macro": 9}


def _spotter(seed: int = 0, **overrides) -> SoftNet:
    node = OmegaConf.load(conf_dir() / "spotter" / "softnet.yaml")
    values = {"checkpoint_dir": "/nonexistent", "dataset": None, "flow": "fast"}
    values |= {"k_micro": K["micro"], "k_macro": K["macro"], **overrides}
    for key, value in values.items():
        OmegaConf.update(node, key, value)
    return build_spotter(node, seed)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Three participants, one 6 s clip each at 30 fps, 128 px."""
    root = tmp_path_factory.mktemp("softnet_clips")
    make_demo(
        root, seconds=6.0, fps=FPS, frame_size=128, participants=3, gaps=(0.6, 1.2), progress=False
    )
    sources = open_sources(root / "frames")
    truth = read_ground_truth(root / "annotations.csv")
    return root, sources, truth


def _videos(spotter: SoftNet, clips, cache=None) -> list[SpottingVideo]:
    _, sources, truth = clips
    jobs = [FeatureJob(s.video_id, s, None, FPS) for s in sources]
    participants = [s.participant for s in sources]
    by_participant: dict[str, list] = {}
    for source in sources:
        by_participant.setdefault(source.participant, []).extend(truth[source.video_id])
    features = spotter.video_features(
        jobs, participants, truth, by_participant, cache, workers=1, progress=False
    )
    return [
        SpottingVideo(s.video_id, s.participant, FPS, f, truth[s.video_id])
        for s, f in zip(sources, features, strict=True)
    ]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("softnet_cache")


@pytest.fixture(scope="module")
def videos(clips, cache) -> list[SpottingVideo]:
    return _videos(_spotter(), clips, cache)


def test_features_per_type_are_cached_and_fast_flow_is_labelled(videos, clips, cache, caplog):
    video = videos[0].features
    assert video.features["micro"].shape == (len(video) - 3, 42, 42, 3)
    assert video.features["macro"].shape == (len(video) - 9, 42, 42, 3)
    assert video.folds == {}  # no released weights here: trained folds
    files = sorted(p.name for p in (cache / "softnet").iterdir())
    assert len(files) == 2 * 3 * 2  # video x type, array + key
    with caplog.at_level(logging.INFO):
        again = _videos(_spotter(), clips, cache)
    assert "NOT SOFTNet's features" in caplog.text
    assert "SOFTNet features: 6 of 6 video(s) from the cache" in caplog.text
    assert isinstance(again[0].features.features["micro"], np.memmap)
    np.testing.assert_array_equal(again[0].features.features["macro"], video.features["macro"])
    other_k = _videos(_spotter(k_micro=4), clips, cache)
    assert other_k[0].features.features["micro"].shape[0] == len(video) - 4
    assert len(list((cache / "softnet").iterdir())) == 2 * 3 * 3


def test_its_training_set_downsamples_negatives_and_augments_micro(videos):
    x, y = training_set(videos[:2], "micro", seed=0)
    labels = np.concatenate(
        [
            sn.softnet_pseudo_labels(
                len(v.features),
                3,
                [(int(e.onset) - 1, int(e.offset) - 1) for e in v.events if e.kind == "micro"],
            )
            for v in videos[:2]
            if any(e.kind == "micro" for e in v.events)
        ]
    )
    positives, negatives = int(labels.sum()), int((labels == 0).sum())
    kept_negatives = int(max(positives, negatives) / 2)
    assert positives > 0 and x.shape == (kept_negatives + 4 * positives, 42, 42, 3)
    assert int(y.sum()) == 4 * positives  # each positive, flipped, blurred and noisy
    macro_x, macro_y = training_set(videos[:2], "macro", seed=0)
    assert len(macro_x) == int(macro_y.sum()) + int((macro_y == 0).sum())
    assert macro_y.sum() < len(macro_y)


def test_a_trained_fold_spots_in_source_frame_numbers(videos):
    spotter = _spotter(seed=3, epochs=1)
    with pytest.raises(RuntimeError, match="not been trained"):
        spotter.predict(videos[2])
    spotter.fit(videos[:2])
    test = videos[2]
    numbers = test.features.frame_numbers
    predictions = spotter.predict(test)
    assert predictions and all(p.video == test.video_id for p in predictions)
    for prediction in predictions:
        k = K[prediction.kind]
        first = int(np.flatnonzero(numbers == prediction.onset)[0])
        assert numbers[first + 2 * k] == prediction.offset  # its [peak - k, peak + k]
        assert np.isfinite(prediction.score)
    curve = spotter.frame_scores(test)
    assert curve.shape == (len(numbers),) and np.isfinite(curve).all()
    again = _spotter(seed=3, epochs=1)
    again.fit(videos[:2])
    np.testing.assert_allclose(again.frame_scores(test), curve, atol=1e-5)


def _released_dir(tmp_path, folds: int):
    root = tmp_path / "checkpoints" / "softnet"
    for kind in ("micro", "macro"):
        folder = root / "SAMMLV" / f"{kind}-expression"
        folder.mkdir(parents=True)
        for fold in range(1, folds + 1):
            write_keras_weights(
                folder / f"s{fold}.hdf5", seed=fold + (10 if kind == "macro" else 0)
            )
    return root


def test_released_folds_score_their_own_participant(clips, cache, tmp_path, caplog):
    root = _released_dir(tmp_path, 3)
    spotter = _spotter(checkpoint_dir=str(root), dataset="samm_lv", weights="auto")
    with caplog.at_level(logging.INFO, logger="mesynth.spotting"):
        videos = _videos(spotter, clips, cache)
    assert "spotter.weights=auto: released" in caplog.text
    assert "s1=900, s2=901, s3=902" in caplog.text
    assert [v.features.folds["micro"][0].stem for v in videos] == ["s1", "s2", "s3"]
    spotter.fit(videos[:2])  # nothing to train: fold s3 held participant 902 out
    assert spotter.networks == {}
    test = videos[2]
    scores = spotter.type_scores(test, "macro")
    model = sn.load_released(root / "SAMMLV" / "macro-expression" / "s3.hdf5")
    np.testing.assert_allclose(scores, sn.predict_scores(model, test.features.features["macro"]))
    _, peaks = sn.softnet_peaks(scores, K["macro"])
    found = [p for p in spotter.predict(test) if p.kind == "macro"]
    assert [p.onset for p in found] == [int(test.features.frame_numbers[i]) for i in peaks]


def test_released_folds_are_refused_when_the_subjects_differ(clips, cache, tmp_path):
    root = _released_dir(tmp_path, 4)
    spotter = _spotter(checkpoint_dir=str(root), dataset="SAMMLV", weights="released")
    with pytest.raises(ValueError, match="4 files .* but 3 participants with micro"):
        _videos(spotter, clips, cache)


def test_another_dataset_gets_the_mean_of_all_folds(clips, cache, tmp_path, caplog):
    root = _released_dir(tmp_path, 2)
    spotter = _spotter(checkpoint_dir=str(root), weights="released", released_set="SAMMLV")
    with caplog.at_level(logging.INFO, logger="mesynth.spotting"):
        videos = _videos(spotter, clips, cache)
    assert "mean of the 2 released SAMMLV folds" in caplog.text
    test = videos[0]
    assert len(test.features.folds["micro"]) == 2
    expected = np.mean(
        [
            sn.predict_scores(sn.load_released(path), test.features.features["micro"])
            for path in test.features.folds["micro"]
        ],
        axis=0,
    )
    np.testing.assert_allclose(spotter.type_scores(test, "micro"), expected, atol=1e-6)


def test_settings_are_checked():
    with pytest.raises(ValueError, match="weights='pretrained' is not one of"):
        _spotter(weights="pretrained")
    with pytest.raises(ValueError, match="neither SAMM-LV nor CAS"):
        _spotter(dataset="casme3")
    with pytest.raises(FileNotFoundError, match="mesynth download softnet"):
        assign_folds(_spotter(weights="released").settings, [], [], {})
