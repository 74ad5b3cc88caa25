"""Small files in the official formats, the test server, and an environment without
proxies or offline switches."""

from __future__ import annotations

import http.server
import io
import threading
import zipfile

import numpy as np
import pytest
import torch

from mesynth import download as dl
from mesynth.checkpoint import EMA_NETS, save_official
from mesynth.config import CONF_ENV
from mesynth.nets import build_nets
from tests.download.server import Handler, ServerState


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
