"""The shipped download config and where it is found."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mesynth import download as dl
from mesynth.config import CONF_ENV
from tests.download.helpers import REPO, add_entry, shipped_entry, write_config

STARGAN = {"celeba-hq", "afhq", "wing", "celeba-hq-dataset", "afhq-dataset", "afhq-v2-dataset"}


def test_shipped_config_names_the_official_release() -> None:
    config = dl.load_config()
    assert set(config.entries) == STARGAN | {"softnet"}
    assert config.default == ("celeba-hq", "wing")
    assert config.entries["celeba-hq"].requires == ("wing",)
    for entry in (config.entries[name] for name in STARGAN):
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


RAW = "https://raw.githubusercontent.com/genbing99/SoftNet-SpotME/main/SOFTNet_Weights/"


def test_shipped_softnet_entry_lists_every_released_fold_with_its_digest() -> None:
    entry = dl.load_config().entries["softnet"]
    assert entry.dir == "checkpoints" and entry.requires == ()
    folds: dict[str, list[int]] = {}
    for spec in entry.files:
        folder, _, name = spec.path.rpartition("/")
        folds.setdefault(folder, []).append(int(name.removeprefix("s").removesuffix(".hdf5")))
        assert spec.url == RAW + spec.path.removeprefix("softnet/"), spec.url
        assert spec.size == 1_288_792 and spec.check == "softnet", spec
        assert len(spec.sha256) == 64 and set(spec.sha256) <= set("0123456789abcdef"), spec
    assert {folder: sorted(numbers) for folder, numbers in folds.items()} == {
        "softnet/SAMMLV/micro-expression": list(range(1, 30)),
        "softnet/SAMMLV/macro-expression": list(range(1, 30)),
        "softnet/CASME_sq/micro-expression": list(range(1, 15)),
        "softnet/CASME_sq/macro-expression": list(range(1, 21)),
    }
    assert len({spec.sha256 for spec in entry.files}) == 92  # each file its own digest


def test_a_malformed_digest_is_a_config_error(tmp_path: Path, capsys) -> None:
    config_path = write_config(tmp_path, "http://127.0.0.1:9")
    body = shipped_entry("afhq")
    body["files"][0]["sha256"] = "abc123"
    add_entry(config_path, "afhq", body)

    with pytest.raises(dl.ConfigError, match=r"files\[0\]\.sha256 is 'abc123'; expected 64 hex"):
        dl.load_config(config_path)
    assert dl.main(["--list", "--config", str(config_path)]) == 2
    assert "entries.afhq.files[0].sha256" in capsys.readouterr().err
