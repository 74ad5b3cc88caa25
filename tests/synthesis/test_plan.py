"""The plan step: output names, refusing to mix networks in one folder, what is left to make."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from mesynth.synthesis.output import Manifest, VideoRecord
from mesynth.synthesis.plan import (
    RunPlan,
    VideoPlan,
    _check_checkpoint,
    name_template,
    output_name,
)
from mesynth.synthesis.references import Assignment

SOURCE = SimpleNamespace(video_id="006_1", participant="006")


def assignment(identity: int = 0) -> Assignment:
    return Assignment("006_1", "006", Path("/refs/smile.png"), 1, "fixed", identity)


def record(status: str = "done") -> VideoRecord:
    return VideoRecord("006_1", "006", "/src", "/refs/smile.png", 1, "fixed", 3, 3, status=status)


def test_each_identity_gets_its_own_name():
    assert name_template("{video}_synth", 1) == "{video}_synth"
    assert name_template("{video}_synth", 3) == "{video}_synth_{identity}"
    assert name_template("{video}_{identity}", 3) == "{video}_{identity}"
    template = "{participant}-{video}-{reference}-d{domain}"
    assert output_name(template, SOURCE, assignment()) == "006-006_1-smile-d1"
    assert output_name(name_template("{video}", 2), SOURCE, assignment(1)) == "006_1_1"
    for bad in ("{video}/x", ".{video}"):
        with pytest.raises(ValueError, match="gives the invalid output name"):
            output_name(bad, SOURCE, assignment())


def test_a_folder_made_with_other_networks_is_refused():
    made = {"sha256": "aaa", "path": "a.ckpt", "wing_sha256": "w1", "wing": "wing.ckpt"}
    previous = Manifest(checkpoint=made, videos={"006_1_synth": record()})
    _check_checkpoint(previous, dict(made), False, Path("/out"))  # the same networks: fine
    _check_checkpoint(None, {"sha256": "bbb"}, False, Path("/out"))  # a new folder: fine
    with pytest.raises(ValueError) as error:
        _check_checkpoint(previous, {**made, "sha256": "bbb", "path": "b.ckpt"}, False, Path("/o"))
    assert "/o records 1 video(s) made with checkpoint a.ckpt (sha256 aaa)" in str(error.value)
    assert "this run uses checkpoint b.ckpt (sha256 bbb)" in str(error.value)
    with pytest.raises(ValueError, match="landmark network wing.ckpt"):
        _check_checkpoint(previous, {**made, "wing_sha256": "w2"}, False, Path("/o"))
    untrained = Manifest(checkpoint={"seed": 1}, untrained=True, videos={"v": record()})
    with pytest.raises(ValueError, match="untrained networks of seed 1, but this run uses "):
        _check_checkpoint(untrained, {"seed": 2}, True, Path("/o"))
    # Only finished videos bind the folder to its networks.
    unfinished = Manifest(checkpoint=made, videos={"v": record("partial")})
    _check_checkpoint(unfinished, {"sha256": "bbb"}, False, Path("/o"))


def test_the_run_makes_the_videos_not_done_yet():
    def plan(name: str, done: bool) -> VideoPlan:
        return VideoPlan(name, SOURCE, assignment(), ["a", "b"], [0, 1], 200.0, record(), done)

    run = RunPlan([plan("x", False), plan("y", True), plan("z", False)], ["png"], [], Manifest())
    assert [v.name for v in run.todo] == ["x", "z"] and [v.name for v in run.skipped] == ["y"]
    assert run.todo[0].num_frames == 2
