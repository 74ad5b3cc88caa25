"""The landmark AU backend: proxy geometry, tracking, and the demo clip's scheduled events."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from skimage.data import astronaut

from mesynth.evaluation.au.landmarks import PROXY_AUS, au_proxies, proxy_table
from mesynth.evaluation.au.openface_csv import read_openface_csv
from mesynth.faces.landmarks import LandmarkDetector
from mesynth.faces.tracking import LandmarkTracker


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    landmarks = LandmarkDetector().detect(astronaut())
    assert landmarks is not None
    return landmarks


def _moved(face: np.ndarray, moves: dict[int, tuple[float, float]]) -> np.ndarray:
    """The face with some landmarks moved by (dx, dy) in units of the eye distance."""
    iod = np.linalg.norm((face[42] + face[45]) / 2 - (face[36] + face[39]) / 2)
    moved = face.copy()
    for index, (dx, dy) in moves.items():
        moved[index] += np.array([dx, dy]) * iod
    return moved


def _change(face: np.ndarray, moves: dict) -> dict[str, float]:
    both = au_proxies(np.stack([face, _moved(face, moves)]))
    return {au: float(values[1] - values[0]) for au, values in both.items()}


def test_proxies_follow_the_facial_actions(face):
    smile = _change(face, {48: (-0.05, -0.06), 54: (0.05, -0.06)})
    assert smile["AU12"] > 0.12 and smile["AU20"] > 0.09 and smile["AU15"] < -0.05
    frown = _change(face, {48: (0.0, 0.06), 54: (0.0, 0.06)})
    assert frown["AU15"] > 0.05 and frown["AU12"] < 0
    inner = _change(face, {21: (0, -0.1), 22: (0, -0.1)})
    assert inner["AU01"] == pytest.approx(0.1, rel=0.01) and inner["AU04"] < 0
    outer = _change(face, {17: (0, -0.1), 18: (0, -0.1), 25: (0, -0.1), 26: (0, -0.1)})
    assert outer["AU02"] == pytest.approx(0.1, rel=0.01)
    lower = _change(
        face, {i: (0.0, 0.08) for i in range(17, 27)} | {21: (0.03, 0.08), 22: (-0.03, 0.08)}
    )
    assert lower["AU04"] == pytest.approx(0.08 + 0.06, rel=0.01)
    lips = _change(face, {65: (0, 0.1), 66: (0, 0.1), 67: (0, 0.1)})
    assert lips["AU25"] == pytest.approx(0.1, abs=0.01)
    jaw = _change(face, {8: (0, 0.2)})
    assert jaw["AU26"] == pytest.approx(0.2, rel=0.01)
    closing = {
        up: tuple(
            (face[low] - face[up])
            * 0.9
            / np.linalg.norm((face[42] + face[45]) / 2 - (face[36] + face[39]) / 2)
        )
        for up, low in ((37, 41), (38, 40), (43, 47), (44, 46))
    }
    blink = _change(face, closing)
    assert blink["AU45"] > 0.2
    assert abs(blink["AU12"]) < 1e-9 and abs(blink["AU01"]) < 0.02


def test_proxies_ignore_head_position_rotation_and_size(face):
    rng = np.random.default_rng(0)
    frames = np.stack([face + rng.normal(scale=1.0, size=face.shape) for _ in range(5)])
    angle = np.deg2rad(12)
    rotation = 1.7 * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = frames @ rotation.T + np.array([40.0, -25.0])
    before, after = au_proxies(frames), au_proxies(moved)
    for au in PROXY_AUS:
        np.testing.assert_allclose(after[au], before[au], atol=1e-9)


def test_proxy_table_uses_openface_columns_and_marks_missed_frames(face, tmp_path):
    table = proxy_table([face, None, face], fps=200.0)
    assert list(table.columns[:5]) == ["frame", "face_id", "timestamp", "confidence", "success"]
    assert [f"{au}_r" for au in PROXY_AUS] == list(table.columns[5:])
    assert table["success"].tolist() == [1, 0, 1]
    assert table["confidence"].tolist() == [1.0, 0.0, 1.0]
    np.testing.assert_allclose(table["timestamp"], [0, 0.005, 0.01])
    path = tmp_path / "v.csv"
    table.to_csv(path, index=False)
    assert len(read_openface_csv(path)) == 3


def test_tracking_detects_rarely_and_matches_fresh_detection(demo_dir):
    from mesynth.video.layouts import open_sources

    source = open_sources(demo_dir / "frames")[0]
    frames = [frame for _, frame in source.iter_frames(0, 120)]
    tracker = LandmarkTracker(LandmarkDetector(), detect_every=50, landmark_scale=2)
    tracked = list(tracker.track(frames))
    assert all(points is not None for points in tracked)
    assert tracker.detections == 3  # frames 0, 50 and 100
    for index in (10, 49, 75, 119):
        fresh = LandmarkDetector().detect(frames[index])
        assert np.abs(tracked[index] - fresh).mean() < 1.0  # pixels, on a 256 px frame


def _event_peaks(
    series: np.ndarray, events: pd.DataFrame, action_unit: int
) -> tuple[list[float], float]:
    """Peak rise above the resting level inside each event of ``action_unit``, and the highest
    rise inside the other events."""
    rest = np.ones(len(series), dtype=bool)
    for row in events.itertuples():
        rest[row.onset - 1 : row.offset] = False
    baseline = np.median(series[rest])
    peaks, others = [], []
    for row in events.itertuples():
        rise = float(series[row.onset - 1 : row.offset].max() - baseline)
        (peaks if int(row.action_units) == action_unit else others).append(rise)
    return peaks, max(others)


@pytest.mark.parametrize("action_unit", [12, 45])
def test_demo_au_series_peak_at_the_scheduled_events(
    demo_dir, demo_run, shared_au_cache, action_unit
):
    events = pd.read_csv(demo_dir / "annotations.csv")
    assert (events["action_units"].astype(int) == action_unit).sum() >= 2
    table = read_openface_csv(shared_au_cache / "original" / "900_1.csv")
    assert table["success"].all()
    series = table[f"AU{action_unit:02d}_r"].to_numpy()
    peaks, elsewhere = _event_peaks(series, events, action_unit)
    noise = np.std(np.diff(series))
    for peak in peaks:
        assert peak > 4 * noise
        assert peak > elsewhere  # the proxy answers to its own action, not to the others
    # The largest value of the whole clip lies inside one of the action's events.
    top = int(np.argmax(series)) + 1
    inside = events[
        (events["action_units"].astype(int) == action_unit)
        & (events.onset <= top)
        & (top <= events.offset)
    ]
    assert len(inside) == 1
