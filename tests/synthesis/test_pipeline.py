"""End-to-end synthesis runs on tiny networks and tiny frame folders."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from mesynth.checkpoint import load_nets
from mesynth.faces.crop import Crop
from mesynth.nets.style_encoder import StyleEncoder
from mesynth.synthesis import run
from mesynth.video.writers import read_video

from .conftest import CONF_DIR, compose_infer, make_samm, read_png

REPO = CONF_DIR.parent


def exact_line(ckpt: Path, source: Path, reference: Path, output_dir: Path) -> list[str]:
    """`python infer.py ckpt=P source=DIR reference.strategy=fixed reference.path=IMG
    reference.domain=1 crop=none output_dir=OUT writer=png`, word for word."""
    return [
        f"ckpt={ckpt}",
        f"source={source}",
        "reference.strategy=fixed",
        f"reference.path={reference}",
        "reference.domain=1",
        "crop=none",
        f"output_dir={output_dir}",
        "writer=png",
    ]


@pytest.fixture
def style_calls(monkeypatch) -> list[int]:
    """Counts style-encoder calls (and their batch sizes) wherever the encoder runs."""
    calls: list[int] = []
    forward = StyleEncoder.forward

    def counting(self, x, y):
        calls.append(int(x.shape[0]))
        return forward(self, x, y)

    monkeypatch.setattr(StyleEncoder, "forward", counting)
    return calls


def to_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1)[None].float() / 127.5 - 1.0


def direct_frames(ckpt: Path, frame_paths: list[Path], reference: Path, domain: int) -> np.ndarray:
    """What the generator makes of each frame when called by hand, one frame at a time."""
    nets = load_nets(ckpt)
    size = nets.config.img_size
    ref = cv2.cvtColor(cv2.imread(str(reference)), cv2.COLOR_BGR2RGB)
    ref = cv2.resize(ref, (size, size), interpolation=cv2.INTER_AREA)
    outputs = []
    with torch.no_grad():
        style = nets.style_encoder(to_tensor(ref), torch.tensor([domain]))
        for path in frame_paths:
            frame = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE), cv2.COLOR_GRAY2RGB)
            x = to_tensor(cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA))
            masks = nets.fan.get_heatmap(x) if nets.fan is not None else None
            fake = nets.generator(x, style, masks=masks)
            image = ((fake[0].permute(1, 2, 0) + 1) * 127.5).clamp(0, 255).round()
            outputs.append(image.to(torch.uint8).numpy())
    return np.stack(outputs)


def test_exact_override_line(tiny_ckpt, samm, reference_image, tmp_path, style_calls) -> None:
    out = tmp_path / "out"
    cfg = compose_infer(exact_line(tiny_ckpt, samm, reference_image, out), tmp_path / "hydra")
    summary = run(cfg)

    assert summary["videos_made"] == ["006_1", "007_2"] and summary["frames"] == 8
    # One fixed reference: one style code for the whole run, not one per frame or video.
    assert style_calls == [1]

    for video, count in (("006_1", 5), ("007_2", 3)):
        source_stems = sorted(p.stem for p in (samm / video).glob("*.jpg"))
        written = sorted(p.name for p in (out / video).iterdir())
        assert written == [f"{stem}.png" for stem in source_stems]
        assert len(written) == count
        crop = Crop.load(out / "crops" / f"{video}.json")
        assert (crop.mode, crop.output_size, crop.source_size) == ("none", 64, (72, 96))

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["untrained"] is False
    assert manifest["checkpoint"]["sha256"] == hashlib.sha256(tiny_ckpt.read_bytes()).hexdigest()
    assert manifest["config"]["reference"]["domain"] == 1
    for video, count in (("006_1", 5), ("007_2", 3)):
        entry = manifest["videos"][video]
        assert entry["status"] == "done" and entry["frames"] == count
        assert (entry["reference"], entry["domain"], entry["untrained"]) == (
            str(reference_image),
            1,
            False,
        )

    references = pd.read_csv(out / "references.csv", dtype=str)
    assert references.to_dict("records") == [
        {"video": v, "participant": p, "reference": str(reference_image), "domain": "1"}
        | {"strategy": "fixed", "source_video": v, "identity": "0"}
        for v, p in (("006_1", "006"), ("007_2", "007"))
    ]

    # The pipeline (batched, channels-last, workers, writer thread) makes the same frames as
    # calling the networks by hand on the same crop.
    frames = sorted((samm / "006_1").glob("*.jpg"))
    expected = direct_frames(tiny_ckpt, frames, reference_image, domain=1)
    made = np.stack([read_png(out / "006_1" / f"{p.stem}.png") for p in frames])
    difference = np.abs(made.astype(int) - expected.astype(int))
    assert difference.max() <= 1 and difference.mean() < 0.01
    assert made.std() > 1  # not a blank image


def test_untrained_run_is_labelled_and_carries_annotations(
    samm, reference_image, tmp_path, caplog
) -> None:
    annotations = tmp_path / "annotations.csv"
    annotations.write_text(
        "video,subject,onset,apex,offset,type,action_units\n"
        "007_2,007,1,2,3,micro,12\n"
        "007_2,007,2,3,9,micro,12\n"
        "999_9,999,5,6,7,macro,4\n"
    )
    out = tmp_path / "out"
    overrides = [
        f"source={samm}",
        f"reference.path={reference_image}",
        "reference.domain=0",
        "crop=none",
        f"output_dir={out}",
        "writer=ffv1",
        "preview=true",
        "img_size=64",
        "net.max_conv_dim=64",
        "net.w_hpf=0",
        "videos=[007_2]",
        "video_name='{video}_synth'",
        f"annotations={annotations}",
        "num_workers=0",
    ]
    with caplog.at_level(logging.WARNING, logger="mesynth.synthesis"):
        summary = run(compose_infer(overrides, tmp_path / "hydra"))
    assert any("UNTRAINED WEIGHTS" in record.getMessage() for record in caplog.records)
    assert summary["untrained"] is True

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["untrained"] is True and manifest["checkpoint"]["sha256"] is None
    assert manifest["videos"]["007_2_synth"]["untrained"] is True
    assert list(manifest["videos"]) == ["007_2_synth"]

    assert len(read_video(out / "007_2_synth.mkv")) == 3
    assert len(read_video(out / "007_2_synth.preview.mp4")) == 3
    assert (out / "crops" / "007_2_synth.json").is_file()

    carried = pd.read_csv(out / "annotations.csv", dtype={"video": str, "source_video": str})
    assert carried[["video", "source_video", "onset", "apex", "offset"]].values.tolist() == [
        ["007_2_synth", "007_2", 1, 2, 3],
        ["007_2_synth", "007_2", 2, 3, 9],
    ]
    # The second event ends after the video's last frame (3): kept, and tagged.
    assert carried["quirks"].fillna("").tolist() == ["", "offset_past_end"]
    assert carried["reference"].tolist() == [str(reference_image)] * 2
    assert carried["domain"].tolist() == [0, 0]


def test_resume_skips_done_and_redoes_partial(tiny_ckpt, reference_image, tmp_path) -> None:
    source = make_samm(tmp_path / "samm", {"006_1": 3, "007_2": 3, "010_1": 2})
    out = tmp_path / "out"
    overrides = exact_line(tiny_ckpt, source, reference_image, out) + ["num_workers=0"]
    first = run(compose_infer(overrides, tmp_path / "hydra"))
    assert first["videos_made"] == ["006_1", "007_2", "010_1"]

    done_times = {p.name: p.stat().st_mtime_ns for p in (out / "006_1").iterdir()}
    # 007_2: interrupted while writing (the writer leaves a .partial folder, status partial).
    (out / "007_2").rename(out / "007_2.partial")
    (out / "007_2.partial" / "007_2_0003.png").unlink()
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["videos"]["007_2"]["status"] = "partial"
    manifest_path.write_text(json.dumps(manifest))
    # 010_1: recorded as done, but a frame has gone missing since.
    (out / "010_1" / "010_1_0002.png").unlink()

    second = run(compose_infer(overrides, tmp_path / "hydra"))
    assert second["videos_skipped"] == ["006_1"]
    assert second["videos_made"] == ["007_2", "010_1"]
    assert {p.name: p.stat().st_mtime_ns for p in (out / "006_1").iterdir()} == done_times
    for video, count in (("007_2", 3), ("010_1", 2)):
        assert len(list((out / video).glob("*.png"))) == count
    assert not (out / "007_2.partial").exists()
    statuses = {v: e["status"] for v, e in json.loads(manifest_path.read_text())["videos"].items()}
    assert statuses == {"006_1": "done", "007_2": "done", "010_1": "done"}

    # A finished folder must not be reused with another reference without saying so.
    other = tmp_path / "other.png"
    shutil.copy(reference_image, other)
    changed = [
        o if not o.startswith("reference.path=") else f"reference.path={other}" for o in overrides
    ]
    with pytest.raises(ValueError, match="was made with reference"):
        run(compose_infer(changed, tmp_path / "hydra"))


def test_high_pass_path_matches_direct_call(tiny_hpf_ckpt, reference_image, tmp_path) -> None:
    source = make_samm(tmp_path / "samm", {"006_1": 1})
    out = tmp_path / "out"
    overrides = exact_line(tiny_hpf_ckpt, source, reference_image, out) + ["num_workers=0"]
    run(compose_infer(overrides, tmp_path / "hydra"))
    frames = sorted((source / "006_1").glob("*.jpg"))
    expected = direct_frames(tiny_hpf_ckpt, frames, reference_image, domain=1)
    made = np.stack([read_png(out / "006_1" / f"{p.stem}.png") for p in frames])
    assert np.abs(made.astype(int) - expected.astype(int)).max() <= 1


@pytest.mark.slow
def test_two_processes_write_the_frames_of_one(tiny_hpf_ckpt, reference_image, tmp_path) -> None:
    # 7 frames over 2 ranks: rank 0 gets frames 0-2 of 006_1, rank 1 frames 3-4 of 006_1 and
    # all of 007_2, so 006_1 is cut between the ranks and joined afterwards. With the high-pass
    # path on and the same thread count per process, the frames are bit-identical to those of
    # one process (the mask's 0.1 cut-off would flip pixels under another thread count).
    source = make_samm(tmp_path / "samm", {"006_1": 5, "007_2": 2})
    single, double = tmp_path / "single", tmp_path / "double"
    threads = ["num_threads=1", "num_workers=0"]
    line = exact_line(tiny_hpf_ckpt, source, reference_image, single) + threads
    run(compose_infer(line, tmp_path / "h1"))

    command = [sys.executable, str(REPO / "infer.py")]
    command += exact_line(tiny_hpf_ckpt, source, reference_image, double) + threads
    command += [
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "trainer.strategy=ddp",
        "progress=false",
        f"hydra.run.dir={tmp_path / 'hydra_ddp'}",
    ]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "joined 2 segments of 006_1" in result.stdout + result.stderr

    for video in ("006_1", "007_2"):
        names = sorted(p.name for p in (single / video).iterdir())
        assert sorted(p.name for p in (double / video).iterdir()) == names
        for name in names:
            np.testing.assert_array_equal(
                read_png(single / video / name), read_png(double / video / name), err_msg=name
            )
    manifest = json.loads((double / "manifest.json").read_text())
    assert {v: e["status"] for v, e in manifest["videos"].items()} == {
        "006_1": "done",
        "007_2": "done",
    }
    assert manifest["num_threads"] == 1
    assert json.loads((single / "manifest.json").read_text())["num_threads"] == 1
    assert not (double / ".segments").exists()
    assert not list(double.glob("*.partial"))


def test_a_finished_folder_is_checked_without_loading_the_networks(
    tiny_ckpt, reference_image, tmp_path, monkeypatch
):
    from mesynth.synthesis import networks

    source = make_samm(tmp_path / "samm", {"006_1": 2})
    out = tmp_path / "out"
    line = exact_line(tiny_ckpt, source, reference_image, out) + ["num_workers=0"]
    run(compose_infer(line, tmp_path / "hydra"))

    def refuse(cfg):
        raise AssertionError("the networks were loaded")

    monkeypatch.setattr(networks, "load_networks", refuse)
    summary = run(compose_infer(line, tmp_path / "hydra"))
    assert summary["videos_skipped"] == ["006_1"] and summary["videos_made"] == []
    # A video still to make needs the networks.
    make_samm(source, {"007_2": 1})
    with pytest.raises(AssertionError, match="the networks were loaded"):
        run(compose_infer(line, tmp_path / "hydra"))


def folder_state(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_a_refused_run_writes_nothing(tiny_ckpt, tiny_hpf_ckpt, reference_image, tmp_path):
    source = make_samm(tmp_path / "samm", {"006_1": 2, "007_2": 2})
    out = tmp_path / "out"
    line = exact_line(tiny_ckpt, source, reference_image, out) + ["num_workers=0"]
    run(compose_infer(line, tmp_path / "hydra"))
    before = folder_state(out)
    # The manifest records the checkpoint's network settings, not the yaml defaults.
    config = json.loads((out / "manifest.json").read_text())["config"]
    assert (config["img_size"], config["net"]["max_conv_dim"], config["net"]["w_hpf"]) == (
        64,
        64,
        0.0,
    )

    other = tmp_path / "other.png"
    shutil.copy(reference_image, other)
    refused = [
        (["reference.path=" + str(other)], "was made with reference"),
        (["reference.domain=0"], "was made with reference"),
        ([f"ckpt={tiny_hpf_ckpt}"], "made with checkpoint"),
    ]
    for changes, message in refused:
        changed = line + changes
        with pytest.raises(ValueError, match=message):
            run(compose_infer(changed, tmp_path / "hydra"))
        assert folder_state(out) == before, changes


def test_skipped_frames_are_counted_and_mapped(tiny_ckpt, reference_image, tmp_path) -> None:
    """on_bad_frame=skip with a video writer: frame i of the .mkv names its source frame."""
    from mesynth.synthesis.output import SynthesisOutput

    source = make_samm(tmp_path / "samm", {"006_1": 6})
    (source / "006_1" / "006_1_0003.jpg").write_bytes(b"not a jpeg")  # corrupt
    (source / "006_1" / "006_1_0005.jpg").unlink()  # missing
    out = tmp_path / "out"
    line = exact_line(tiny_ckpt, source, reference_image, out)
    line = [o if o != "writer=png" else "writer=ffv1" for o in line]
    run(compose_infer(line + ["on_bad_frame=skip", "num_workers=0"], tmp_path / "hydra"))
    record = json.loads((out / "manifest.json").read_text())["videos"]["006_1"]
    assert (record["frames"], record["source_frames"]) == (4, 6)
    assert [Path(p).name for p in record["skipped_source_frames"]] == [
        "006_1_0005.jpg",
        "006_1_0003.jpg",
    ]
    output = SynthesisOutput(out)
    assert output.read_frame_map("006_1") == [1, 2, 4, 6]
    assert record["frame_map"] == str(output.frame_map_path("006_1"))
    assert len(read_video(out / "006_1.mkv")) == 4


@pytest.mark.slow
def test_corrupt_frame_in_a_worker_is_one_clear_error(tiny_ckpt, reference_image, tmp_path):
    source = make_samm(tmp_path / "samm", {"006_1": 4})
    bad = source / "006_1" / "006_1_0003.jpg"
    bad.write_bytes(bad.read_bytes()[:200])  # truncated: no JPEG end marker
    out = tmp_path / "out"
    command = [sys.executable, str(REPO / "infer.py")]
    command += exact_line(tiny_ckpt, source, reference_image, out)
    command += ["num_workers=1", "progress=false", f"hydra.run.dir={tmp_path / 'h'}"]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=240)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    # A quiet start: no advertising, no "GPU available: False" on a machine without one.
    for chatter in ("Tip:", "GPU available", "TPU available", "HPU available", "LeafSpec"):
        assert chatter not in result.stdout + result.stderr, chatter
    assert f"mesynth: error: frame {bad} is unreadable" in result.stderr
    error = json.loads((out / "manifest.json").read_text())["videos"]["006_1"]["error"]
    assert error.startswith("FrameError: frame ") and "Traceback" not in error
    assert not (out / "006_1").exists()


def test_missing_demo_clip_says_how_to_make_it(tmp_path) -> None:
    cfg = compose_infer([f"paths.data_dir={tmp_path / 'data'}"], tmp_path / "hydra")
    assert cfg.source == str(tmp_path / "data" / "demo" / "frames")
    with pytest.raises(FileNotFoundError, match="make demo"):
        run(cfg)


@pytest.mark.slow
def test_several_identities_in_one_pass_equal_separate_runs(
    tiny_hpf_ckpt, reference_image, tmp_path, monkeypatch
) -> None:
    """reference.path=[a,b]: each frame decoded, cropped and masked once, two synthetic videos
    per source, each bit-identical to a run with its reference alone (high-pass path on)."""
    from mesynth.synthesis import predict

    source = make_samm(tmp_path / "samm", {"006_1": 3, "007_2": 1})
    other = tmp_path / "other.png"
    cv2.imwrite(str(other), cv2.flip(cv2.imread(str(reference_image)), 1)[:, :, ::-1].copy())
    annotations = tmp_path / "annotations.csv"
    annotations.write_text(
        "video,subject,onset,apex,offset,type,action_units\n006_1,006,1,2,3,micro,12\n"
    )
    settings = ["num_workers=0", "batch_size=2", f"annotations={annotations}"]
    reads = []
    read = predict.FrameBatches.read
    monkeypatch.setattr(
        predict.FrameBatches, "read", lambda self, *a: reads.append(a) or read(self, *a)
    )
    both = tmp_path / "both"
    line = exact_line(tiny_hpf_ckpt, source, reference_image, both) + settings
    line += [f"reference.path=[{reference_image},{other}]"]
    summary = run(compose_infer(line, tmp_path / "h0"))
    names = ["006_1_0", "006_1_1", "007_2_0", "007_2_1"]
    assert summary["videos_made"] == names and summary["frames"] == 8
    assert sorted(reads) == [(0, 0, 2), (0, 2, 3), (1, 0, 1)]  # each source frame read once

    for identity, image in enumerate((reference_image, other)):
        alone = tmp_path / f"alone{identity}"
        line = exact_line(tiny_hpf_ckpt, source, image, alone) + settings
        run(compose_infer(line + [f"video_name='{{video}}_{identity}'"], tmp_path / "h1"))
        for video in ("006_1", "007_2"):
            name = f"{video}_{identity}"
            files = sorted(p.name for p in (alone / name).iterdir())
            assert sorted(p.name for p in (both / name).iterdir()) == files
            for file in files:
                np.testing.assert_array_equal(
                    read_png(both / name / file), read_png(alone / name / file), err_msg=file
                )
    assert not np.array_equal(
        read_png(both / "006_1_0" / "006_1_0001.png"), read_png(both / "006_1_1" / "006_1_0001.png")
    )

    manifest = json.loads((both / "manifest.json").read_text())
    records = manifest["videos"]
    assert list(records) == names and {r["status"] for r in records.values()} == {"done"}
    assert [(records[n]["source_video"], Path(records[n]["reference"]).name) for n in names] == [
        ("006_1", "reference.png"),
        ("006_1", "other.png"),
        ("007_2", "reference.png"),
        ("007_2", "other.png"),
    ]
    assert all((both / "crops" / f"{name}.json").is_file() for name in names)
    references = pd.read_csv(both / "references.csv", dtype=str)
    assert references[["video", "source_video", "identity"]].values.tolist() == [
        ["006_1_0", "006_1", "0"],
        ["006_1_1", "006_1", "1"],
        ["007_2_0", "007_2", "0"],
        ["007_2_1", "007_2", "1"],
    ]
    carried = pd.read_csv(both / "annotations.csv", dtype=str)
    assert carried[["video", "source_video"]].values.tolist() == [
        ["006_1_0", "006_1"],
        ["006_1_1", "006_1"],
    ]
