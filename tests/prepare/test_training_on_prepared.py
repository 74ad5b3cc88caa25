"""Training runs on what prepare-data makes: `train.py experiment=smoke data=folder` on its
output, and `python train.py` with no arguments (the pipeline test) when no dataset is there."""

from __future__ import annotations

import logging

import pytest
import torch

from mesynth import cli
from mesynth.media import read_image
from mesynth.prepare.example import make_pipeline_photos
from mesynth.prepare.run import PrepareSettings, prepare
from mesynth.training import run
from tests.training.conftest import compose_train, tiny_overrides

ONE_ITERATION = ("schedule.total_iters=1", "schedule.save_every=1", "schedule.sample_every=1")


@pytest.mark.slow
def test_smoke_training_on_a_prepared_folder(tmp_path):
    photos = make_pipeline_photos(tmp_path / "photos", per_domain=3)
    out = tmp_path / "prepared"
    prepare(PrepareSettings(source=photos, out=out, size=64, val=0.25, progress=False))
    overrides = tiny_overrides(out / "train", tmp_path / "run", f"data.val_root={out / 'val'}")
    result = run(compose_train([*overrides, "data=folder", *ONE_ITERATION]))
    assert result.datamodule.domains == ["glasses", "no_glasses"]
    assert result.datamodule.val_images().counts() == [1, 1]
    state = torch.load(tmp_path / "run/checkpoints/last.ckpt", weights_only=True)
    assert state["mesynth"]["domains"] == ["glasses", "no_glasses"]
    assert "run_label" not in state["mesynth"]


def test_train_py_without_arguments_runs_the_pipeline_test_only_without_a_dataset(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("MESYNTH_ROOT", str(tmp_path))
    assert cli.pipeline_test_needed([])
    assert not cli.pipeline_test_needed(["data=folder"])
    (tmp_path / "data/celeba_hq/train/female").mkdir(parents=True)
    assert not cli.pipeline_test_needed([])
    cfg = compose_train([cli.PIPELINE_TEST, f"paths.output_dir={tmp_path}"])
    assert cfg.model.net.img_size == 64 and cfg.trainer.accelerator == "cpu"
    assert cfg.logger.offline and cfg.data.layout == "celeba_hq"
    assert cfg.data.root == f"{tmp_path}/data/pipeline_test"
    assert cfg.run_label.startswith("PIPELINE TEST")


@pytest.mark.slow
def test_the_pipeline_test_prepares_its_data_and_labels_its_outputs(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("MESYNTH_ROOT", str(tmp_path))
    output = tmp_path / "outputs/run"
    cfg = compose_train(
        [cli.PIPELINE_TEST, f"paths.output_dir={output}", "pipeline_test.photos_per_domain=3"]
        + ["samples.num_sources=2", "samples.num_latents=1", *ONE_ITERATION]
    )
    with caplog.at_level(logging.INFO):
        cli.train_or_pipeline_test(cfg)
    data = tmp_path / "data/pipeline_test"
    assert sorted(p.name for p in (data / "train").iterdir()) == ["glasses", "no_glasses"]
    assert (data / "report.md").is_file() and list((data / "val/glasses").glob("*.png"))
    state = torch.load(output / "checkpoints/last.ckpt", weights_only=True)
    assert state["mesynth"]["run_label"] == cfg.run_label
    grid = read_image(output / "samples/000001_latent.png")
    # Sources, then one row per domain and latent code, under the caption band.
    assert grid.shape[:2] == (14 + 3 * 64, 2 * 64)
    assert grid[:14].min() < 100 and grid[:14].mean() > 200  # red text on white
    assert list((output / "wandb").glob("offline-run-*"))
    import wandb

    assert wandb.run is None  # finished: the next run in this process gets a run of its own
    assert caplog.text.count("PIPELINE TEST") >= 3
    assert cli.REAL_DATA_HINT in caplog.text and "mesynth prepare-data PHOTOS" in caplog.text
