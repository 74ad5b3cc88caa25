"""A synthesis output folder that never contradicts itself: after crashes, re-runs with other
settings or process counts, and re-runs without output_dir."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mesynth.synthesis import pipeline, run
from mesynth.synthesis.output import SynthesisOutput
from mesynth.video.writers import read_video

from .conftest import compose_infer, make_samm
from .test_pipeline import REPO, exact_line, folder_state


def with_writer(line: list[str], kind: str) -> list[str]:
    return [o if not o.startswith("writer=") else f"writer={kind}" for o in line]


@pytest.mark.parametrize("kind", ["png", "ffv1"])
def test_a_video_complete_before_a_crash_is_recorded_with_its_output(
    kind, tiny_ckpt, reference_image, tmp_path, monkeypatch
) -> None:
    source = make_samm(tmp_path / "samm", {"006_1": 3, "007_2": 2})
    out = tmp_path / "out"
    line = with_writer(exact_line(tiny_ckpt, source, reference_image, out), kind)
    line += ["num_workers=0"]

    def killed(*args, **kwargs):  # the process dies after the frames, before the record
        raise SystemExit(137)

    with monkeypatch.context() as patch:
        patch.setattr(pipeline, "record_outcomes", killed)
        with pytest.raises(SystemExit):
            run(compose_infer(line, tmp_path / "hydra"))
    crashed = json.loads((out / "manifest.json").read_text())["videos"]
    assert {v: (e["status"], e["frames_written"], e["output"]) for v, e in crashed.items()} == {
        "006_1": ("partial", 0, None),
        "007_2": ("partial", 0, None),
    }

    summary = run(compose_infer(line, tmp_path / "hydra"))
    assert summary["videos_skipped"] == ["006_1", "007_2"] and summary["videos_made"] == []
    output = SynthesisOutput(out)
    records = output.read_manifest().videos
    for video, count in (("006_1", 3), ("007_2", 2)):
        record = records[video]
        assert (record.status, record.frames_written) == ("done", count)
        assert record.output == str(output.video_path(video, kind))
        assert record.error is None
        if kind == "png":
            assert record.frame_map is None
            assert len(list((out / video).glob("*.png"))) == count
        else:
            assert record.frame_map == str(output.frame_map_path(video))
            assert output.read_frame_map(video) == list(range(1, count + 1))
            assert len(read_video(out / f"{video}.mkv")) == count


def test_segments_of_a_crashed_multi_process_run_go_when_the_video_is_redone(
    tiny_ckpt, reference_image, tmp_path
) -> None:
    source = make_samm(tmp_path / "samm", {"006_1": 4, "007_2": 2})
    out = tmp_path / "out"
    line = exact_line(tiny_ckpt, source, reference_image, out) + ["num_workers=0"]
    output = SynthesisOutput(out)
    # What a 3-process run killed half-way leaves: rank 0's segment of 006_1 finished, rank 1's
    # half written, the progress files of both.
    done_segment = output.segment_path("006_1", 0, 2)
    done_segment.parent.mkdir(parents=True)
    np.save(done_segment, np.zeros((2, 64, 64, 3), np.uint8))
    output.segment_path("006_1", 2, 4).with_suffix(".npy.partial").write_bytes(b"\0" * 100)
    output.progress_path(0).write_text("2")
    output.progress_path(1).write_text("1")

    # Re-run with one process: 006_1 is made whole, and nothing of the crashed run is left.
    summary = run(compose_infer(line, tmp_path / "hydra"))
    assert summary["videos_made"] == ["006_1", "007_2"]
    assert not (out / ".segments").exists()
    assert len(list((out / "006_1").glob("*.png"))) == 4

    # Segments left next to a video that is complete on disk go on the next (skipping) re-run.
    output.segment_path("007_2", 0, 1).parent.mkdir(parents=True)
    np.save(output.segment_path("007_2", 0, 1), np.zeros((1, 64, 64, 3), np.uint8))
    summary = run(compose_infer(line, tmp_path / "hydra"))
    assert summary["videos_skipped"] == ["006_1", "007_2"]
    assert not (out / ".segments").exists()


def save_wing(path, seed: int):
    from mesynth.nets import LandmarkNetwork

    torch.manual_seed(seed)
    torch.save({"state_dict": LandmarkNetwork().state_dict()}, path)
    return path


def test_the_landmark_network_and_the_seed_are_part_of_the_folder(
    reference_image, tmp_path
) -> None:
    source = make_samm(tmp_path / "samm", {"006_1": 2})
    wing_a, wing_b = save_wing(tmp_path / "a.ckpt", 0), save_wing(tmp_path / "b.ckpt", 1)
    out = tmp_path / "out"
    line = [
        f"source={source}",
        f"reference.path={reference_image}",
        "crop=none",
        f"output_dir={out}",
        "img_size=64",
        "net.max_conv_dim=64",
        "num_workers=0",
        "seed=3",
    ]
    run(compose_infer([*line, f"wing={wing_a}"], tmp_path / "hydra"))
    record = SynthesisOutput(out).read_manifest().videos["006_1"]
    assert (record.status, record.seed) == ("done", 3)
    assert record.wing_sha256 == hashlib.sha256(wing_a.read_bytes()).hexdigest()
    before = folder_state(out)

    refused = [
        ([f"wing={wing_b}"], "landmark network .*b.ckpt"),
        ([f"wing={wing_a}", "seed=4"], "untrained networks of seed 3 .* seed 4"),
    ]
    for changes, message in refused:
        with pytest.raises(ValueError, match=message):
            run(compose_infer(line + changes, tmp_path / "hydra"))
        assert folder_state(out) == before, changes
    summary = run(compose_infer([*line, f"wing={wing_a}"], tmp_path / "hydra"))
    assert summary["videos_skipped"] == ["006_1"]


def test_the_seed_of_a_trained_run_changes_nothing(tiny_ckpt, reference_image, tmp_path):
    source = make_samm(tmp_path / "samm", {"006_1": 2})
    out = tmp_path / "out"
    line = exact_line(tiny_ckpt, source, reference_image, out) + ["num_workers=0"]
    run(compose_infer(line, tmp_path / "hydra"))
    record = SynthesisOutput(out).read_manifest().videos["006_1"]
    assert (record.seed, record.wing_sha256) == (None, None)
    summary = run(compose_infer([*line, "seed=9"], tmp_path / "hydra"))
    assert summary["videos_skipped"] == ["006_1"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("SAMM_LongVideos_V3.xlsx", b"Subject,Filename\n006,006_1\n", "is not a readable xlsx"),
        (
            "events.csv",
            b"video,subject,onset,apex,type,action_units\n006_1,006,1,2,micro,12\n",
            "no 'offset' column",
        ),
    ],
)
@pytest.mark.slow
def test_bad_annotations_stop_the_run_before_any_frame(
    name, content, message, tiny_ckpt, reference_image, tmp_path
) -> None:
    source = make_samm(tmp_path / "samm", {"006_1": 2})
    annotations = tmp_path / name
    annotations.write_bytes(content)
    out = tmp_path / "out"
    command = [sys.executable, str(REPO / "infer.py")]
    command += exact_line(tiny_ckpt, source, reference_image, out)
    command += [f"annotations={annotations}", "progress=false", f"hydra.run.dir={tmp_path / 'h'}"]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=240)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert f"mesynth: error: {annotations}" in result.stderr
    assert message in result.stderr
    assert not out.exists()  # refused in the plan: no frame, no manifest


def test_without_output_dir_the_same_command_resumes_the_same_folder(
    tiny_ckpt, reference_image, tmp_path
) -> None:
    source = make_samm(tmp_path / "samm", {"006_1": 2})
    line = [
        f"ckpt={tiny_ckpt}",
        f"source={source}",
        f"reference.path={reference_image}",
        "crop=none",
        f"paths.root_dir={tmp_path}",
        "num_workers=0",
    ]
    first = run(compose_infer(line, tmp_path / "hydra-1"))
    folder = Path(first["output_dir"])
    assert folder.parent == tmp_path / "outputs" / "synth" and folder.name.startswith("samm-")
    assert first["videos_made"] == ["006_1"]
    # Another day, another Hydra folder, other speed settings: the same output folder.
    again = run(compose_infer([*line, "num_workers=1"], tmp_path / "hydra-2"))
    assert again["output_dir"] == str(folder) and again["videos_skipped"] == ["006_1"]
    # Other frames (another reference domain) go to another folder.
    other = run(compose_infer([*line, "reference.domain=1"], tmp_path / "hydra-3"))
    assert other["output_dir"] != str(folder) and other["videos_made"] == ["006_1"]
