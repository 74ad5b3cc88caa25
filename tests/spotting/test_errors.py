"""Refusals of task=spotting: the fixes they suggest name settings evaluate.py has, and a refused
run leaves no empty output_dir behind."""

from __future__ import annotations

import re

import pytest
from omegaconf import OmegaConf

from mesynth.cli import evaluate as run
from mesynth.evaluation.common import EvaluationInputError
from mesynth.spotting.data import load_inputs
from tests.evaluation.helpers import evaluation_config
from tests.spotting.helpers import _synthesis_output, _write_video
from tests.spotting.test_data import HEADER, _config, _labels

# A setting as messages name it: `spotting.allow_missing=true`, `participant_regex`, ...
SETTING = re.compile(r"\b((?:spotting|spotter)(?:\.\w+)+|[a-z]+_[a-z_]+)(?==|\b)")
NOT_SETTINGS = {"manifest_json", "max_frames", "output_dir_of"}  # words, or infer.py's


def _named_settings(message: str) -> set[str]:
    names = {name for name in SETTING.findall(message) if name not in NOT_SETTINGS}
    return {name for name in names if "." in name or f"{name}=" in message or name in KNOWN}


KNOWN = {"original_dir", "original_layout", "synthetic_dir", "annotations", "participant_regex"}


def _refusals(tmp_path) -> list[str]:
    for video_id in ("006_1", "011_1"):
        _write_video(tmp_path / "orig" / video_id, video_id, 6)
    messages = []

    def refused(cfg):
        with pytest.raises(EvaluationInputError) as caught:
            load_inputs(cfg)
        messages.append(str(caught.value))

    _labels(tmp_path, "s006_1")
    refused(_config(tmp_path))  # matches no video
    _labels(tmp_path, "006_1", "011_9")
    refused(_config(tmp_path))  # one missing
    (tmp_path / "plain" / "006_1").mkdir(parents=True)
    refused(_config(tmp_path, str(tmp_path / "plain")))  # no manifest
    _labels(tmp_path, "006_1", "011_1")
    refused(_config(tmp_path, original_crop="auto"))  # no face to crop
    refused(_config(tmp_path, participants=["006"]))  # one participant
    short = _synthesis_output(tmp_path / "short", {"006_1_a": ("006_1", 4)})
    refused(_config(tmp_path, str(short)))  # shortened synthetic video
    return messages


def test_every_suggested_fix_names_a_setting_of_evaluate_py(tmp_path):
    cfg = evaluation_config(["task=spotting", f"output_dir={tmp_path}"])
    messages = _refusals(tmp_path)
    assert len(messages) == 6
    named = set()
    for message in messages:
        for setting in _named_settings(message):
            assert OmegaConf.select(cfg, setting, default="<absent>") != "<absent>", (
                setting,
                message,
            )
            named.add(setting)
    assert {
        "spotting.allow_missing", "spotting.participants", "spotting.original_crop",
        "spotting.conditions", "synthetic_dir", "original_dir", "participant_regex",
    } <= named  # fmt: skip


def test_a_refused_run_leaves_no_empty_output_dir(tmp_path):
    for video_id in ("006_1", "011_1"):
        _write_video(tmp_path / "orig" / video_id, video_id, 6)
    labels = tmp_path / "labels.csv"
    labels.write_text(HEADER + "s006_1,006,2,3,4,micro,12\n")
    out = tmp_path / "runs" / "out"
    overrides = [
        "task=spotting",
        f"original_dir={tmp_path / 'orig'}",
        "synthetic_dir=null",
        f"annotations={labels}",
        f"output_dir={out}",
        "spotting.conditions=[original]",
        f"spotting.cache_dir={tmp_path / 'cache'}",
        "logger=none",
    ]
    with pytest.raises(EvaluationInputError, match="none of the 1 annotated videos"):
        run(evaluation_config(overrides))
    assert not (tmp_path / "runs").exists()  # nor the folder above it, made for it
    # A folder that was there before keeps what it held.
    out.mkdir(parents=True)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(EvaluationInputError):
        run(evaluation_config(overrides))
    assert (out / "notes.txt").read_text() == "mine"
