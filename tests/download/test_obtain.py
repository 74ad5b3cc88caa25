"""Making an entry's files present and valid: skip, fetch, force, offline, mirrors."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesynth import download as dl
from mesynth.__main__ import main as mesynth_main
from tests.download.helpers import serve, write_config


def test_full_download_then_no_refetch_unless_forced(server, payloads, tmp_path: Path) -> None:
    serve(server, payloads, "afhq.ckpt")
    config = dl.load_config(write_config(tmp_path, server.base_url))

    paths = dl.download("afhq", config=config, progress=False)

    target = tmp_path / "checkpoints" / "afhq" / "100000_nets_ema.ckpt"
    assert paths == [target]
    assert target.read_bytes() == payloads["afhq.ckpt"]
    assert not dl.part_path(target).exists()
    assert server.state.requests == [("/afhq.ckpt", None)]

    assert dl.download("afhq", config=config, progress=False) == [target]
    assert len(server.state.requests) == 1  # present and valid: not fetched again

    dl.download("afhq", config=config, force=True, progress=False)
    assert len(server.state.requests) == 2
    assert target.read_bytes() == payloads["afhq.ckpt"]


def test_celeba_hq_fetches_wing_first_and_validates_with_it(server, payloads, tmp_path) -> None:
    serve(server, payloads, "celeba_hq.ckpt", "wing.ckpt", "lm_mean.npz")
    config = dl.load_config(write_config(tmp_path, server.base_url))

    paths = dl.download("celeba-hq", config=config, progress=False)

    checkpoints = tmp_path / "checkpoints"
    assert paths == [checkpoints / "celeba_hq" / "100000_nets_ema.ckpt"]
    assert [path for path, _ in server.state.requests] == [
        "/wing.ckpt",
        "/lm_mean.npz",
        "/celeba_hq.ckpt",
    ]
    assert (checkpoints / "wing.ckpt").read_bytes() == payloads["wing.ckpt"]
    assert (checkpoints / "celeba_lm_mean.npz").read_bytes() == payloads["lm_mean.npz"]


def test_invalid_present_file_is_kept_until_forced(server, payloads, tmp_path: Path) -> None:
    serve(server, payloads, "afhq.ckpt")
    config = dl.load_config(write_config(tmp_path, server.base_url))
    target = tmp_path / "checkpoints" / "afhq" / "100000_nets_ema.ckpt"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"not a checkpoint")

    with pytest.raises(dl.InvalidFileError, match="already there is not valid.*--force"):
        dl.download("afhq", config=config, progress=False)
    assert target.read_bytes() == b"not a checkpoint"
    assert server.state.requests == []

    dl.download("afhq", config=config, force=True, progress=False)
    assert target.read_bytes() == payloads["afhq.ckpt"]


def test_offline_makes_no_network_attempt(server, payloads, tmp_path, monkeypatch, capsys):
    serve(server, payloads, "afhq.ckpt")
    config_path = write_config(tmp_path, server.base_url)
    monkeypatch.setenv(dl.OFFLINE_ENV, "1")

    with pytest.raises(dl.OfflineError, match="MESYNTH_OFFLINE=1"):
        dl.download("afhq", config=dl.load_config(config_path), progress=False)
    code = mesynth_main(["download", "afhq", "--config", str(config_path)])
    assert code == 2
    assert "offline" in capsys.readouterr().err

    monkeypatch.setenv(dl.CONFIG_ENV, str(config_path))
    assert dl.ensure_weights("afhq") is None
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "offline" in err
    assert server.state.requests == []

    monkeypatch.setenv(dl.OFFLINE_ENV, "0")
    target = dl.ensure_weights("afhq")
    assert target is not None and target.read_bytes() == payloads["afhq.ckpt"]
    assert len(server.state.requests) == 1
    capsys.readouterr()

    # --best-effort (for callers that fall back): one line, exit 0.
    monkeypatch.setenv(dl.OFFLINE_ENV, "1")
    assert dl.main(["celeba-hq", "wing", "--best-effort"]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "wing.ckpt is missing" in err and "offline" in err
    assert len(server.state.requests) == 1

    # Offline with the file present: validated locally, still no request.
    assert dl.ensure_weights("afhq", offline=True) == target
    assert dl.main(["afhq", "--offline"]) == 0
    assert len(server.state.requests) == 1


def test_url_override_and_local_mirror(server, payloads, tmp_path: Path) -> None:
    server.state.files["/mirror/any-name.ckpt"] = payloads["afhq.ckpt"]
    config_path = write_config(tmp_path, server.base_url)  # its afhq URL is not served
    target = tmp_path / "checkpoints" / "afhq" / "100000_nets_ema.ckpt"

    args = ["download", "afhq", "--config", str(config_path), "--no-progress"]
    assert mesynth_main([*args, "--url", f"{server.base_url}/mirror/any-name.ckpt"]) == 0
    assert server.state.requests == [("/mirror/any-name.ckpt", None)]

    # A shared drive: a plain path is copied even offline.
    shared = tmp_path / "shared" / "100000_nets_ema.ckpt"
    shared.parent.mkdir()
    shared.write_bytes(payloads["afhq.ckpt"])
    other_dir = tmp_path / "elsewhere"
    code = mesynth_main([*args, "--url", str(shared), "--dir", str(other_dir), "--offline"])
    assert code == 0
    assert (other_dir / "afhq" / "100000_nets_ema.ckpt").read_bytes() == payloads["afhq.ckpt"]
    assert len(server.state.requests) == 1
    assert target.is_file()
