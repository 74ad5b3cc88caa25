from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from mesynth.faces.landmarks import LandmarkDetector, eye_aspect_ratio
from mesynth.video.annotations import COLUMNS, read_annotations
from mesynth.video.demo_clip import FaceWarper, demo_face, envelopes, make_demo, schedule_events
from mesynth.video.layouts import open_sources

FPS = 200


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_schedule_has_micro_and_macro_events_of_all_three_action_units(seed: int):
    frames = 10 * FPS
    events = schedule_events(frames, FPS, seed)
    assert {e.action_unit for e in events} == {12, 4, 45}
    assert {e.kind for e in events} == {"micro", "macro"}
    for event in events:
        seconds = (event.offset - event.onset) / FPS
        low, high = (0.2, 0.5) if event.kind == "micro" else (1.0, 4.0)
        assert low - 0.01 <= seconds <= high + 0.01, event
        assert event.onset < event.apex < event.offset < frames
        assert event.action_unit != 45 or event.kind == "micro"  # blinks are short
    for before, after in zip(events, events[1:], strict=False):
        assert after.onset > before.offset  # no overlapping events
    curves = envelopes(events, frames)
    for event in events:
        curve = curves[event.action_unit]
        assert curve[event.apex] == pytest.approx(event.intensity)
        assert curve[event.onset] == 0.0 and curve[event.offset] == pytest.approx(0.0)
    active = np.zeros(frames, dtype=bool)
    for event in events:
        active[event.onset : event.offset + 1] = True
    assert all(np.all(curve[~active] == 0) for curve in curves.values())


def _measures(landmarks: np.ndarray) -> dict[str, float]:
    lip_centre = landmarks[[51, 57], 1].mean()
    return {
        "eye_opening": eye_aspect_ratio(landmarks),
        "mouth_width": float(np.linalg.norm(landmarks[54] - landmarks[48])),
        "corner_lift": float(lip_centre - landmarks[[48, 54], 1].mean()),
        "brow_height": float(landmarks[36:48, 1].mean() - landmarks[17:27, 1].mean()),
    }


@pytest.fixture(scope="module")
def detector() -> LandmarkDetector:
    return LandmarkDetector()


def test_warps_move_the_landmarks_as_the_action_units_do(detector: LandmarkDetector):
    face, landmarks = demo_face(256, detector)
    warper = FaceWarper(face, landmarks)
    neutral = _measures(detector.detect(face))
    measured = {}
    for action_unit in (12, 4, 45):
        expressive = warper.render({action_unit: 1.0})
        assert expressive.shape == face.shape and expressive.dtype == np.uint8
        found = detector.detect(expressive)
        assert found is not None, f"no face after AU{action_unit}"
        measured[action_unit] = _measures(found)
    # At 256 px the inter-ocular distance is ~45 px; dlib sees each movement clearly.
    assert measured[45]["eye_opening"] < 0.75 * neutral["eye_opening"]
    assert measured[12]["mouth_width"] > neutral["mouth_width"] + 2.5
    assert measured[12]["corner_lift"] > neutral["corner_lift"] + 1.5
    assert measured[4]["brow_height"] < neutral["brow_height"] - 1.5
    # ... and leaves the other regions alone.
    assert measured[12]["eye_opening"] == pytest.approx(neutral["eye_opening"], rel=0.1)
    assert measured[4]["mouth_width"] == pytest.approx(neutral["mouth_width"], abs=1.5)
    assert measured[45]["mouth_width"] == pytest.approx(neutral["mouth_width"], abs=1.5)


def test_make_demo_writes_a_samm_lv_dataset(tmp_path: Path):
    output = make_demo(tmp_path / "demo", seconds=1.5, fps=FPS, seed=0, progress=False)
    assert output == tmp_path / "demo"
    folder = output / "frames" / "900_1"
    names = sorted(p.name for p in folder.iterdir())
    assert names == [f"900_1_{n:05d}.jpg" for n in range(1, 301)]
    assert not list((output / "frames").glob("*.partial"))
    first = cv2.imread(str(folder / names[0]), cv2.IMREAD_UNCHANGED)
    assert first.ndim == 2 and first.shape == (400, 400)  # greyscale, like SAMM-LV

    (source,) = open_sources(output / "frames")
    assert source.layout == "samm_lv" and source.video_id == "900_1" and source.fps == 200.0
    assert len(source) == 300 and source.frame_numbers == list(range(1, 301))

    table = read_annotations(output / "annotations.csv")
    sheet = read_annotations(output / "SAMM_LongVideos_Demo.xlsx")
    assert sheet.attrs["format"] == "samm_xlsx"
    pd.testing.assert_frame_equal(sheet[list(COLUMNS)], table[list(COLUMNS)])
    assert len(table) >= 2 and (table["video"] == "900_1").all()
    assert (table["subject"] == "900").all() and (table["quirks"] == "").all()
    assert ((table["onset"] >= 1) & (table["offset"] <= 300)).all()

    # Frames outside the events are the neutral photo; apex frames are warped versions of it.
    inside = set()
    for row in table.itertuples():
        inside.update(range(row.onset, row.offset + 1))
        apex = source.read_frame(row.apex - 1).astype(np.int16)
        change = np.abs(apex - source.read_frame(0)).mean()
        assert change > 0.3, f"AU{row.action_units} apex frame {row.apex} looks neutral"
    neutral_bytes = (folder / names[0]).read_bytes()
    outside = [n for n in range(1, 301) if n not in inside]
    assert outside and all((folder / names[n - 1]).read_bytes() == neutral_bytes for n in outside)


def test_too_short_clip_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="too short to hold any expression"):
        make_demo(tmp_path / "short", seconds=0.1, fps=200, progress=False)
    assert not (tmp_path / "short" / "annotations.csv").exists()


def test_several_participants_get_their_own_look_and_schedules(tmp_path: Path):
    from mesynth.video.demo_clip import main

    output = tmp_path / "many"
    main(
        [
            *("--output", str(output), "--seconds", "3", "--fps", "30", "--size", "128"),
            *("--participants", "3", "--videos", "2", "--no-distractors"),
        ]
    )
    sources = {s.video_id: s for s in open_sources(output / "frames")}
    assert sorted(sources) == ["900_1", "900_2", "901_1", "901_2", "902_1", "902_2"]
    assert {s.participant for s in sources.values()} == {"900", "901", "902"}
    assert all(len(s) == 90 and s.frame_size == (128, 128) for s in sources.values())

    table = read_annotations(output / "annotations.csv")
    sheet = read_annotations(output / "SAMM_LongVideos_Demo.xlsx")
    pd.testing.assert_frame_equal(sheet[list(COLUMNS)], table[list(COLUMNS)])
    assert set(table["video"]) == set(sources)
    assert (table["subject"] == table["video"].str.split("_").str[0]).all()
    schedules = {
        video: tuple(map(tuple, group[["onset", "offset", "action_units"]].to_numpy()))
        for video, group in table.groupby("video")
    }
    assert len(set(schedules.values())) == len(schedules)  # every video its own schedule
    # 900_1 keeps the single-clip demo's schedule (seed 0).
    single = schedule_events(90, 30, 0)
    assert schedules["900_1"] == tuple(
        (e.onset + 1, e.offset + 1, str(e.action_unit)) for e in single
    )

    # A participant's videos share one neutral face; participants' faces differ.
    def neutral(video: str) -> np.ndarray:
        rows = table[table["video"] == video]
        inside = {n for r in rows.itertuples() for n in range(r.onset, r.offset + 1)}
        number = next(n for n in sources[video].frame_numbers if n not in inside)
        return sources[video].read_frame(number - 1).astype(np.int16)

    assert np.abs(neutral("900_1") - neutral("900_2")).max() <= 6  # JPEG noise only
    assert np.abs(neutral("901_1") - neutral("901_2")).max() <= 6
    assert np.abs(neutral("900_1") - neutral("901_1")).mean() > 10
    assert np.abs(neutral("901_1") - neutral("902_1")).mean() > 10


def test_participant_count_must_be_positive(tmp_path: Path):
    with pytest.raises(ValueError, match="at least one participant"):
        make_demo(tmp_path / "none", seconds=1, fps=30, participants=0, progress=False)


def test_gaps_space_the_expressions():
    events = schedule_events(30 * FPS, FPS, seed=1, gaps=(1.5, 1.5))
    assert len(events) >= 4
    for before, after in zip(events, events[1:], strict=False):
        assert (after.onset - before.offset) / FPS == pytest.approx(1.5, abs=1.5 / FPS)
    with pytest.raises(ValueError, match="gaps must be"):
        schedule_events(FPS, FPS, gaps=(2.0, 1.0))
