"""The shipped download config and where it is found."""

from __future__ import annotations

from pathlib import Path

import yaml

from mesynth import download as dl
from mesynth.config import CONF_ENV
from tests.download.helpers import REPO

NAMES = {"celeba-hq", "afhq", "wing", "celeba-hq-dataset", "afhq-dataset", "afhq-v2-dataset"}


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
