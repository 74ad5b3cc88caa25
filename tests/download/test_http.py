"""Transfers against a real HTTP server: resume, retry, stalls, cut and unsized bodies."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from mesynth import download as dl
from mesynth.__main__ import main as mesynth_main
from tests.download.helpers import serve, write_config


def test_interrupted_download_resumes_with_range(server, payloads, tmp_path: Path) -> None:
    serve(server, payloads, "afhq.ckpt")
    server.state.cut_first.add("/afhq.ckpt")
    config = dl.load_config(write_config(tmp_path, server.base_url, retries=0))
    target = tmp_path / "checkpoints" / "afhq" / "100000_nets_ema.ckpt"
    half = len(payloads["afhq.ckpt"]) // 2

    with pytest.raises(dl.DownloadError, match="resumes it") as failure:
        dl.download("afhq", config=config, progress=False)
    assert f"connection closed at byte {half} of {len(payloads['afhq.ckpt'])}" in str(failure.value)
    assert dl.part_path(target).stat().st_size == half
    assert not target.exists()

    dl.download("afhq", config=config, progress=False)

    assert server.state.requests == [("/afhq.ckpt", None), ("/afhq.ckpt", f"bytes={half}-")]
    assert target.read_bytes() == payloads["afhq.ckpt"]
    assert not dl.part_path(target).exists()


def test_cut_connection_and_server_error_are_retried(server, payloads, tmp_path) -> None:
    serve(server, payloads, "afhq.ckpt", "wing.ckpt", "lm_mean.npz")
    server.state.cut_first.add("/afhq.ckpt")
    server.state.fail_first["/wing.ckpt"] = 503
    config = dl.load_config(write_config(tmp_path, server.base_url, retries=2))
    half = len(payloads["afhq.ckpt"]) // 2

    dl.download("afhq", config=config, progress=False)
    dl.download("wing", config=config, progress=False)

    assert server.state.requests[:2] == [("/afhq.ckpt", None), ("/afhq.ckpt", f"bytes={half}-")]
    assert server.state.requests[2:4] == [("/wing.ckpt", None), ("/wing.ckpt", None)]
    assert (tmp_path / "checkpoints/afhq/100000_nets_ema.ckpt").read_bytes() == payloads[
        "afhq.ckpt"
    ]
    assert (tmp_path / "checkpoints/wing.ckpt").read_bytes() == payloads["wing.ckpt"]


@pytest.mark.slow
def test_stalled_transfer_times_out_and_resumes(server, payloads, tmp_path: Path) -> None:
    serve(server, payloads, "afhq.ckpt")
    server.state.stall_first.add("/afhq.ckpt")
    config = dl.load_config(write_config(tmp_path, server.base_url, read_timeout_s=0.3))
    half = len(payloads["afhq.ckpt"]) // 2

    started = time.monotonic()
    dl.download("afhq", config=config, progress=False)

    assert time.monotonic() - started < 3.0  # gave up on the stall instead of waiting it out
    assert server.state.requests == [("/afhq.ckpt", None), ("/afhq.ckpt", f"bytes={half}-")]
    assert (tmp_path / "checkpoints/afhq/100000_nets_ema.ckpt").read_bytes() == payloads[
        "afhq.ckpt"
    ]


def test_complete_partial_file_is_finished_without_refetching(server, payloads, tmp_path):
    serve(server, payloads, "afhq.ckpt")
    config = dl.load_config(write_config(tmp_path, server.base_url))
    target = tmp_path / "checkpoints" / "afhq" / "100000_nets_ema.ckpt"
    target.parent.mkdir(parents=True)
    dl.part_path(target).write_bytes(payloads["afhq.ckpt"])  # interrupted just before the rename

    dl.download("afhq", config=config, progress=False)

    size = len(payloads["afhq.ckpt"])
    assert server.state.requests == [("/afhq.ckpt", f"bytes={size}-")]  # answered 416
    assert target.read_bytes() == payloads["afhq.ckpt"]


def test_server_ignoring_range_restarts_from_zero(server, payloads, tmp_path: Path) -> None:
    serve(server, payloads, "afhq.ckpt")
    server.state.ignore_range = True
    config = dl.load_config(write_config(tmp_path, server.base_url))
    target = tmp_path / "checkpoints" / "afhq" / "100000_nets_ema.ckpt"
    target.parent.mkdir(parents=True)
    dl.part_path(target).write_bytes(b"stale bytes from an older attempt")

    dl.download("afhq", config=config, progress=False)

    assert server.state.requests == [("/afhq.ckpt", "bytes=33-")]
    assert target.read_bytes() == payloads["afhq.ckpt"]  # replaced, not appended to


def test_unreachable_host_fails_fast_with_one_clear_line(tmp_path: Path, capsys) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    # Generous backoff: if unreachable hosts were retried, this test would take seconds.
    config_path = write_config(tmp_path, url, retries=3, backoff_s=5.0)
    config = dl.load_config(config_path)

    started = time.monotonic()
    with pytest.raises(dl.UnreachableError) as failure:
        dl.download("afhq", config=config, progress=False)
    assert time.monotonic() - started < 4.0  # one retry alone would wait 5 s

    message = str(failure.value)
    assert f"{url}/afhq.ckpt" in message and "connection refused" in message
    assert "--url" in message and "MESYNTH_OFFLINE=1" in message and "\n" not in message

    code = mesynth_main(["download", "afhq", "--config", str(config_path), "--no-progress"])
    assert code == 2
    assert capsys.readouterr().err.strip().count("\n") == 0

    # The other file of the same host is not tried again (no second wait), but still named.
    code = mesynth_main(["download", "wing", "--config", str(config_path), "--no-progress"])
    assert code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and "wing.ckpt" in lines[0] and "connection refused" in lines[0]
    assert lines[1] == (
        f"mesynth download: wing: celeba_lm_mean.npz: not tried: 127.0.0.1:{port} could not be "
        "reached (see above)"
    )


def test_web_page_instead_of_file_is_refused(server, payloads, tmp_path: Path) -> None:
    serve(server, payloads, "afhq.ckpt")
    server.state.content_types["/afhq.ckpt"] = "text/html; charset=utf-8"
    config = dl.load_config(write_config(tmp_path, server.base_url))

    with pytest.raises(dl.DownloadError, match="answered with a web page"):
        dl.download("afhq", config=config, progress=False)
    assert not list((tmp_path / "checkpoints").rglob("*.ckpt*"))


def test_cut_transfer_without_length_is_resumed(server, payloads, tmp_path) -> None:
    serve(server, payloads, "afhq.ckpt", "wing.ckpt", "lm_mean.npz")
    server.state.no_length |= {"/afhq.ckpt", "/wing.ckpt"}
    server.state.cut_first.add("/afhq.ckpt")
    config = dl.load_config(write_config(tmp_path, server.base_url, retries=0))
    half, size = len(payloads["afhq.ckpt"]) // 2, len(payloads["wing.ckpt"])

    # The body ends early with no size to compare against: the rest is asked for, not judged.
    dl.download("afhq", config=config, progress=False)
    assert server.state.requests == [("/afhq.ckpt", None), ("/afhq.ckpt", f"bytes={half}-")]
    assert (tmp_path / "checkpoints/afhq/100000_nets_ema.ckpt").read_bytes() == payloads[
        "afhq.ckpt"
    ]

    # Not cut: one request for what follows the end, answered 416, confirms it.
    dl.download("wing", config=config, progress=False)
    assert server.state.requests[2:4] == [("/wing.ckpt", None), ("/wing.ckpt", f"bytes={size}-")]
    assert (tmp_path / "checkpoints/wing.ckpt").read_bytes() == payloads["wing.ckpt"]


def test_cut_transfer_from_a_server_that_cannot_resume_says_so(server, payloads, tmp_path):
    serve(server, payloads, "afhq.ckpt")
    server.state.no_length.add("/afhq.ckpt")
    server.state.cut_first.add("/afhq.ckpt")
    server.state.ignore_range = True
    config = dl.load_config(write_config(tmp_path, server.base_url, retries=0))

    with pytest.raises(dl.InvalidFileError, match="no size and cannot resume, so the transfer"):
        dl.download("afhq", config=config, progress=False)
    assert [r for _, r in server.state.requests] == [
        None,
        f"bytes={len(payloads['afhq.ckpt']) // 2}-",
    ]
    dl.download("afhq", config=config, progress=False)  # the same command, a whole transfer
    target = tmp_path / "checkpoints/afhq/100000_nets_ema.ckpt"
    assert target.read_bytes() == payloads["afhq.ckpt"]
