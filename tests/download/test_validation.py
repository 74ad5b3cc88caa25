"""A download that is not what it claims to be is refused and removed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from mesynth import download as dl
from tests.download.helpers import (
    SOFTNET_SHAPES,
    add_entry,
    serve,
    softnet_entry,
    write_config,
    write_keras_weights,
)


@pytest.mark.parametrize(
    ("served", "reason"),
    [
        ("random", "could not be read"),
        ("truncated", "could not be read"),
        ("wing.ckpt", "landmark-network file"),
    ],
)
def test_corrupt_checkpoint_rejected_and_removed(server, payloads, tmp_path, served, reason):
    bodies = {
        "random": np.random.default_rng(1).bytes(50_000),
        "truncated": payloads["afhq.ckpt"][: len(payloads["afhq.ckpt"]) // 3],
        "wing.ckpt": payloads["wing.ckpt"],
    }
    server.state.files["/afhq.ckpt"] = bodies[served]
    config = dl.load_config(write_config(tmp_path, server.base_url))
    target = tmp_path / "checkpoints" / "afhq" / "100000_nets_ema.ckpt"

    with pytest.raises(dl.InvalidFileError) as failure:
        dl.download("afhq", config=config, progress=False)

    message = str(failure.value)
    assert "does not load as an official StarGAN v2 checkpoint" in message
    assert reason in message
    assert "removed" in message and server.base_url in message
    assert not target.exists() and not dl.part_path(target).exists()


def test_landmark_mean_with_wrong_shape_rejected(server, payloads, tmp_path: Path) -> None:
    serve(server, payloads, "wing.ckpt")
    server.state.files["/lm_mean.npz"] = payloads["lm_mean_68.npz"]
    config = dl.load_config(write_config(tmp_path, server.base_url))

    with pytest.raises(dl.InvalidFileError, match=r"shape \(68, 2\), expected .* \(98, 2\)"):
        dl.download("wing", config=config, progress=False)

    assert (tmp_path / "checkpoints" / "wing.ckpt").is_file()  # the valid half is kept
    assert not list((tmp_path / "checkpoints").glob("celeba_lm_mean.npz*"))


def test_a_download_with_another_sha256_is_refused_and_not_kept(server, tmp_path) -> None:
    expected = write_keras_weights(tmp_path / "released" / "s1.hdf5", seed=0)
    other = write_keras_weights(tmp_path / "other" / "s1.hdf5", seed=1)  # loads just as well
    assert other.stat().st_size == expected.stat().st_size
    server.state.files["/weights/SAMMLV/micro-expression/s1.hdf5"] = other.read_bytes()
    entry = softnet_entry(
        f"{server.base_url}/weights", {"SAMMLV/micro-expression/s1.hdf5": expected}
    )
    config_path = add_entry(write_config(tmp_path, server.base_url), "softnet", entry)
    target = tmp_path / "checkpoints" / "softnet" / "SAMMLV" / "micro-expression" / "s1.hdf5"
    want = hashlib.sha256(expected.read_bytes()).hexdigest()
    found = hashlib.sha256(other.read_bytes()).hexdigest()

    with pytest.raises(dl.InvalidFileError) as failure:
        dl.download("softnet", config=dl.load_config(config_path), progress=False)
    message = str(failure.value)
    assert f"has sha256 {found}, expected {want}" in message
    assert "s1.hdf5" in message and "was removed" in message
    assert not target.exists() and not dl.part_path(target).exists()

    # A present file with another digest is reported with both digests and never deleted.
    target.write_bytes(other.read_bytes())  # the folder is there from the first attempt
    with pytest.raises(dl.InvalidFileError, match=f"already there is not valid.*{found}.*{want}"):
        dl.download("softnet", config=dl.load_config(config_path), progress=False)
    assert target.read_bytes() == other.read_bytes()
    assert len(server.state.requests) == 1

    # The right bytes pass.
    server.state.files["/weights/SAMMLV/micro-expression/s1.hdf5"] = expected.read_bytes()
    dl.download("softnet", config=dl.load_config(config_path), force=True, progress=False)
    assert target.read_bytes() == expected.read_bytes()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("no dense_1", "expected 5 layers with weights"),
        (
            "wide conv2d",
            "expected conv2d of shape (3, 1, 5, 5) (PyTorch layout), found (4, 1, 5, 5)",
        ),
        ("not hdf5", "expected an HDF5 file, found unreadable"),
    ],
)
def test_softnet_weights_must_hold_its_five_layers(tmp_path: Path, change, reason) -> None:
    path = tmp_path / "s1.hdf5"
    shapes = dict(SOFTNET_SHAPES)
    if change == "no dense_1":
        del shapes["dense_1"]
    if change == "wide conv2d":
        shapes["conv2d"] = ((5, 5, 1, 4), (4,))
    write_keras_weights(path, seed=0, shapes=shapes)
    if change == "not hdf5":
        path.write_bytes(path.read_bytes()[:1000])
    dl.validate(write_keras_weights(tmp_path / "good.hdf5", seed=0), "softnet")

    with pytest.raises(dl.InvalidFileError, match="s1.hdf5") as failure:
        dl.validate(path, "softnet")
    assert "does not load as a released SOFTNet model" in str(failure.value)
    assert reason in str(failure.value)
