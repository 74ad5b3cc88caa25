"""Spotters built from their configs on generated clips: flow_peaks finds the scheduled events
among distractors, SOFTNet trained on realistic clips keeps to the expressions, every setting
is in the config files. Peaks on hand-made curves: spotters/test_peaks.py."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from mesynth.config import conf_dir
from mesynth.spotting.feature_cache import compute_many
from mesynth.spotting.features import FeatureJob, FeatureSettings
from mesynth.spotting.scoring import distractor_hits, read_ground_truth, score_predictions
from mesynth.spotting.spotters import build_spotter
from mesynth.spotting.spotters.flow_peaks import FlowPeaks
from mesynth.spotting.spotters.softnet import SoftNet
from mesynth.spotting.types import Prediction, SpottingVideo
from mesynth.video.demo_clip import make_demo
from mesynth.video.distractors import read_distractors
from mesynth.video.layouts import open_sources

FPS = 30.0
SECONDS = 16.0


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """Three participants, two 16 s clips each at 30 fps, 128 px, expressions 1-2.5 s apart,
    with the distractors of real long videos (unlabelled blinks, head drift and turns, noise)."""
    root = tmp_path_factory.mktemp("spotting_clips")
    return make_demo(
        root,
        seconds=SECONDS,
        fps=FPS,
        frame_size=128,
        participants=3,
        videos=2,
        gaps=(1.0, 2.5),
        progress=False,
    )


@pytest.fixture(scope="module")
def videos(clips) -> list[SpottingVideo]:
    sources = open_sources(clips / "frames")
    assert all(source.fps is None or source.fps == 200.0 for source in sources)  # layout's rate
    jobs = [FeatureJob(s.video_id, s, None, FPS) for s in sources]
    settings = FeatureSettings(maps=True, map_size=16)
    truth = read_ground_truth(clips / "annotations.csv")
    return [
        SpottingVideo(job.name, job.source.participant, FPS, features, truth[job.name])
        for job, features in zip(jobs, compute_many(jobs, settings, progress=False), strict=True)
    ]


def _spotter(name: str, seed: int = 0, **overrides):
    node = OmegaConf.load(conf_dir() / "spotter" / f"{name}.yaml")
    for key, value in overrides.items():
        OmegaConf.update(node, key, value)
    return build_spotter(node, seed)


def _leave_one_out(videos, make):
    predictions, spotters = [], []
    for held in sorted({v.participant for v in videos}):
        spotter = make()
        spotter.fit([v for v in videos if v.participant != held])
        predictions += [p for v in videos if v.participant == held for p in spotter.predict(v)]
        spotters.append(spotter)
    return predictions, spotters


def test_flow_peaks_finds_the_scheduled_events(videos):
    truth = {v.video_id: v.events for v in videos}
    assert {e.kind for v in videos for e in v.events} == {"micro", "macro"}
    predictions, spotters = _leave_one_out(videos, lambda: _spotter("flow_peaks"))
    score = score_predictions(predictions, truth)
    assert score.counts["overall"].f1 >= 0.8, score.table()
    assert score.counts["micro"].n_tp > 0 and score.counts["macro"].n_tp > 0, score.table()
    for spotter in spotters:  # calibrated on the two training participants
        assert spotter.p in spotter.settings.peaks.p_grid
        assert spotter.extent in spotter.settings.peaks.extent_grid
        assert spotter.training_f1 >= 0.8
    for prediction in predictions:
        assert isinstance(prediction, Prediction) and np.isfinite(prediction.score)
        assert 1 <= prediction.onset <= prediction.offset <= SECONDS * FPS  # file numbers
        seconds = (prediction.offset - prediction.onset + 1) / FPS
        assert (prediction.kind == "micro") == (seconds <= 0.5)


def test_flow_peaks_keeps_to_the_expressions_among_distractors(clips, videos):
    """Blinks are not coded and the head drifts and turns: flow_peaks (eyes ignored, head
    rotation removed, brows without the lid skin) takes few of them for expressions."""
    truth = {v.video_id: v.events for v in videos}
    distractors = read_distractors(clips / "distractors.csv")
    predictions, _ = _leave_one_out(videos, lambda: _spotter("flow_peaks"))
    score = score_predictions(predictions, truth)
    hits = distractor_hits(predictions, truth, distractors)
    assert hits["blink"]["n"] >= 20 and hits["head_turn"]["n"] >= 6
    # Measured: F1 0.983 (29 of 30 expressions, no false positive), 0 of 27 blinks and 0 of 6
    # head turns marked; the same schedules without distractors: 1.000. The one miss is the
    # weakest micro smile of 900_1, whose score stays just below the curve's mean (the long
    # macro plateaus raise it). Before (all regions, rotation kept): 0.685, 15 of 27 blinks and
    # 2 of 6 turns.
    assert score.counts["overall"].f1 >= 0.98 and score.counts["overall"].precision == 1.0
    assert hits["blink"]["share"] <= 0.15 and hits["head_turn"]["share"] <= 0.2, hits
    # The old way of looking (eyes included, rotation kept) fires on the blinks.
    eyes, _ = _leave_one_out(
        videos,
        lambda: _spotter("flow_peaks", rois=None, upper_brows=False, head_rotation=False),
    )
    assert distractor_hits(eyes, truth, distractors)["blink"]["share"] >= 0.4


# SOFTNet trained on the first clip of each participant, leave one participant out (10 epochs,
# its settings), with DIS flow: TV-L1 (~170 ms a pair on one core) would take 8 minutes for
# these 3 clips, and training on all 6 clips about 100 s of CPU. Measured on the same schedules
# without distractors (blink-free, clean): F1 0.304 (0.374 on all 6 clips).
SOFTNET_CLEAN_F1 = 0.304


@pytest.mark.slow
def test_softnet_trained_on_realistic_clips_keeps_to_the_expressions(clips, tmp_path):
    """Trained on clips with distractors, SOFTNet spots the labelled expressions at least as
    well as on clean clips and takes few blinks and head turns for expressions."""
    sources = [s for s in open_sources(clips / "frames") if s.video_id.endswith("_1")]
    truth = read_ground_truth(clips / "annotations.csv")
    truth = {s.video_id: truth[s.video_id] for s in sources}
    distractors = read_distractors(clips / "distractors.csv")
    distractors = distractors[distractors["video"].isin(list(truth))]
    events: dict[str, list] = {}
    for source in sources:
        events.setdefault(source.participant, []).extend(truth[source.video_id])
    overrides = {"checkpoint_dir": "/nonexistent", "dataset": None, "flow": "fast"}
    features = _spotter("softnet", weights="train", **overrides).video_features(
        [FeatureJob(s.video_id, s, None, FPS) for s in sources],
        [s.participant for s in sources],
        truth,
        events,
        tmp_path,
        progress=False,
    )
    videos = [
        SpottingVideo(s.video_id, s.participant, FPS, f, truth[s.video_id])
        for s, f in zip(sources, features, strict=True)
    ]
    predictions, _ = _leave_one_out(
        videos, lambda: _spotter("softnet", weights="train", **overrides)
    )
    score = score_predictions(predictions, truth)
    hits = distractor_hits(predictions, truth, distractors)
    assert hits["blink"]["n"] >= 10 and hits["head_turn"]["n"] >= 3
    # Measured: F1 0.387 (6 of 14 expressions, 17 predictions), 2 of 13 blinks and 0 of 3
    # head turns marked (all 6 clips: 0.489, 8 of 27 blinks, 0 of 6 turns).
    assert score.counts["overall"].f1 >= SOFTNET_CLEAN_F1, score.table()
    assert hits["blink"]["share"] <= 0.3 and hits["head_turn"]["share"] <= 0.2, hits


def test_flow_peaks_predicts_without_looking_at_labels(videos):
    spotter = _spotter("flow_peaks")
    spotter.fit(videos[:2])
    video = videos[2]
    unlabelled = dataclasses.replace(video, events=[])
    assert spotter.predict(unlabelled) == spotter.predict(video)
    scores = spotter.frame_scores(video)
    assert scores.shape == (len(video.features),)
    inside = np.zeros(len(scores), bool)
    numbers = video.features.frame_numbers
    for event in video.events:
        inside |= (numbers >= event.onset) & (numbers <= event.offset)
    assert scores[inside].mean() > 4 * scores[~inside].mean()


def test_flow_peaks_works_uncalibrated_and_checks_its_settings(videos):
    spotter = _spotter("flow_peaks", **{"peaks.calibrate": False})
    spotter.fit(videos)
    assert (spotter.p, spotter.extent, spotter.training_f1) == (0.3, 0.3, None)
    assert spotter.predict(videos[0])
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['window'\]"):
        _spotter("flow_peaks", window=3)
    with pytest.raises(ValueError, match=r"names \['chin'\], which the features do not have"):
        _spotter("flow_peaks", rois=["chin"]).frame_scores(videos[0])
    with pytest.raises(ValueError, match="not one of .*flow_peaks"):
        build_spotter({"name": "mdmd"})


def test_no_spotter_reads_flow_maps():
    assert FlowPeaks.needs_maps is False and SoftNet.needs_maps is False


def test_spotter_configs_show_every_setting():
    from mesynth.spotting.spotters.flow_peaks import FlowPeaksSettings
    from mesynth.spotting.spotters.softnet import SoftNetSettings

    for name, settings_class in (("flow_peaks", FlowPeaksSettings), ("softnet", SoftNetSettings)):
        node = OmegaConf.to_container(OmegaConf.load(conf_dir() / "spotter" / f"{name}.yaml"))
        assert node.pop("name") == name
        assert set(node) == set(settings_class.__dataclass_fields__)
        if name == "flow_peaks":
            assert set(node["peaks"]) == set(settings_class().peaks.__dataclass_fields__)
    assert Path(conf_dir() / "spotting_features" / "default.yaml").is_file()
