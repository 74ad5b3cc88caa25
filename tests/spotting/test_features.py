"""Motion features: where the motion is found, head motion removed, sampling, errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest
from omegaconf import OmegaConf

from mesynth.config import conf_dir
from mesynth.spotting.feature_cache import compute_many
from mesynth.spotting.features import FeatureJob, FeatureSettings, VideoFeatures, warp_to_crop
from mesynth.spotting.roi import ROI_NAMES
from mesynth.video.layouts import open_sources

from .feature_clips import FPS, FRAMES, feature_jobs, make_clips, write_clip


@pytest.fixture(scope="module")
def clips(face, tmp_path_factory) -> Path:
    return make_clips(face, tmp_path_factory.mktemp("feature_clips"))


@pytest.fixture(scope="module")
def computed(clips) -> dict[str, VideoFeatures]:
    results = compute_many(
        feature_jobs(clips), FeatureSettings(maps=True, map_size=16), progress=False
    )
    return {f.name: f for f in results}


def _region(features: VideoFeatures, names) -> np.ndarray:
    return features.motion[:, [features.roi_names.index(n) for n in names]].max(axis=1)


def test_every_default_is_in_the_config_file_and_k_follows_the_frame_rate():
    node = OmegaConf.load(conf_dir() / "spotting_features" / "default.yaml")
    settings = FeatureSettings.from_config(node)
    assert settings == FeatureSettings()
    assert FeatureSettings.from_config(node, maps=True).maps is True
    # (k, k_macro, stride): SAMM-LV's 200 fps is sampled every 4th frame, CAS(ME)^2's 30 fps
    # every frame; k is half of 0.4 s (SOFTNet's k: 37 and 6), a multiple of the step.
    assert settings.resolve(200.0) == (40, 152, 4)
    assert settings.resolve(30.0) == (6, 22, 1)
    assert dataclasses.replace(settings, k=10, max_fps=None).resolve(200.0) == (10, 150, 1)

    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['kk'\]"):
        FeatureSettings.from_config({**OmegaConf.to_container(node), "kk": 3})
    with pytest.raises(ValueError, match=r"flow has unknown setting\(s\) \['speed'\]"):
        FeatureSettings.from_config({"flow": {"speed": 1}})
    with pytest.raises(ValueError, match="k_macro=5 must be larger than k=10"):
        FeatureSettings(k=10, k_macro=5)
    with pytest.raises(ValueError, match="flow.method='tvl1' is not one of"):
        FeatureSettings(flow_method="tvl1")


def test_motion_is_found_in_the_moving_region_only(computed):
    brows, mouth = computed["brows"], computed["mouth"]
    assert brows.roi_names == ROI_NAMES and brows.roi_source == "landmarks"
    assert len(brows) == FRAMES and brows.frame_numbers.tolist() == list(range(1, FRAMES + 1))
    assert (brows.k, brows.k_macro, brows.stride) == (6, 22, 1)
    for array in (brows.motion, brows.strain, brows.motion_macro, brows.strain_macro):
        assert array.shape == (FRAMES, len(ROI_NAMES)) and array.dtype == np.float32

    brow_motion = _region(brows, ["brow_left", "brow_right"])
    assert brow_motion.max() > 1.0  # pixels of the 128 px crop over k = 6 frames
    assert brow_motion.max() > 3 * _region(brows, ["mouth"]).max()
    assert 8 <= int(np.argmax(brow_motion)) <= 28  # during the expression (frames 10-26)
    assert brow_motion[:4].max() < 0.1 * brow_motion.max()  # still face before it

    smile = _region(mouth, ["mouth"])
    assert smile.max() > 0.4
    assert smile.max() > 3 * _region(mouth, ["brow_left", "brow_right"]).max()
    # Strain follows the deformation too.
    assert brows.strain[:, 0].max() > 5 * brows.strain[:4, 0].max()


def test_dis_flow_finds_the_same_motion(clips, computed):
    jobs = [j for j in feature_jobs(clips) if j.name in ("brows", "sway")]
    results = compute_many(jobs, FeatureSettings(flow_method="dis"), progress=False)
    brows, sway = results
    brow_motion = _region(brows, ["brow_left", "brow_right"])
    reference = _region(computed["brows"], ["brow_left", "brow_right"])
    assert abs(int(np.argmax(brow_motion)) - int(np.argmax(reference))) <= 2
    assert brow_motion.max() > 3 * _region(brows, ["mouth"]).max()
    assert sway.motion.max() < 0.25 * brow_motion.max()


def test_head_motion_is_subtracted(computed):
    sway = computed["sway"]
    # The head moves up to 1.6 px over a k = 6 frame pair; the regions, measured against the
    # nose, barely move.
    assert sway.motion.max() < 0.35
    assert sway.motion.max() < 0.25 * _region(computed["brows"], ["brow_left"]).max()
    assert np.abs(sway.vectors).max() < 0.2


def test_maps_and_vectors_have_their_documented_shapes(computed):
    brows = computed["brows"]
    assert brows.maps.shape == (FRAMES, 6, 16, 16) and brows.maps.dtype == np.float16
    assert brows.map_channels == (
        "u@micro",
        "v@micro",
        "strain@micro",
        "u@macro",
        "v@macro",
        "strain@macro",
    )
    assert brows.vectors.shape == (FRAMES, len(ROI_NAMES), 4, 2)
    # Brows lowered: the brow cells move down (+y) on the way in, up on the way back.
    down = brows.vectors[:, ROI_NAMES.index("brow_left"), :, 1].mean(axis=1)
    assert down[10:16].max() > 0.5 and down[20:26].min() < -0.5
    # Pairs need k/2 frames on each side; the vectors there are zero (no motion known).
    assert not brows.vectors[:3].any() and not brows.vectors[-3:].any()
    assert brows.roi_boxes.shape == (len(ROI_NAMES) + 1, 4)


def test_high_frame_rates_are_sampled_and_rows_interpolated(clips, computed):
    settings = FeatureSettings(k=4, k_macro=8, max_fps=15)
    (features,) = compute_many(
        [j for j in feature_jobs(clips) if j.name == "brows"], settings, progress=False
    )
    assert (features.k, features.k_macro, features.stride) == (4, 8, 2)
    assert len(features) == FRAMES
    middle = features.motion[1:-1:2]
    np.testing.assert_allclose(middle, (features.motion[:-2:2] + features.motion[2::2]) / 2, 1e-5)
    every_frame = compute_many(
        [j for j in feature_jobs(clips) if j.name == "brows"],
        dataclasses.replace(settings, max_fps=None),
        progress=False,
    )[0]
    brow = ROI_NAMES.index("brow_left")
    assert (
        abs(int(np.argmax(features.motion[:, brow])) - int(np.argmax(every_frame.motion[:, brow])))
        <= 2
    )


def test_save_and_load_round_trip(computed, tmp_path):
    brows = computed["brows"]
    path = brows.save(tmp_path / "brows.npz", key={"a": 1})
    loaded = VideoFeatures.load(path)
    for name, array in brows.arrays().items():
        np.testing.assert_array_equal(getattr(loaded, name), array)
    assert loaded.meta() == brows.meta()
    assert VideoFeatures.load(path, maps=False).maps is None


def test_bad_inputs_are_clear_errors(clips, tmp_path):
    (source,) = [s for s in open_sources(clips, layout="folder") if s.video_id == "brows"]
    with pytest.raises(ValueError, match="no known frame rate.*spotting.features.fps"):
        compute_many([FeatureJob("brows", source)], FeatureSettings(), progress=False)
    with pytest.raises(ValueError, match=r"distinct names; repeated: \['x'\]"):
        compute_many(
            [FeatureJob("x", source, None, FPS), FeatureJob("x", source, None, FPS)],
            FeatureSettings(),
            progress=False,
        )
    single = tmp_path / "single"
    write_clip(single, [cv2.imread(str(sorted((clips / "brows").iterdir())[0]))])
    (one,) = open_sources(single, layout="folder")
    with pytest.raises(ValueError, match="1 frame.*at least two samples"):
        compute_many([FeatureJob("single", one, None, FPS)], FeatureSettings(), progress=False)


def test_frames_without_a_face_use_the_aligned_crop_template(tmp_path, caplog):
    rng = np.random.default_rng(0)
    blank = tmp_path / "noface"
    write_clip(blank, [rng.integers(0, 255, (96, 96), dtype=np.uint8) for _ in range(12)])
    (source,) = open_sources(blank, layout="folder")
    (features,) = compute_many(
        [FeatureJob("noface", source, None, FPS)], FeatureSettings(), progress=False
    )
    assert features.roi_source == "template"
    assert "no face found" in caplog.text and "noface" in caplog.text


def test_a_strong_reduction_is_not_aliased():
    ys, xs = np.mgrid[0:512, 0:512]
    matrix = np.array([[0.25, 0.0, 0.0], [0.0, 0.25, 0.0]])
    # Stripes near the frame's Nyquist frequency vanish (a plain warp aliases them into bands).
    stripes = (127 + 120 * np.sin(xs * 2.9)).astype(np.uint8)
    crop = warp_to_crop(np.dstack([stripes] * 3), matrix, 128)
    naive = cv2.warpAffine(stripes, matrix, (128, 128), flags=cv2.INTER_LINEAR)
    assert crop.std() < 3 and naive.std() > 30
    # Smooth content is where a plain warp puts it, turned and scaled alike.
    ys, xs = np.mgrid[0:512, 0:600]
    smooth = (127 + 100 * np.sin(xs / 40.0) * np.cos(ys / 50.0)).astype(np.uint8)
    turn = cv2.getRotationMatrix2D((300, 256), 10, 0.2)
    turn[:, 2] += [64 - 300, 64 - 256]
    crop = warp_to_crop(np.dstack([smooth] * 3), turn, 128).astype(float)
    plain = cv2.warpAffine(smooth, turn, (128, 128), borderMode=cv2.BORDER_REPLICATE)
    assert np.abs(crop - plain).mean() < 1.5 and np.abs(crop - plain).max() < 10
