"""SOFTNet stage by stage against numbers its published code computed on the same generated
inputs (``data/softnet_reference.json``, ``data/softnet_reference_features.npz``; how they were
made is said in the json's ``about``)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from mesynth.spotting.scoring import match_counts, softnet_coco_ap
from mesynth.spotting.softnet import (
    SoftNetDlib,
    SoftNetModel,
    load_released,
    peak_intervals,
    released_fold_mapping,
    save_keras_weights,
    softnet_faces,
    softnet_features,
    softnet_k,
    softnet_normalise,
    softnet_peaks,
    softnet_pseudo_labels,
    softnet_subject_order,
)
from mesynth.spotting.types import Interval, Prediction

from .softnet_fixtures import network_inputs, softnet_clip, write_keras_weights

DATA = Path(__file__).parent / "data"
REFERENCE = json.loads((DATA / "softnet_reference.json").read_text())


@pytest.fixture(scope="module")
def dlib_models() -> SoftNetDlib:
    return SoftNetDlib()


@pytest.fixture(scope="module")
def crops(dlib_models) -> np.ndarray:
    return softnet_faces(softnet_clip(), dlib_models)


def _as_input(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def test_released_layout_loads_and_equals_keras(tmp_path):
    path = tmp_path / "s1.hdf5"
    write_keras_weights(path, seed=0)
    model = load_released(path)
    with torch.no_grad():
        scores = model(_as_input(network_inputs()))
    assert scores.shape == (16, 1) and scores.dtype == torch.float32
    expected = np.array(REFERENCE["keras_outputs_seed0"], dtype=np.float32)
    np.testing.assert_allclose(scores[:, 0].numpy(), expected, atol=1e-5, rtol=0)
    assert np.ptp(expected) > 0.1  # the outputs differ per input: a wrong layout would show


def test_weights_written_back_load_to_the_same_network(tmp_path):
    torch.manual_seed(0)
    model = SoftNetModel().eval()
    path = save_keras_weights(model, tmp_path / "trained.hdf5")
    with h5py.File(path, "r") as handle:
        assert handle["conv2d_2/conv2d_2/kernel:0"].shape == (5, 5, 1, 8)
        assert handle["dense/dense/kernel:0"].shape == (784, 400)
    again = load_released(path)
    x = _as_input(network_inputs(4))
    with torch.no_grad():
        torch.testing.assert_close(again(x), model(x), atol=1e-6, rtol=0)


def test_a_file_that_is_not_softnet_weights_is_refused(tmp_path):
    path = tmp_path / "s2.hdf5"
    write_keras_weights(path)
    with h5py.File(path, "a") as handle:
        del handle["dense_1/dense_1/kernel:0"]
        handle["dense_1/dense_1/kernel:0"] = np.zeros((400, 2), np.float32)
    with pytest.raises(ValueError, match=r"s2.hdf5 is not a SOFTNet weight file.*dense_1"):
        load_released(path)
    broken = tmp_path / "s3.hdf5"
    broken.write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="s3.hdf5 is not a SOFTNet weight file.*download softnet"):
        load_released(broken)
    with pytest.raises(FileNotFoundError, match="mesynth download softnet"):
        load_released(tmp_path / "missing.hdf5")


def test_faces_are_its_crops_bit_for_bit(crops):
    assert crops.shape == (7, 128, 128) and crops.dtype == np.uint8
    digest = hashlib.sha256(np.ascontiguousarray(crops).tobytes()).hexdigest()
    assert digest == REFERENCE["clip_crops_sha256"]


def test_features_equal_its_features(crops, dlib_models):
    features = softnet_features(crops, 2, dlib_models)
    expected = np.load(DATA / "softnet_reference_features.npz")["features_k2"]
    assert features.shape == expected.shape == (5, 42, 42, 3)
    assert np.abs(expected).max() > 1.0  # real motion, not an empty map
    np.testing.assert_allclose(features, expected, atol=1e-5, rtol=0)
    # the eye hexagons are zero in every channel; strain keeps its sign after the nose shift
    assert (features[..., 0] >= 0).all() and (features[..., 1] >= 0).all()
    assert (features[..., 2] < 0).any()


def test_features_check_their_input():
    with pytest.raises(ValueError, match=r"clip: SOFTNet features need \(T, 128, 128\) uint8"):
        softnet_features(np.zeros((4, 64, 64), np.uint8), 1, name="clip")
    assert softnet_features(np.zeros((3, 128, 128), np.uint8), 3).shape == (0, 42, 42, 3)


def test_normalisation_is_its_min_max():
    rng = np.random.default_rng(5)
    x = np.stack([rng.normal(size=(42, 42, 3)) * 3 for _ in range(4)])
    x[1, :, :, 2] = 1.5  # a constant channel: 0, as OpenCV's NORM_MINMAX makes it
    scaled = softnet_normalise(x)
    assert scaled.shape == (4, 3, 42, 42) and scaled.dtype == np.float32
    expected = np.array(REFERENCE["normalise_first_values"])
    np.testing.assert_allclose(scaled.transpose(0, 2, 3, 1)[:, :2, :2], expected, atol=1e-7)
    assert (scaled[1, 2] == 0).all() and scaled[0].min() == 0 and scaled[0].max() == 1


def _case_scores(seed: int, k: int, videos) -> list[np.ndarray]:
    """The per-pair scores the reference numbers were computed from."""
    rng = np.random.default_rng(100 + seed)
    curves = []
    for position, (n, intervals) in enumerate(videos):
        scores = rng.random(n - k).astype(np.float32) * 0.2
        for onset, offset in intervals:
            scores[max(0, onset - k) : offset] += np.float32(rng.random() * 0.8)
        if seed == 4 and position == 1:
            scores[:] = np.float32(0.1)  # no peak: SOFTNet's placeholder prediction
        curves.append(scores)
    return curves


@pytest.mark.parametrize("seed", ["1", "2", "3", "4"])
def test_labels_k_peaks_and_counts_equal_its_own(seed):
    case = REFERENCE["spotting_cases"][seed]
    k = case["k"]
    videos = [(v["n"], v["intervals"]) for v in case["videos"]]
    assert softnet_k([i for _, intervals in videos for i in intervals]) == case["cal_k"]
    labels = np.concatenate([softnet_pseudo_labels(n, k, iv) for n, iv in videos])
    assert int(labels.sum()) == case["labels_sum"]
    assert np.flatnonzero(np.diff(np.r_[0, labels, 0])).tolist() == case["labels_hash"]

    predictions, truth = [], {}
    for position, ((n, intervals), scores) in enumerate(
        zip(videos, _case_scores(int(seed), k, videos), strict=True)
    ):
        threshold, peaks = softnet_peaks(scores, k)
        assert np.isfinite(threshold)
        shifted = [[int(p) - k, int(p) + k] for p in peaks] or [[0, 0]]
        assert shifted == case["per_video"][position]["preds"]
        name = f"v{position}"
        truth[name] = [Interval(a, b, "micro") for a, b in intervals]
        predictions += [Prediction(name, a, b, "micro") for a, b in peak_intervals(peaks, k)]
        assert all(0 <= a and b < n - k for a, b in peak_intervals(peaks, k))
    counts = [
        match_counts([p.interval for p in predictions if p.video == v], truth[v], 0.5, "softnet")
        for v in truth
    ]
    tp = sum(c.n_tp for c in counts)
    fp = sum(c.n_pred - c.n_tp for c in counts)
    fn = sum(c.n_gt for c in counts) - tp
    assert (tp, fp, fn) == (case["tp"], case["fp"], case["fn"])
    ap = softnet_coco_ap(predictions, truth, "micro", list(truth))
    assert ap == pytest.approx(case["coco_ap"], abs=1e-7)


def test_pseudo_labels_mark_windows_that_overlap_an_expression():
    # 0-based [10, 14]: frames 11..14 in its count; windows [i, i + 3) touching them
    labels = softnet_pseudo_labels(30, 3, [(10, 14)])
    assert len(labels) == 27
    assert np.flatnonzero(labels).tolist() == list(range(9, 15))
    assert softnet_pseudo_labels(30, 3, [(5, 5)]).sum() == 0  # no frame after its onset
    assert softnet_k([(0, 10), (0, 20)]) == 8  # int((15 + 1) / 2)
    with pytest.raises(ValueError, match="at least one annotated expression"):
        softnet_k([])


def test_peaks_of_a_short_video_are_none():
    threshold, peaks = softnet_peaks(np.ones(8, np.float32), 4)
    assert np.isnan(threshold) and len(peaks) == 0


def test_softnet_matching_scores_only_videos_with_ground_truth():
    truth = [Interval(10, 20, "micro")]
    assert match_counts([Interval(11, 20, "micro")], truth, 0.5, "softnet").as_dict()["n_tp"] == 1
    nothing = match_counts([], truth, 0.5, "softnet")
    assert (nothing.n_pred, nothing.n_tp, nothing.n_gt) == (1, 0, 1)  # its placeholder: an FP
    unscored = match_counts([Interval(1, 5, "micro")], [], 0.5, "softnet")
    assert (unscored.n_pred, unscored.n_tp, unscored.n_gt) == (0, 0, 0)
    # two predictions on one interval: one TP, one FP (megc would count one found interval
    # for two predictions as well, but softnet never lets a prediction find a second one)
    two = match_counts([Interval(10, 19, "micro"), Interval(11, 21, "micro")], truth, 0.5)
    both = match_counts(
        [Interval(10, 19, "micro"), Interval(11, 21, "micro")], truth, 0.5, "softnet"
    )
    assert (two.n_tp, both.n_tp, both.n_pred) == (1, 1, 2)


def test_fold_mapping_follows_its_subject_order(tmp_path, caplog):
    events = {
        "s23": [Interval(1, 5, "micro")],
        "s15": [Interval(1, 5, "macro")],
        "s9": [Interval(1, 5, "micro"), Interval(7, 9, "macro")],
        "s100": [Interval(3, 6, "micro")],
    }
    assert softnet_subject_order(events, "micro") == ["s9", "s23", "s100"]
    assert softnet_subject_order(events, "macro") == ["s9", "s15"]
    files = [tmp_path / f"s{n}.hdf5" for n in (1, 2, 3)]
    with caplog.at_level("INFO", logger="mesynth.spotting.softnet"):
        mapping = released_fold_mapping(events, "micro", files, "CASME_sq")
    assert mapping == {"s9": files[0], "s23": files[1], "s100": files[2]}
    assert "s1=s9, s2=s23, s3=s100" in caplog.text
    with pytest.raises(ValueError, match="3 files .* but 2 participants with macro"):
        released_fold_mapping(events, "macro", files, "CASME_sq")
