"""Download configs pointing at the test server, and reading ``--list``."""

from __future__ import annotations

from pathlib import Path

import yaml

from mesynth.__main__ import main as mesynth_main

REPO = Path(__file__).resolve().parents[2]


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


def shipped_entry(name: str) -> dict:
    """The entry ``name`` of conf/download.yaml, as written there."""
    return yaml.safe_load((REPO / "conf" / "download.yaml").read_text())["entries"][name]


def add_entry(config_path: Path, name: str, body: dict) -> Path:
    config = yaml.safe_load(config_path.read_text())
    config["entries"][name] = body
    config_path.write_text(yaml.safe_dump(config))
    return config_path


def listing(config_path: Path, capsys) -> dict[str, str]:
    """``mesynth download --list``: file path -> its state, as printed."""
    assert mesynth_main(["download", "--list", "--config", str(config_path)]) == 0
    rows = {}
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("  "):
            path, _, rest = line.strip().partition("  [")
            rows[path] = rest.split("]  <- ")[0]
    return rows


# SOFTNet's layers as a Keras weights file holds them: kernel and bias shapes.
SOFTNET_SHAPES = {
    "conv2d": ((5, 5, 1, 3), (3,)),
    "conv2d_1": ((5, 5, 1, 5), (5,)),
    "conv2d_2": ((5, 5, 1, 8), (8,)),
    "dense": ((784, 400), (400,)),
    "dense_1": ((400, 1), (1,)),
}


def write_keras_weights(
    path: Path, seed: int, shapes: dict[str, tuple[tuple[int, ...], ...]] = SOFTNET_SHAPES
) -> Path:
    """A weights-only Keras HDF5 file laid out as SOFTNet's released ones, random weights."""
    import h5py
    import numpy as np

    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    layers = ["input_1", "input_2", "input_3", *shapes, "flatten"]
    with h5py.File(path, "w") as weights:
        weights.attrs["backend"] = b"tensorflow"
        weights.attrs["keras_version"] = b"2.2.4-tf"
        weights.attrs["layer_names"] = np.array([name.encode() for name in layers])
        for name in layers:
            group = weights.create_group(name)
            names = [f"{name}/{kind}:0".encode() for kind in ("kernel", "bias")]
            group.attrs["weight_names"] = np.array(names if name in shapes else [], dtype="S")
            for kind, shape in zip(("kernel", "bias"), shapes.get(name, ()), strict=False):
                data = rng.normal(0, 0.1, shape).astype(np.float32)
                group.create_dataset(f"{name}/{kind}:0", data=data)
    return path


def softnet_entry(base_url: str, files: dict[str, Path]) -> dict:
    """A ``softnet`` entry shaped like the shipped one, for ``files`` (path below the base ->
    a file whose size and digest it records)."""
    import hashlib

    return {
        "description": "SOFTNet released models (test copies)",
        "dir": "checkpoints",
        "folder": "softnet",
        "base_url": base_url,
        "defaults": {"check": "softnet"},
        "files": [
            {
                "path": path,
                "size": source.stat().st_size,
                "sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
            }
            for path, source in files.items()
        ],
    }
