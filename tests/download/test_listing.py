"""``mesynth download --list``: present means validated, and the cache makes it cheap."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mesynth import download as dl
from mesynth.__main__ import main as mesynth_main
from mesynth.download import validation
from tests.download.helpers import (
    add_entry,
    listing,
    serve,
    softnet_entry,
    write_config,
    write_keras_weights,
)


def test_list_says_present_only_after_validation_and_caches_it(
    server, payloads, tmp_path, monkeypatch, capsys
) -> None:
    serve(server, payloads, "afhq.ckpt")
    server.state.cut_first.add("/afhq.ckpt")
    config_path = write_config(tmp_path, server.base_url, retries=0)
    checkpoints = tmp_path / "checkpoints"
    afhq = checkpoints / "afhq" / "100000_nets_ema.ckpt"
    wing = checkpoints / "wing.ckpt"
    size = len(payloads["afhq.ckpt"])
    assert size // 1_000_000 == 22  # the expected texts below are written for this size

    # A cut download: the listing shows how much arrived of the size the server announced.
    with pytest.raises(dl.DownloadError):
        dl.download("afhq", config=dl.load_config(config_path), progress=False)
    rows = listing(config_path, capsys)
    assert rows[str(afhq)] == f"partial, 11.1 MB of 22.2 MB in {afhq.name}.part"
    assert rows[str(wing)] == "missing, size unknown"

    dl.download("afhq", config=dl.load_config(config_path), progress=False)
    wing.write_bytes(b"not a landmark network")
    celeba = checkpoints / "celeba_hq" / "100000_nets_ema.ckpt"
    celeba.parent.mkdir()
    celeba.write_bytes(payloads["celeba_hq.ckpt"])

    checked: list[str] = []
    real_validate = dl.validate

    def counting_validate(path: Path, *args: object, **kwargs: object) -> None:
        checked.append(path.relative_to(checkpoints).as_posix())
        real_validate(path, *args, **kwargs)

    monkeypatch.setattr(validation, "validate", counting_validate)
    rows = listing(config_path, capsys)
    assert rows[str(afhq)] == "present, 22.2 MB"  # validated when it was downloaded
    assert rows[str(wing)].startswith("INVALID (22 bytes): ")
    assert "does not load as the landmark network" in rows[str(wing)]
    assert rows[str(celeba)] == f"{len(payloads['celeba_hq.ckpt']) / 1e6:.1f} MB, not checked: " + (
        f"needs {wing} (INVALID (22 bytes))"
    )
    assert checked == ["wing.ckpt"]  # a failure is never cached: checked again every time
    listing(config_path, capsys)
    assert checked == ["wing.ckpt", "wing.ckpt"]

    # With a valid landmark network the high-pass checkpoint is checked once, then remembered.
    wing.write_bytes(payloads["wing.ckpt"])
    rows = listing(config_path, capsys)
    assert rows[str(celeba)] == f"present, {len(payloads['celeba_hq.ckpt']) / 1e6:.1f} MB"
    assert checked[2:] == ["wing.ckpt", "celeba_hq/100000_nets_ema.ckpt"]
    listing(config_path, capsys)
    assert len(checked) == 4

    # A new mtime (same bytes) is checked again; a file replaced by garbage is never present,
    # even with the old mtime put back; a changed landmark network re-checks its dependant.
    stamp = afhq.stat().st_mtime_ns
    os.utime(afhq, ns=(stamp, stamp + 1_000_000_000))
    listing(config_path, capsys)
    assert checked[4:] == ["afhq/100000_nets_ema.ckpt"]
    replacement = afhq.with_name("replacement")
    replacement.write_bytes(payloads["afhq.ckpt"][: size // 2])
    os.replace(replacement, afhq)
    os.utime(afhq, ns=(stamp, stamp + 1_000_000_000))
    assert listing(config_path, capsys)[str(afhq)].startswith("INVALID (11.1 MB): ")
    os.utime(wing, ns=(stamp, stamp - 10_000_000_000))  # surely not its current mtime
    listing(config_path, capsys)
    assert checked[6:] == [
        "wing.ckpt",
        "celeba_hq/100000_nets_ema.ckpt",
        "afhq/100000_nets_ema.ckpt",  # still invalid: checked again
    ]

    # download skips what the cache vouches for, too.
    del checked[:]
    afhq.write_bytes(payloads["afhq.ckpt"])
    dl.download("afhq", config=dl.load_config(config_path), progress=False)
    dl.download("afhq", config=dl.load_config(config_path), progress=False)
    assert checked == ["afhq/100000_nets_ema.ckpt"]


@pytest.mark.slow
def test_list_with_a_warm_cache_imports_no_heavy_library(server, payloads, tmp_path, capsys):
    serve(server, payloads, "afhq.ckpt", "wing.ckpt", "lm_mean.npz", "celeba_hq.ckpt")
    config_path = write_config(tmp_path, server.base_url)
    config = dl.load_config(config_path)
    for name in ("afhq", "celeba-hq"):
        dl.download(name, config=config, progress=False)
    listing(config_path, capsys)  # warm
    assert mesynth_main(["download", "--list", "afhq", "--config", str(config_path)]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  ")]
    assert [row.split("  [")[1].split("]")[0] for row in rows] == ["present, 22.2 MB"]
    probe = (
        "import sys; from mesynth.__main__ import main; "
        f"code = main(['download', '--list', '--config', {str(config_path)!r}]); "
        "heavy = sorted({'torch', 'lightning', 'torchvision', 'dlib'} & set(sys.modules)); "
        "print('HEAVY', heavy, code)"
    )
    env = {k: v for k, v in os.environ.items() if k not in (dl.CONFIG_ENV, dl.OFFLINE_ENV)}
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.stdout.strip().splitlines()[-1] == "HEAVY [] 0", done.stderr
    assert done.stdout.count("[present, ") == 4


def test_a_digest_changed_in_the_config_is_checked_again(tmp_path: Path, capsys) -> None:
    relative = "SAMMLV/macro-expression/s3.hdf5"
    source = write_keras_weights(tmp_path / "mirror" / relative, seed=3)
    entry = softnet_entry(str(tmp_path / "mirror"), {relative: source})
    config_path = add_entry(write_config(tmp_path, "http://127.0.0.1:9"), "softnet", entry)
    target = str(tmp_path / "checkpoints" / "softnet" / relative)
    assert dl.main(["softnet", "--config", str(config_path), "--no-progress"]) == 0
    assert listing(config_path, capsys)[target].startswith("present, ")

    # The cache vouches for a file only under the digest it was checked against.
    actual = entry["files"][0]["sha256"]
    entry["files"][0]["sha256"] = "0" * 64
    add_entry(config_path, "softnet", entry)
    state = listing(config_path, capsys)[target]
    assert state.startswith("INVALID (")
    assert f"has sha256 {actual}, expected {'0' * 64}" in state
    assert (tmp_path / "checkpoints" / "softnet" / relative).read_bytes() == source.read_bytes()
