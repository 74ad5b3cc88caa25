"""No loader unpickles arbitrary objects: a checkpoint carrying a payload whose unpickling runs a
command is refused everywhere a checkpoint is read, with the file and the type named, and the
command never runs."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mesynth.checkpoint import CheckpointError, load_nets, load_official, load_wing, save_official
from mesynth.download import InvalidFileError, validate
from mesynth.nets import build_nets
from mesynth.training import run
from mesynth.training.finetune import read_start_weights
from mesynth.training.runner import build_module
from tests.training.conftest import compose_train, make_face_folder, tiny_overrides

REPO = Path(__file__).resolve().parents[1]
# What the restricted unpickler meets in the payload below, as it names it.
PAYLOAD_TYPE = f"{os.system.__module__}.{os.system.__name__}"  # posix.system on Linux


class CommandPayload:
    """An object whose unpickling runs a shell command, as a tampered download could hold."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


@pytest.fixture(scope="module")
def small_nets():
    torch.manual_seed(0)
    return build_nets(img_size=64, max_conv_dim=16, style_dim=8, latent_dim=4, w_hpf=1.0)


def official_states(nets) -> dict:
    names = ("generator", "mapping_network", "style_encoder")
    return {name: nets[name].state_dict() for name in names}


def lightning_states(nets) -> dict:
    state_dict = {
        f"{prefix}.{name}.{key}": value
        for prefix in ("nets", "nets_ema")
        for name in ("generator", "mapping_network", "style_encoder")
        for key, value in nets[name].state_dict().items()
    }
    return {"state_dict": state_dict, "pytorch-lightning_version": "2.6.0", "loops": {}}


def tampered(path: Path, content: dict, legacy: bool = False) -> Path:
    """``content`` plus the payload, saved as a checkpoint; its marker is ``<path>.marker``."""
    payload = CommandPayload(marker_of(path))
    torch.save({**content, "extra": payload}, path, _use_new_zipfile_serialization=not legacy)
    return path


def marker_of(path: Path) -> Path:
    return path.with_name(path.name + ".marker")


def assert_refused(error: BaseException | str, path: Path) -> None:
    message = str(error)
    assert str(path) in message, message
    assert PAYLOAD_TYPE in message, message
    assert "weights_only=False" not in message  # never advise the unrestricted load
    assert not marker_of(path).exists(), "the payload ran"


def test_the_payload_runs_its_command_when_unpickled_without_restriction(tmp_path):
    """Guards the other tests: the payload is live, so its marker tells whether it ran."""
    path = tampered(tmp_path / "evil.ckpt", {"generator": {}})
    torch.load(path, weights_only=False)
    assert marker_of(path).exists()


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy_serialisation"])
def test_official_nets_and_wing_loaders_refuse_the_payload(small_nets, tmp_path, legacy):
    official = tampered(tmp_path / "evil_nets_ema.ckpt", official_states(small_nets), legacy)
    for loader in (load_official, load_nets):
        with pytest.raises(CheckpointError, match="was refused") as error:
            loader(official)
        assert_refused(error.value, official)

    ours = tampered(tmp_path / "evil_last.ckpt", lightning_states(small_nets), legacy)
    with pytest.raises(CheckpointError, match="was refused") as error:
        load_nets(ours)
    assert_refused(error.value, ours)

    wing = tampered(tmp_path / "wing.ckpt", {"state_dict": small_nets.fan.state_dict()}, legacy)
    with pytest.raises(CheckpointError, match="was refused") as error:
        load_wing(wing)
    assert_refused(error.value, wing)
    # The same file is refused when it comes as wing= of an official checkpoint.
    good = save_official(
        small_nets,
        tmp_path / "good_nets_ema.ckpt",
        ("generator", "mapping_network", "style_encoder"),
    )
    with pytest.raises(CheckpointError, match="was refused") as error:
        load_official(good, wing=wing)
    assert_refused(error.value, wing)


def test_download_validation_refuses_the_payload(small_nets, tmp_path):
    official = tampered(tmp_path / "100000_nets_ema.ckpt", official_states(small_nets))
    with pytest.raises(InvalidFileError) as error:
        validate(official, "official")
    assert_refused(error.value, official)
    wing = tampered(tmp_path / "wing.ckpt", {"state_dict": small_nets.fan.state_dict()})
    with pytest.raises(InvalidFileError) as error:
        validate(wing, "wing")
    assert_refused(error.value, wing)


def test_fine_tuning_and_resuming_refuse_the_payload(small_nets, tmp_path):
    face_folder = make_face_folder(tmp_path / "faces", per_domain=1)
    evil = tampered(tmp_path / "evil_nets_ema.ckpt", official_states(small_nets))
    cfg = compose_train(tiny_overrides(face_folder, tmp_path / "ft", f"finetune.checkpoint={evil}"))
    with pytest.raises(CheckpointError, match="was refused") as error:
        build_module(cfg, ["glasses", "plain"])
    assert_refused(error.value, evil)

    # finetune.discriminator= is read the same way.
    no_hpf = build_nets(img_size=64, max_conv_dim=16, style_dim=8, latent_dim=4, w_hpf=0)
    good = save_official(no_hpf, tmp_path / "good_nets.ckpt")
    evil_d = tampered(tmp_path / "evil_nets.ckpt", {"discriminator": {}})
    with pytest.raises(CheckpointError, match="was refused") as error:
        read_start_weights(good, discriminator_path=evil_d)
    assert_refused(error.value, evil_d)

    # ckpt_path= is read by mesynth's reader before Lightning sees it.
    ours = tampered(tmp_path / "last.ckpt", {**lightning_states(small_nets), "mesynth": {}})
    output_dir = tmp_path / "resume"
    cfg = compose_train(tiny_overrides(face_folder, output_dir, f"ckpt_path={ours}"))
    with pytest.raises(CheckpointError, match="was refused") as error:
        run(cfg)
    assert_refused(error.value, ours)
    assert not (output_dir / "checkpoints").exists()


def frame_folder(root: Path, count: int = 3) -> Path:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    for index in range(1, count + 1):
        pixels = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / f"{index:04d}.png")
    return root


def run_infer(tmp_path: Path, *overrides: str) -> tuple[subprocess.CompletedProcess, Path]:
    output_dir = tmp_path / "synthetic"
    command = [
        sys.executable,
        str(REPO / "infer.py"),
        f"source={frame_folder(tmp_path / 'frames')}",
        f"output_dir={output_dir}",
        "crop=none",
        f"hydra.run.dir={tmp_path / 'hydra'}",
        *overrides,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MESYNTH_OFFLINE": "1"}
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    return done, output_dir


@pytest.mark.parametrize("option", ["ckpt", "wing"])
def test_infer_refuses_the_payload_and_writes_no_frame(small_nets, tmp_path, option):
    if option == "ckpt":
        evil = tampered(tmp_path / "evil_nets_ema.ckpt", official_states(small_nets))
        overrides = [f"ckpt={evil}"]
    else:
        evil = tampered(tmp_path / "wing.ckpt", {"state_dict": small_nets.fan.state_dict()})
        good = save_official(
            small_nets,
            tmp_path / "good_nets_ema.ckpt",
            ("generator", "mapping_network", "style_encoder"),
        )
        overrides = [f"ckpt={good}", f"wing={evil}"]
    done, output_dir = run_infer(tmp_path, *overrides)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output[-3000:]
    assert "was refused" in output, output[-3000:]
    assert_refused(output, evil)
    written = [p for p in output_dir.rglob("*") if p.suffix in (".png", ".mkv", ".mp4")]
    assert written == []


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_metric_weights_refuse_the_payload_with_one_message(tmp_path, legacy):
    from torchvision import models

    from mesynth.training.metrics import load_inception, load_lpips

    inception = tampered(tmp_path / "inception.pth", {"fc.bias": torch.zeros(3)}, legacy)
    with pytest.raises(CheckpointError) as caught:
        load_inception(inception)
    assert_refused(caught.value, inception)

    alexnet = tmp_path / "alexnet.pth"
    torch.save(models.alexnet(weights=None).state_dict(), alexnet)
    lpips = tampered(tmp_path / "lpips_weights.ckpt", {"lpips_weights.0.1.weight": torch.ones(1)})
    with pytest.raises(CheckpointError) as caught:
        load_lpips(alexnet, lpips)
    assert_refused(caught.value, lpips)


def test_a_checkpoint_that_unpacks_to_many_times_its_size_is_refused(tmp_path):
    import zipfile

    from mesynth.checkpoint import read_checkpoint

    plain = tmp_path / "plain.ckpt"
    torch.save({"generator": {"weight": torch.zeros(16 * 2**20)}}, plain)  # 64 MiB of zeros
    # The same members deflated: torch itself reads this (and would unpack every byte).
    packed = tmp_path / "packed.ckpt"
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(packed, "w") as target:
        for member in source.infolist():
            target.writestr(member.filename, source.read(member), zipfile.ZIP_DEFLATED)
    assert packed.stat().st_size < 2**20
    assert torch.load(packed, weights_only=True)["generator"]["weight"].numel() == 16 * 2**20
    with pytest.raises(CheckpointError, match=r"packed.ckpt was refused: its 0.1 MiB unpack to"):
        read_checkpoint(packed)
    assert read_checkpoint(plain)["generator"]["weight"].shape == (16 * 2**20,)
