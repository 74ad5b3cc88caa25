"""Dataset archives: extracted into place, or refused leaving nothing behind."""

from __future__ import annotations

import pytest

from mesynth import download as dl
from tests.download.helpers import add_entry, serve, shipped_entry, write_config


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
