"""Distractors of the demo clips: their schedule, their rendering and distractors.csv."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mesynth.video.annotations import read_annotations
from mesynth.video.demo_clip import demo_face, main, make_demo, schedule_events
from mesynth.video.distractors import (
    DistractorRenderer,
    DistractorSettings,
    plan_distractors,
    read_distractors,
)
from mesynth.video.layouts import open_sources

FPS = 30.0


@pytest.fixture(scope="module")
def face_128() -> tuple[np.ndarray, np.ndarray]:
    return demo_face(128)


def _spans(events, kind):
    return [(e.onset, e.offset) for e in events if e.kind == kind]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_minute_of_distractors_has_real_rates_and_lengths(seed, face_128):
    face, landmarks = face_128
    frames = int(60 * FPS)
    expressions = [(100, 160), (400, 700), (1000, 1015), (1500, 1600)]
    track = plan_distractors(frames, FPS, seed, landmarks, 128, expressions)
    blinks = _spans(track.events, "blink")
    assert 15 <= len(blinks) <= 20
    for (onset, offset), (next_onset, _) in zip(blinks, blinks[1:], strict=False):
        assert 0.1 - 1 / FPS <= (offset - onset) / FPS <= 0.4 + 1 / FPS
        assert next_onset > offset  # never two at once
    assert all(0.8 <= e.size <= 1.0 for e in track.blinks)
    # Blinks fall anywhere, inside expressions too (SAMM-LV does not code them).
    turns = _spans(track.events, "head_turn")
    assert len(turns) == 4
    for onset, offset in turns:
        assert 0.3 - 1 / FPS <= (offset - onset) / FPS <= 1.0 + 1 / FPS
        assert all(offset < a or onset > b for a, b in expressions), "turn inside an expression"
    sizes = {e.kind: e.size for e in track.events if e.kind != "blink"}
    turn_sizes = [e.size for e in track.events if e.kind == "head_turn"]
    # At 128 px: turns move the face by up to a few pixels, the drift by about one.
    assert all(0.3 < size < 8 for size in turn_sizes), turn_sizes
    assert 0.3 < sizes["head_drift"] < 3
    assert sizes["noise"] == 2.0 and 0.005 < sizes["flicker"] < 0.02
    assert np.abs(track.angle).max() < 5 and np.abs(track.gain - 1).max() < 0.02
    # The head pose moves quickly during a turn, slowly elsewhere.
    speed = np.linalg.norm(np.diff(track.shift, axis=0), axis=1)
    during = np.zeros(frames - 1, bool)
    for onset, offset in turns:
        during[onset:offset] = True
    assert speed[during].mean() > 5 * speed[~during].mean()

    again = plan_distractors(frames, FPS, seed, landmarks, 128, expressions)
    assert again.events == track.events and np.array_equal(again.shift, track.shift)
    other = plan_distractors(frames, FPS, seed + 1, landmarks, 128, expressions)
    assert other.events != track.events


def test_settings_switch_each_kind_off(face_128):
    _, landmarks = face_128
    quiet = plan_distractors(300, FPS, 0, landmarks, 128, settings=DistractorSettings(False, False))
    assert [e.kind for e in quiet.events] == ["noise", "flicker"]
    assert not quiet.shift.any() and not quiet.angle.any()
    none = plan_distractors(300, FPS, 0, landmarks, 128, settings=DistractorSettings(*[False] * 3))
    assert none.events == [] and (none.gain == 1).all() and none.noise_sigma == 0
    frame = np.full((128, 128), 100, np.uint8)
    assert DistractorRenderer(none, landmarks.mean(0))(frame, 5) is frame
    with pytest.raises(ValueError, match="distractor rates"):
        DistractorSettings(blinks_per_minute=(20, 15))


def test_noise_and_flicker_change_every_frame_by_a_little(face_128):
    face, landmarks = face_128
    settings = DistractorSettings(blinks=False, head=False)
    track = plan_distractors(60, FPS, 0, landmarks, 128, settings=settings)
    render = DistractorRenderer(track, landmarks.mean(0))
    first, second = render(face, 0).astype(float), render(face, 1).astype(float)
    assert 1.5 < np.std(first - face) < 3.5  # sensor noise of sd 2 plus the brightness wobble
    assert np.abs(first - second).mean() > 1
    assert abs((first.mean() - face.mean()) / face.mean()) < 0.02


def test_demo_clip_with_distractors_records_them(tmp_path: Path):
    output = make_demo(
        tmp_path / "demo",
        seconds=4,
        fps=FPS,
        frame_size=128,
        gaps=(1.0, 1.5),
        progress=False,
        distractors=DistractorSettings(turns_per_minute=30),
    )
    table = read_annotations(output / "annotations.csv")
    assert set(table["action_units"]) <= {"12", "4"}  # blinks are not annotated
    distractors = read_distractors(output / "distractors.csv")
    assert list(distractors.columns) == ["video", "kind", "onset", "offset", "size"]
    assert set(distractors["video"]) == {"900_1"}
    kinds = distractors["kind"].tolist()
    assert {"blink", "head_turn", "head_drift", "noise", "flicker"} <= set(kinds)
    assert ((distractors["onset"] >= 1) & (distractors["offset"] <= 120)).all()

    (source,) = open_sources(output / "frames")
    frames = np.stack([frame[..., 0] for _, frame in source.iter_frames()]).astype(np.float32)
    # No two frames alike (noise), and a head turn moves the face much more than noise does.
    steps = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2))
    assert steps.min() > 0.5
    turn = distractors[distractors["kind"] == "head_turn"].iloc[0]
    before, after = frames[turn.onset - 1], frames[turn.offset - 1]
    assert np.abs(after - before).mean() > 2 * np.median(steps)
    sheet = pd.read_excel(output / "SAMM_LongVideos_Demo.xlsx", header=None, nrows=4)
    assert "head_turn" in str(sheet.iloc[3, 0]) and "blink" in str(sheet.iloc[3, 0])


def test_command_line_turns_distractors_on_for_several_participants(tmp_path: Path):
    common = ["--seconds", "2", "--fps", "30", "--size", "128", "--participants", "2"]
    main(["--output", str(tmp_path / "on"), *common])
    on = read_distractors(tmp_path / "on" / "distractors.csv")
    assert set(on["video"]) == {"900_1", "901_1"}
    assert {"head_drift", "noise", "flicker"} <= set(on["kind"])
    assert "45" not in set(read_annotations(tmp_path / "on" / "annotations.csv")["action_units"])

    main(["--output", str(tmp_path / "labelled"), *common, "--label-blinks"])
    labelled = read_distractors(tmp_path / "labelled" / "distractors.csv")
    assert "blink" not in set(labelled["kind"]) and "noise" in set(labelled["kind"])
    annotations = read_annotations(tmp_path / "labelled" / "annotations.csv")
    assert "45" in set(annotations["action_units"])

    main(["--output", str(tmp_path / "clean"), *common, "--no-distractors"])
    assert read_distractors(tmp_path / "clean" / "distractors.csv").empty
    clean = read_annotations(tmp_path / "clean" / "annotations.csv")
    today = schedule_events(60, 30, 0)  # the clean clip's schedule, blinks labelled
    assert clean[clean["video"] == "900_1"]["onset"].tolist() == [e.onset + 1 for e in today]
    # With distractors the clip opens with neutral face (at least the shortest gap, 0.25 s).
    assert annotations["onset"].min() > clean["onset"].min() + 0.25 * 30 - 1


def test_a_foreign_distractor_file_is_a_clear_error(tmp_path: Path):
    path = tmp_path / "distractors.csv"
    path.write_text("video,kind,onset,offset,size\n900_1,sneeze,1,5,1\n")
    with pytest.raises(ValueError, match=r"distractors.csv: expected .* found kinds \['sneeze'\]"):
        read_distractors(path)
