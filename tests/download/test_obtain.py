"""Making an entry's files present and valid: skip, fetch, force, offline, mirrors."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesynth import download as dl
from mesynth.__main__ import main as mesynth_main
from tests.download.helpers import (
    add_entry,
    listing,
    serve,
    softnet_entry,
    write_config,
    write_keras_weights,
)


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


def test_softnet_comes_from_a_copy_of_its_folder_into_checkpoints_softnet(tmp_path, capsys):
    mirror = tmp_path / "SOFTNet_Weights"
    relative = [
        "SAMMLV/micro-expression/s1.hdf5",
        "SAMMLV/micro-expression/s2.hdf5",
        "CASME_sq/macro-expression/s1.hdf5",
    ]
    files = {path: write_keras_weights(mirror / path, seed) for seed, path in enumerate(relative)}
    config_path = write_config(tmp_path, "http://127.0.0.1:9")
    add_entry(config_path, "softnet", softnet_entry("http://127.0.0.1:9/none", files))
    checkpoints = tmp_path / "checkpoints"

    # One --url replaces the entry's base: every file comes from its path below the folder,
    # offline too (a local copy needs no network).
    args = ["download", "softnet", "--config", str(config_path), "--no-progress"]
    assert mesynth_main([*args, "--url", str(mirror), "--offline"]) == 0
    out = capsys.readouterr().out.split()
    assert out == [str(checkpoints / "softnet" / path) for path in relative]
    for path, source in files.items():
        assert (checkpoints / "softnet" / path).read_bytes() == source.read_bytes()

    size = f"{files[relative[0]].stat().st_size / 1e6:.1f} MB"
    rows = listing(config_path, capsys)
    assert [rows[str(checkpoints / "softnet" / path)] for path in relative] == [
        f"present, {size}"
    ] * 3
    assert mesynth_main(["download", "--list", "softnet", "--config", str(config_path)]) == 0
    shown = [line.split("  [")[0].strip() for line in capsys.readouterr().out.splitlines()]
    assert [line for line in shown if line.startswith("/")] == [
        str(checkpoints / "softnet" / path) for path in relative
    ]
    # Present and valid: the base URL (unreachable here) is not asked again.
    assert mesynth_main(args) == 0
