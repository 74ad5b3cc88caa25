"""The command line: folder options, one line per problem, exit statuses, Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mesynth import download as dl
from mesynth.__main__ import main as mesynth_main
from tests.download.helpers import serve, write_config


def test_ambiguous_url_and_unknown_name_are_usage_errors(tmp_path: Path, capsys) -> None:
    config_path = str(write_config(tmp_path, "http://127.0.0.1:9"))
    assert dl.main(["wing", "--config", config_path, "--url", "http://127.0.0.1:9/w"]) == 2
    assert "wing.ckpt=URL" in capsys.readouterr().err
    assert dl.main(["celeba", "--config", config_path]) == 2
    assert "available: celeba-hq, afhq, wing" in capsys.readouterr().err


def test_datasets_and_checkpoints_have_separate_folders(server, payloads, tmp_path, capsys):
    serve(server, payloads, "afhq.ckpt", "afhq.zip")
    config_path = str(write_config(tmp_path, server.base_url))
    shared = tmp_path / "shared"
    args = ["--config", config_path, "--no-progress"]

    assert dl.main(["afhq", "--dir", str(shared), *args]) == 0
    checkpoint = shared / "afhq" / "100000_nets_ema.ckpt"
    assert checkpoint.read_bytes() == payloads["afhq.ckpt"]

    # --dir moves checkpoints only: asking it to place a dataset is refused, not ignored.
    assert dl.main(["afhq-dataset", "--dir", str(shared), *args]) == 2
    err = capsys.readouterr().err
    assert "--dir sets the checkpoint folder" in err and f"--data-dir {shared}" in err
    assert len(server.state.requests) == 1

    # The dataset's folder afhq/ is taken by the checkpoint folder afhq/: reported as in the
    # way (never as already extracted), and left alone.
    assert dl.main(["afhq-dataset", "--data-dir", str(shared), *args]) == 2
    err = capsys.readouterr().err
    assert f"{shared / 'afhq'} is in the way" in err and "holds no train/ or val/" in err
    assert "already extracted" not in err and err.count("\n") == 1
    assert sorted(p.name for p in (shared / "afhq").iterdir()) == ["100000_nets_ema.ckpt"]
    assert len(server.state.requests) == 1  # refused before fetching

    # Both in one command, each kind to its own folder.
    data = tmp_path / "datasets"
    both = ["afhq", "afhq-dataset", "--dir", str(shared), "--data-dir", str(data)]
    assert dl.main([*both, *args]) == 0
    assert (data / "afhq" / "val" / "cat" / "flickr_cat_000001.jpg").read_text() == "val-cat"
    assert checkpoint.read_bytes() == payloads["afhq.ckpt"]
    assert len(server.state.requests) == 2  # the checkpoint was present and valid

    # The Python API: the positional folder is the checkpoint folder, datasets use data_dir.
    config = dl.load_config(config_path)
    assert dl.download("afhq-dataset", shared, data_dir=data, config=config) == [data / "afhq"]
    assert dl.download("afhq", shared, data_dir=data, config=config) == [checkpoint]


def test_offline_names_each_missing_file_once(tmp_path, monkeypatch, capsys) -> None:
    config_path = str(write_config(tmp_path, "http://127.0.0.1:9", default=("celeba-hq", "wing")))
    checkpoints = tmp_path / "checkpoints"

    assert dl.main(["--config", config_path, "--offline", "--no-progress"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" is missing")[0].removeprefix("mesynth download: ") for line in lines] == [
        str(checkpoints / "wing.ckpt"),
        str(checkpoints / "celeba_lm_mean.npz"),
        str(checkpoints / "celeba_hq" / "100000_nets_ema.ckpt"),
    ]
    for line in lines:
        assert "offline because of --offline" in line and "run without --offline" in line
        assert dl.OFFLINE_ENV not in line  # never set, so never to be unset

    monkeypatch.setenv(dl.OFFLINE_ENV, "1")
    assert dl.main(["celeba-hq", "wing", "--config", config_path]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3
    for line in lines:
        assert f"because of {dl.OFFLINE_ENV}=1" in line and f"unset {dl.OFFLINE_ENV}" in line
        assert "--offline" not in line

    # A present checkpoint that needs the missing landmark network says so, in one line.
    (checkpoints / "celeba_hq").mkdir(parents=True)
    (checkpoints / "celeba_hq" / "100000_nets_ema.ckpt").write_bytes(b"weights")
    assert dl.main(["--config", config_path]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3 and "cannot be checked without wing.ckpt" in lines[2]


@pytest.mark.slow
def test_ctrl_c_stops_with_one_line_and_the_same_command_resumes(server, payloads, tmp_path):
    serve(server, payloads, "afhq.ckpt")
    server.state.slow.add("/afhq.ckpt")
    config_path = write_config(tmp_path, server.base_url)
    target = tmp_path / "checkpoints" / "afhq" / "100000_nets_ema.ckpt"
    part = dl.part_path(target)
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.pop(dl.OFFLINE_ENV, None)
    command = [sys.executable, "-m", "mesynth", "download", "afhq", "--config", str(config_path)]

    child = subprocess.Popen(
        [*command, "--no-progress"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 120  # start-up on a loaded machine
        while not (part.exists() and part.stat().st_size > 0):
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "no bytes arrived"
            time.sleep(0.05)
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=60)
    finally:
        child.kill()
        child.wait()

    assert child.returncode == 130
    text = err.decode()
    assert "Traceback" not in text
    assert text.strip().splitlines() == [
        f"mesynth download: afhq: 100000_nets_ema.ckpt: interrupted; the same command resumes "
        f"({part} is kept)"
    ]
    kept = part.stat().st_size
    assert 0 < kept < len(payloads["afhq.ckpt"])

    server.state.slow.clear()
    assert mesynth_main(["download", "afhq", "--config", str(config_path), "--no-progress"]) == 0
    assert server.state.requests[-1] == ("/afhq.ckpt", f"bytes={kept}-")
    assert target.read_bytes() == payloads["afhq.ckpt"]


def test_user_facing_errors_exit_2_without_traceback(
    server, payloads, tmp_path, monkeypatch, capsys
):
    serve(server, payloads, "afhq.ckpt")
    config_path = write_config(tmp_path, server.base_url)
    target = tmp_path / "checkpoints" / "afhq" / "100000_nets_ema.ckpt"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"not a checkpoint")
    broken = tmp_path / "broken.yaml"
    broken.write_text("entries: [unclosed\n")

    cases = {
        "invalid file": (["afhq", "--config", str(config_path)], [str(target), "--force"]),
        "bad config": (["afhq", "--config", str(broken)], [str(broken)]),
        "missing config": (["--config", str(tmp_path / "nope.yaml")], ["nope.yaml", "--config"]),
        "unknown name": (["afhq-v3", "--config", str(config_path)], ["afhq-v3", "available:"]),
        "unwritable folder": (
            ["afhq", "--config", str(config_path), "--dir", str(broken)],
            ["cannot write", str(broken), "--dir"],
        ),
        "missing source": (
            ["afhq", "--config", str(config_path), "--dir", str(tmp_path / "other")]
            + ["--url", str(tmp_path / "nowhere.ckpt")],
            ["nowhere.ckpt", "no such file", "check the path given by --url"],
        ),
    }
    for what, (argv, named) in cases.items():
        assert dl.main([*argv, "--no-progress"]) == 2, what
        err = capsys.readouterr().err
        assert "Traceback" not in err and err.startswith("mesynth download: "), what
        assert all(name in err for name in named), (what, err)
        if what != "bad config":  # the YAML parser's own report may take a few lines
            assert err.count("\n") == 1, (what, err)

    monkeypatch.setenv(dl.DEBUG_ENV, "1")
    assert dl.main(["afhq", "--config", str(config_path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Traceback") and "InvalidFileError" in err
    assert err.strip().splitlines()[-1].startswith(f"mesynth download: afhq: {target.name}")
    assert server.state.requests == []


def test_python_m_mesynth_download_is_the_same_command(tmp_path: Path) -> None:
    config_path = write_config(tmp_path, "http://127.0.0.1:9")
    command = [sys.executable, "-m", "mesynth.download", "celeba", "--config", str(config_path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2  # the usage error dl.main gives, as the exit status
    assert "available: celeba-hq, afhq, wing" in result.stderr
