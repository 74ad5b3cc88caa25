"""``mesynth download`` against a real HTTP server on 127.0.0.1 serving official-format files."""

from __future__ import annotations

import http.server
import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from mesynth import download as dl
from mesynth.__main__ import main as mesynth_main
from mesynth.checkpoint import EMA_NETS, save_official
from mesynth.config import CONF_ENV
from mesynth.nets import build_nets

NAMES = {"celeba-hq", "afhq", "wing", "celeba-hq-dataset", "afhq-dataset", "afhq-v2-dataset"}
REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------
# Files in the official formats, small


@pytest.fixture(scope="session")
def payloads(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("payloads")
    no_hpf = build_nets(img_size=64, max_conv_dim=64, w_hpf=0)
    save_official(no_hpf, folder / "afhq.ckpt", names=EMA_NETS)
    with_hpf = build_nets(img_size=64, max_conv_dim=64, w_hpf=1)
    # Like the released CelebA-HQ file: the landmark network lives in wing.ckpt, not here.
    save_official(with_hpf, folder / "celeba_hq.ckpt", names=EMA_NETS)
    torch.save({"state_dict": with_hpf.fan.state_dict()}, folder / "wing.ckpt")

    def npz(shape: tuple[int, int]) -> bytes:
        buffer = io.BytesIO()
        np.savez(buffer, mean=np.random.default_rng(0).uniform(0, 256, shape).astype(np.float32))
        return buffer.getvalue()

    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zf:
        for split in ("train", "val"):
            for domain in ("female", "male"):
                zf.writestr(f"celeba_hq/{split}/{domain}/000001.jpg", f"{split}-{domain}" * 50)
    zipped = archive.getvalue()
    afhq_archive = io.BytesIO()
    with zipfile.ZipFile(afhq_archive, "w", compression=zipfile.ZIP_STORED) as zf:
        for split in ("train", "val"):
            zf.writestr(f"afhq/{split}/cat/flickr_cat_000001.jpg", f"{split}-cat")
    # AFHQ v2's archive has no folder around train/ and test/.
    archive_v2 = io.BytesIO()
    with zipfile.ZipFile(archive_v2, "w", compression=zipfile.ZIP_STORED) as zf:
        for split in ("train", "test"):
            for domain in ("cat", "dog", "wild"):
                zf.writestr(f"{split}/{domain}/flickr_{domain}_000001.png", f"{split}-{domain}")
    # Flip one byte inside the first member's stored data: the archive still opens, but the
    # member fails its CRC check.
    marker = zipped.index(b"train-female")
    corrupt_zip = zipped[:marker] + b"X" + zipped[marker + 1 :]

    return {
        "afhq.ckpt": (folder / "afhq.ckpt").read_bytes(),
        "celeba_hq.ckpt": (folder / "celeba_hq.ckpt").read_bytes(),
        "wing.ckpt": (folder / "wing.ckpt").read_bytes(),
        "lm_mean.npz": npz((98, 2)),
        "lm_mean_68.npz": npz((68, 2)),
        "celeba_hq.zip": zipped,
        "corrupt.zip": corrupt_zip,
        "afhq_v2.zip": archive_v2.getvalue(),
        "afhq.zip": afhq_archive.getvalue(),
    }


# ---------------------------------------------------------------------------------------------
# A real HTTP server with Range support and ways to misbehave


@dataclass
class ServerState:
    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    cut_first: set[str] = field(default_factory=set)  # first response stops halfway
    stall_first: set[str] = field(default_factory=set)  # first response pauses halfway
    fail_first: dict[str, int] = field(default_factory=dict)  # first response is this status
    content_types: dict[str, str] = field(default_factory=dict)
    no_length: set[str] = field(default_factory=set)  # no Content-Length header
    slow: set[str] = field(default_factory=set)  # 1 KB every 0.1 s
    ignore_range: bool = False


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        state: ServerState = self.server.state  # type: ignore[attr-defined]
        range_header = self.headers.get("Range")
        state.requests.append((self.path, range_header))
        body = state.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        if self.path in state.fail_first:
            self.send_error(state.fail_first.pop(self.path))
            return
        start = 0
        if range_header and not state.ignore_range:
            start = int(range_header.removeprefix("bytes=").split("-")[0])
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        payload = body[start:]
        self.send_header(
            "Content-Type", state.content_types.get(self.path, "application/octet-stream")
        )
        if self.path not in state.no_length:
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.path in state.slow:
            for begin in range(0, len(payload), 1024):
                try:
                    self.wfile.write(payload[begin : begin + 1024])
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    return  # the client went away
                time.sleep(0.1)
            return
        if self.path in state.cut_first:
            state.cut_first.discard(self.path)
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)  # hang up mid-file
            self.close_connection = True
            return
        if self.path in state.stall_first:
            state.stall_first.discard(self.path)
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            time.sleep(4.0)  # far longer than the client's read timeout
            self.close_connection = True
            return
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # keep test output clean; requests are recorded in ServerState


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.state = ServerState()  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    httpd.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"  # type: ignore[attr-defined]
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (dl.OFFLINE_ENV, dl.CONFIG_ENV, CONF_ENV, dl.DEBUG_ENV, "MESYNTH_ROOT"):
        monkeypatch.delenv(name, raising=False)
    for name in (
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(name, raising=False)


def write_config(
    tmp_path: Path, base_url: str, default: tuple[str, ...] = ("afhq",), **changes: object
) -> Path:
    """A download config (merged over conf/download.yaml) whose URLs point at ``base_url``."""
    files = {
        "celeba-hq": [("celeba_hq/100000_nets_ema.ckpt", "celeba_hq.ckpt", "official")],
        "afhq": [("afhq/100000_nets_ema.ckpt", "afhq.ckpt", "official")],
        "wing": [
            ("wing.ckpt", "wing.ckpt", "wing"),
            ("celeba_lm_mean.npz", "lm_mean.npz", "lm_mean"),
        ],
        "celeba-hq-dataset": [("celeba_hq.zip", "celeba_hq.zip", "zip")],
        "afhq-dataset": [("afhq.zip", "afhq.zip", "zip")],
    }
    entries = {
        name: {
            "files": [
                {"path": path, "url": f"{base_url}/{served}", "size": None, "check": check}
                for path, served, check in specs
            ]
        }
        for name, specs in files.items()
    }
    entries["celeba-hq-dataset"]["files"][0]["extracts_to"] = "celeba_hq"
    entries["afhq-dataset"]["files"][0]["extracts_to"] = "afhq"
    for name in ("celeba-hq-dataset", "afhq-dataset"):
        entries[name]["files"][0]["contains"] = ["train", "val"]
    config = {
        "default": list(default),
        "offline": False,
        "dirs": {"checkpoints": str(tmp_path / "checkpoints"), "data": str(tmp_path / "data")},
        "network": {
            "connect_timeout_s": 2,
            "read_timeout_s": 5,
            "retries": 2,
            "backoff_s": 0.01,
            "max_backoff_s": 0.05,
            "chunk_bytes": 65536,
        },
        "entries": entries,
    }
    for key, value in changes.items():
        config["network"][key] = value
    path = tmp_path / "download.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def serve(server, payloads: dict[str, bytes], *names: str) -> None:
    for name in names:
        server.state.files[f"/{name}"] = payloads[name]


# ---------------------------------------------------------------------------------------------
# Tests


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


def test_dataset_is_extracted_and_a_corrupt_archive_rejected(server, payloads, tmp_path) -> None:
    serve(server, payloads, "celeba_hq.zip")
    config = dl.load_config(write_config(tmp_path, server.base_url))
    data = tmp_path / "data"

    assert dl.download("celeba-hq-dataset", config=config, progress=False) == [data / "celeba_hq"]
    image = data / "celeba_hq" / "val" / "male" / "000001.jpg"
    assert image.read_text() == "val-male" * 50
    # archive and staging gone; the cache remembers the archive's size
    assert sorted(p.name for p in data.iterdir()) == [dl.CACHE_NAME, "celeba_hq"]

    server.state.files["/celeba_hq.zip"] = payloads["corrupt.zip"]
    with pytest.raises(dl.InvalidFileError, match="celeba_hq/train/female/000001.jpg"):
        dl.download("celeba-hq-dataset", config=config, force=True, progress=False)
    # The earlier good copy stays; nothing half-extracted or half-downloaded is left.
    assert image.read_text() == "val-male" * 50
    assert sorted(p.name for p in data.iterdir()) == [dl.CACHE_NAME, "celeba_hq"]


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


def test_ambiguous_url_and_unknown_name_are_usage_errors(tmp_path: Path, capsys) -> None:
    config_path = str(write_config(tmp_path, "http://127.0.0.1:9"))
    assert dl.main(["wing", "--config", config_path, "--url", "http://127.0.0.1:9/w"]) == 2
    assert "wing.ckpt=URL" in capsys.readouterr().err
    assert dl.main(["celeba", "--config", config_path]) == 2
    assert "available: celeba-hq, afhq, wing" in capsys.readouterr().err


def test_web_page_instead_of_file_is_refused(server, payloads, tmp_path: Path) -> None:
    serve(server, payloads, "afhq.ckpt")
    server.state.content_types["/afhq.ckpt"] = "text/html; charset=utf-8"
    config = dl.load_config(write_config(tmp_path, server.base_url))

    with pytest.raises(dl.DownloadError, match="answered with a web page"):
        dl.download("afhq", config=config, progress=False)
    assert not list((tmp_path / "checkpoints").rglob("*.ckpt*"))


def test_shipped_config_names_the_official_release() -> None:
    config = dl.load_config()
    assert set(config.entries) == NAMES
    assert config.default == ("celeba-hq", "wing")
    assert config.entries["celeba-hq"].requires == ("wing",)
    for entry in config.entries.values():
        for spec in entry.files:
            assert spec.url.startswith("https://www.dropbox.com/s/"), spec.url
    wing_files = {spec.path: spec.check for spec in config.entries["wing"].files}
    assert wing_files == {"wing.ckpt": "wing", "celeba_lm_mean.npz": "lm_mean"}
    assert config.dirs == {"checkpoints": Path("./checkpoints"), "data": Path("./data")}
    assert not config.offline
    (v2,) = config.entries["afhq-v2-dataset"].files
    assert v2.url == "https://www.dropbox.com/s/vkzjokiwof5h8w6/afhq_v2.zip?dl=1"
    assert config.entries["afhq-v2-dataset"].dir == "data"
    for name in ("celeba-hq-dataset", "afhq-dataset", "afhq-v2-dataset"):
        assert config.entries[name].files[0].contains, name  # never mistaken for another folder


# ---------------------------------------------------------------------------------------------
# Hardening: folders, listing, cut transfers, offline lines, Ctrl-C, errors, start-up


def shipped_entry(name: str) -> dict:
    """The entry ``name`` of conf/download.yaml, as written there."""
    return yaml.safe_load((REPO / "conf" / "download.yaml").read_text())["entries"][name]


def add_entry(config_path: Path, name: str, body: dict) -> Path:
    config = yaml.safe_load(config_path.read_text())
    config["entries"][name] = body
    config_path.write_text(yaml.safe_dump(config))
    return config_path


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


def test_afhq_v2_archive_without_top_folder_is_extracted(server, payloads, tmp_path) -> None:
    body = shipped_entry("afhq-v2-dataset")
    body["files"][0]["url"] = f"{server.base_url}/afhq_v2.zip"  # only the source changes
    config_path = add_entry(write_config(tmp_path, server.base_url), "afhq-v2-dataset", body)
    serve(server, payloads, "afhq_v2.zip")
    data = tmp_path / "data"

    assert dl.main(["afhq-v2-dataset", "--config", str(config_path), "--no-progress"]) == 0

    root = data / "afhq_v2"
    assert (root / "test" / "wild" / "flickr_wild_000001.png").read_text() == "test-wild"
    assert sorted(p.name for p in root.iterdir()) == ["test", "train"]
    assert sorted(p.name for p in (root / "train").iterdir()) == ["cat", "dog", "wild"]
    assert sorted(p.name for p in data.iterdir()) == [dl.CACHE_NAME, "afhq_v2"]

    # An archive without the promised folders is refused and leaves nothing behind.
    server.state.files["/afhq_v2.zip"] = payloads["celeba_hq.zip"]
    with pytest.raises(dl.InvalidFileError, match=r"top level has no train/ and test/"):
        dl.download("afhq-v2-dataset", config=dl.load_config(config_path), force=True)
    assert sorted(p.name for p in data.iterdir()) == [dl.CACHE_NAME, "afhq_v2"]


def listing(config_path: Path, capsys) -> dict[str, str]:
    """``mesynth download --list``: file path -> its state, as printed."""
    assert mesynth_main(["download", "--list", "--config", str(config_path)]) == 0
    rows = {}
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("  "):
            path, _, rest = line.strip().partition("  [")
            rows[path] = rest.split("]  <- ")[0]
    return rows


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

    monkeypatch.setattr(dl, "validate", counting_validate)
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


def test_config_is_found_through_the_shared_conf_dir(tmp_path, monkeypatch, capsys) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "train.yaml").write_text((REPO / "conf" / "train.yaml").read_text())
    shipped = yaml.safe_load((REPO / "conf" / "download.yaml").read_text())
    shipped["default"] = ["afhq"]
    (conf / "download.yaml").write_text(yaml.safe_dump(shipped))
    monkeypatch.setenv(CONF_ENV, str(conf))
    assert dl.load_config().default == ("afhq",)

    monkeypatch.setenv(CONF_ENV, str(tmp_path / "elsewhere"))
    assert dl.main(["--list"]) == 2
    err = capsys.readouterr().err
    assert "elsewhere" in err and CONF_ENV in err and "Traceback" not in err
