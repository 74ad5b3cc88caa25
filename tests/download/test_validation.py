"""A download that is not what it claims to be is refused and removed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mesynth import download as dl
from tests.download.helpers import serve, write_config


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
