"""What the spotting experiment refuses to read, and how it reads the rest: annotated videos
that match no video, are missing or unreadable; CAS(ME)^2 raw video names; synthetic folders
without a manifest; originals cropped the same way whatever synthetic sets are given; synthetic
videos paired with their originals, crops and labels, shortened or unfinished ones."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from mesynth.console import USER_ERROR_EXIT, user_error_exit
from mesynth.evaluation.common import EvaluationInputError
from mesynth.faces.crop import Crop
from mesynth.spotting.data import (
    FrozenSource,
    _crop_path,
    dataset_video_id,
    load_inputs,
    read_spotting_ground_truth,
    synthetic_sets,
)
from mesynth.spotting.types import Interval
from mesynth.video.annotations import AnnotationError
from tests.spotting.helpers import _synthesis_output, _write_video, inputs_config, manifest_record

HEADER = "video,subject,onset,apex,offset,type,action_units\n"


def _config(tmp_path: Path, synthetic_dir: object = None, **spotting) -> OmegaConf:
    """inputs_config with annotations in tmp_path/labels.csv, originals uncropped, none missing."""
    cfg = inputs_config(
        tmp_path, synthetic_dir=synthetic_dir, annotations=str(tmp_path / "labels.csv")
    )
    own = {"original_crop": "none", "allow_missing": False, **spotting}
    return OmegaConf.merge(cfg, {"spotting": own})


def _labels(tmp_path: Path, *videos: str) -> Path:
    path = tmp_path / "labels.csv"
    rows = [f"{v},{v.split('_')[0]},2,3,4,micro,12\n" for v in videos]
    path.write_text(HEADER + "".join(rows))
    return path


@pytest.fixture
def originals(tmp_path):
    for video_id in ("006_1", "006_2", "011_1"):
        _write_video(tmp_path / "orig" / video_id, video_id, 6)
    return tmp_path


def test_annotations_that_match_no_video_stop_the_run(originals):
    _labels(originals, "s006_1", "s011_1")  # another naming of the same videos
    with pytest.raises(EvaluationInputError) as caught:
        load_inputs(_config(originals, allow_missing=True))  # no video at all: never allowed
    message = str(caught.value)
    assert "none of the 2 annotated videos (e.g. ['s006_1', 's011_1'])" in message
    assert "(e.g. ['006_1', '006_2', '011_1'])" in message and "original_dir" in message


def test_a_missing_annotated_video_stops_the_run_unless_allowed(originals):
    _labels(originals, "006_1", "011_1", "011_7")
    with pytest.raises(EvaluationInputError, match=r"1 of 3 annotated videos cannot be scored"):
        load_inputs(_config(originals))
    inputs = load_inputs(_config(originals, allow_missing=True))
    assert inputs.coverage.missing == ["011_7"] and inputs.coverage.annotated == 3
    assert [e.video_id for e in inputs.originals] == ["006_1", "006_2", "011_1"]
    assert inputs.notes == [
        "1 annotated video(s) left out (spotting.allow_missing=true); their events are not "
        "counted: 011_7."
    ]
    assert inputs.n_gt() == {"micro": 2, "macro": 0}
    # Participants not chosen are not asked for.
    chosen = load_inputs(_config(originals, participants=["006"]), min_participants=1)
    assert [e.video_id for e in chosen.originals] == ["006_1", "006_2"]


def test_an_unreadable_annotated_video_stops_the_run_unless_allowed(originals):
    _write_video(originals / "orig" / "020_1", "020_1", 6)
    _labels(originals, "006_1", "011_1")
    (originals / "orig" / "011_1" / "011_1_00006.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(EvaluationInputError, match=r"011_1: frame 5 unreadable"):
        load_inputs(_config(originals))
    inputs = load_inputs(_config(originals, allow_missing=True))
    assert list(inputs.coverage.unreadable) == ["011_1"]
    assert [e.video_id for e in inputs.originals] == ["006_1", "006_2", "020_1"]
    assert inputs.n_gt() == {"micro": 1, "macro": 0}


def _avi(path: Path, frames: int = 5, size: int = 32) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (size, size))
    for index in range(frames):
        writer.write(np.full((size, size, 3), 30 * index, np.uint8))
    writer.release()


def test_casme2_raw_video_names_are_read_as_the_code_sheet_names(tmp_path):
    assert dataset_video_id("15_0101disgustingteeth") == "s15_0101"
    assert dataset_video_id("1_0401girlcrashing") == "s01_0401"
    assert dataset_video_id("006_1") == "006_1"  # SAMM-LV ids stay as they are
    assert dataset_video_id("s15_0101") == "s15_0101"
    _avi(tmp_path / "orig" / "15_0101disgustingteeth.avi")
    _avi(tmp_path / "orig" / "16_0102eatingworms.avi")
    (tmp_path / "labels.csv").write_text(
        HEADER + "s15_0101,s15,2,3,4,micro,4\ns16_0102,s16,1,2,5,macro,12\n"
    )
    inputs = load_inputs(_config(tmp_path))
    assert [(e.video_id, e.participant) for e in inputs.originals] == [
        ("s15_0101", "s15"),
        ("s16_0102", "s16"),
    ]
    assert inputs.ground_truth["s15_0101"] == [Interval(2, 4, "micro")]
    assert inputs.coverage.left_out == []


def test_a_synthetic_dir_without_a_manifest_is_refused(originals):
    _labels(originals, "006_1", "011_1")
    plain = originals / "plain"
    _write_video(plain / "006_1", "006_1", 6)
    with pytest.raises(EvaluationInputError, match=r"plain is not a synthesis output: it has no"):
        load_inputs(_config(originals, str(plain)))


def test_originals_are_cropped_the_same_way_whatever_synthetic_sets_are_given(
    originals, monkeypatch
):
    from mesynth.faces import align

    _labels(originals, "006_1", "011_1")
    one = _synthesis_output(originals / "one", {"006_1_a": ("006_1", 6)})
    two = _synthesis_output(originals / "two", {"011_1_b": ("011_1", 6)}, crop_size=40)
    estimated = []

    def estimate(source, mode, size, progress=True):
        estimated.append((source.video_id, mode, size))
        return Crop("fixed", size, (48, 48), matrix=[[0.7, 0, len(estimated)], [0, 0.7, 1]])

    monkeypatch.setattr(align, "estimate_crop", estimate)
    crops = {}
    for synthetic in (None, str(one), str(two), [str(one), str(two)]):
        cfg = _config(originals, synthetic, original_crop="auto")
        crops[str(synthetic)] = [(e.video_id, e.crop.to_dict()) for e in load_inputs(cfg).originals]
    assert len({json.dumps(c) for c in crops.values()}) == 1  # one crop per original
    # Estimated once per video at spotting.crop_size, saved in the cache, read back after.
    assert estimated == [("006_1", "fixed", 32), ("006_2", "fixed", 32), ("011_1", "fixed", 32)]
    assert len(list((originals / "cache" / "crops").glob("*.json"))) == 3


def test_a_malformed_annotation_csv_is_one_block_without_a_pandas_traceback(originals, capsys):
    labels = originals / "labels.csv"
    labels.write_text(HEADER + '006_1,006,2,3,4,micro,"12\n011_1,011,1,2\n')
    with pytest.raises(AnnotationError) as caught:
        load_inputs(_config(originals))
    message = str(caught.value)
    assert str(labels) in message and "not a readable annotation CSV" in message
    assert "'onset'" in message  # the expected columns
    with pytest.raises(SystemExit) as exit_:
        user_error_exit(caught.value)
    assert exit_.value.code == USER_ERROR_EXIT
    err = capsys.readouterr().err
    assert err.count("mesynth: error:") == 1 and "Traceback" not in err
    assert "pandas" not in err.split("(")[0]


def test_a_frozen_video_repeats_its_first_frame(originals):
    from mesynth.video.layouts import open_sources

    source = open_sources(originals / "orig" / "006_1")[0]
    frozen = FrozenSource(source)
    assert len(frozen) == 6 and frozen.frame_numbers == source.frame_numbers
    first = source.read_frame(0)
    assert not np.array_equal(source.read_frame(5), first)
    frames = [frame for _, frame in frozen.iter_frames()]
    assert len(frames) == 6 and all(np.array_equal(frame, first) for frame in frames)
    assert frozen.frame_size == source.frame_size and frozen.fps == source.fps


def test_saved_original_crops_are_keyed_by_the_video_and_the_size(originals):
    from mesynth.video.layouts import open_sources

    first, second = open_sources(originals / "orig")[:2]
    cache = originals / "cache"
    assert _crop_path(cache, first, 32) != _crop_path(cache, second, 32)
    assert _crop_path(cache, first, 32) != _crop_path(cache, first, 64)
    assert _crop_path(cache, first, 32) == _crop_path(cache, first, 32)


def test_synthetic_dir_as_one_path_a_list_or_named_entries(tmp_path):
    assert synthetic_sets(str(tmp_path / "out_fixed")) == [("out_fixed", tmp_path / "out_fixed")]
    listed = OmegaConf.create(
        {"s": [str(tmp_path / "a"), {"name": "rnd", "path": str(tmp_path / "b")}]}
    ).s
    assert synthetic_sets(listed) == [("a", tmp_path / "a"), ("rnd", tmp_path / "b")]
    assert synthetic_sets(None) == []
    with pytest.raises(EvaluationInputError, match="more than once"):
        synthetic_sets([str(tmp_path / "x" / "out"), str(tmp_path / "y" / "out")])
    with pytest.raises(EvaluationInputError, match="no 'path'"):
        synthetic_sets([{"name": "a"}])


def test_inputs_pair_synthetic_videos_with_originals_crops_and_labels(tmp_path):
    for video_id in ("006_1", "006_2", "011_1"):
        _write_video(tmp_path / "orig" / video_id, video_id, 6)
    out = _synthesis_output(
        tmp_path / "synth", {"006_1_a": ("006_1", 6), "011_1_a": ("011_1", 6)}, untrained=True
    )
    annotations = pd.DataFrame(
        {
            "video": ["006_1_a", "011_1_a"], "subject": ["006", "011"], "onset": [2, 1],
            "apex": [3, 2], "offset": [4, 5], "type": ["micro", "macro"], "action_units": ["", ""],
            "source_video": ["006_1", "011_1"],
        }
    )  # fmt: skip
    annotations.to_csv(out / "annotations.csv", index=False)
    # Originals have crops of their own, estimated once and saved in the cache (here: saved
    # estimates are reused; the flat frames hold no face to estimate from).
    from mesynth.video.layouts import open_sources

    estimated = {}
    for rank, source in enumerate(open_sources(tmp_path / "orig")):
        crop = Crop("fixed", 32, (48, 48), matrix=[[0.6, 0, rank], [0, 0.6, 2]])
        crop.save(_crop_path(tmp_path / "cache", source, 32))
        estimated[source.video_id] = crop

    inputs = load_inputs(inputs_config(tmp_path, synthetic_dir=str(out)))
    assert [e.name for e in inputs.originals] == ["006_1", "006_2", "011_1"]
    assert [e.participant for e in inputs.originals] == ["006", "006", "011"]
    # Not synthesis' crop: the baseline must not depend on the synthetic set given.
    assert [e.crop.matrix for e in inputs.originals] == [
        estimated[v].matrix for v in ("006_1", "006_2", "011_1")
    ]
    synthetic = inputs.synthetic["synth"]
    assert [(e.name, e.video_id, e.participant, e.crop) for e in synthetic] == [
        ("006_1_a", "006_1", "006", None), ("011_1_a", "011_1", "011", None),
    ]  # fmt: skip
    # No annotations= given: the synthesis output's labels, taken back to the original ids.
    assert inputs.ground_truth == {
        "006_1": [Interval(2, 4, "micro")], "011_1": [Interval(1, 5, "macro")],
    }  # fmt: skip
    assert inputs.untrained == {"synth": True}

    only = load_inputs(
        inputs_config(tmp_path, synthetic_dir=str(out), spotting={
            "participants": ["006", "011"], "original_crop": "none", "crop_size": 32,
        })
    )  # fmt: skip
    assert all(e.crop is None for e in only.originals)
    with pytest.raises(EvaluationInputError, match="at least 2 participants"):
        load_inputs(
            inputs_config(tmp_path, synthetic_dir=str(out), spotting={
                "participants": ["006"], "original_crop": "auto", "crop_size": 32,
            })
        )  # fmt: skip
    with pytest.raises(EvaluationInputError, match=r"names \['999'\]"):
        load_inputs(
            inputs_config(tmp_path, synthetic_dir=str(out), spotting={
                "participants": ["999"], "original_crop": "auto", "crop_size": 32,
            })
        )  # fmt: skip


def test_inputs_refuse_shortened_synthetic_videos_and_missing_ground_truth(tmp_path):
    for video_id in ("006_1", "011_1"):
        _write_video(tmp_path / "orig" / video_id, video_id, 6)
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "video,subject,onset,apex,offset,type,action_units\n006_1,006,2,3,4,micro,12\n"
    )
    short = _synthesis_output(tmp_path / "short", {"006_1": ("006_1", 4)})
    with pytest.raises(EvaluationInputError, match="4 frames but its original 006_1"):
        load_inputs(inputs_config(tmp_path, synthetic_dir=str(short), annotations=str(labels)))
    whole = _synthesis_output(tmp_path / "whole", {"006_1": ("006_1", 6)})
    with pytest.raises(EvaluationInputError, match="set annotations=FILE"):
        load_inputs(inputs_config(tmp_path, synthetic_dir=str(whole)))
    with pytest.raises(EvaluationInputError, match="not found"):
        read_spotting_ground_truth(tmp_path / "nope.csv", "auto", [])


def test_unfinished_synthetic_videos_are_left_out_and_noted(tmp_path, caplog):
    for video_id in ("006_1", "011_1"):
        _write_video(tmp_path / "orig" / video_id, video_id, 6)
    out = _synthesis_output(tmp_path / "synth", {"006_1_a": ("006_1", 6)})
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["videos"]["011_1_a"] = manifest_record("011_1", 6, status="partial")
    (out / "manifest.json").write_text(json.dumps(manifest))
    labels = tmp_path / "labels.csv"
    labels.write_text("video,subject,onset,apex,offset,type,action_units\n006_1,006,2,3,4,me,\n")
    # 011_1's synthesis never finished, so it has no saved crop; its flat frames hold no face.
    with pytest.raises(EvaluationInputError, match="spotting.original_crop=none"):
        load_inputs(inputs_config(tmp_path, synthetic_dir=str(out), annotations=str(labels)))
    uncropped = {"participants": None, "original_crop": "none", "crop_size": 32}
    with caplog.at_level("WARNING"):
        inputs = load_inputs(
            inputs_config(
                tmp_path, synthetic_dir=str(out), annotations=str(labels), spotting=uncropped
            )
        )
    assert [e.name for e in inputs.synthetic["synth"]] == ["006_1_a"]
    assert "1 synthetic video(s) are unfinished and left out (e.g. 011_1_a)" in caplog.text
    assert inputs.notes == ["Synthetic set `synth`: 1 unfinished video(s) left out."]
