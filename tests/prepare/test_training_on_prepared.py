"""Training runs on what prepare-data makes: `train.py experiment=smoke data=folder` on its
output, the glasses fine-tune on CelebA prepared with `--attribute Male,Eyeglasses`, and
`python train.py` with no arguments (the pipeline test) when no dataset is there."""

from __future__ import annotations

import logging

import pytest
import torch

from mesynth import cli
from mesynth.checkpoint import export_official, load_nets
from mesynth.media import read_image
from mesynth.prepare.example import make_pipeline_photos
from mesynth.prepare.run import PrepareSettings, prepare
from mesynth.training import run
from mesynth.training.runner import build_module
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


# The tiny networks on the CPU for one iteration (the experiment asks for 256 px networks with
# the high-pass path and 20,000 iterations), logging to CSV.
TINY_FINETUNE = (
    "model=tiny",
    "model.net.img_size=64",
    "model.net.max_conv_dim=32",
    "model.net.w_hpf=0",
    "trainer=cpu",
    "logger=csv",
    "data.batch_size=1",
    "data.num_workers=0",
    "data.min_size=32",
    "samples.num_sources=2",
    "samples.num_latents=1",
    *ONE_ITERATION,
)


@pytest.mark.slow
def test_finetune_glasses_trains_on_a_prepared_celeba_given_only_the_data_location(
    glasses_prepared, tmp_path
):
    out = glasses_prepared
    # A stand-in for the official CelebA-HQ file: EMA networks of two unnamed domains.
    official_cfg = compose_train([*TINY_FINETUNE, f"paths.output_dir={tmp_path / 'official'}"])
    official = export_official(
        build_module(official_cfg, ["female", "male"]).ema_view(), tmp_path / "nets_ema.ckpt"
    )
    heads = {
        net: [head.state_dict() for head in load_nets(official)[net].unshared]
        for net in ("mapping_network", "style_encoder")
    }
    the_readme_command = [
        "experiment=finetune_glasses",
        "data=folder",
        f"data.root={out / 'train'}",
        f"data.val_root={out / 'val'}",
    ]
    cfg = compose_train(
        [*the_readme_command, *TINY_FINETUNE, f"finetune.checkpoint={official}"]
        + [f"paths.output_dir={tmp_path / 'run'}"]
    )
    domains = ["female", "male", "female_glasses", "male_glasses"]
    start = build_module(cfg, domains)
    for net, official_heads in heads.items():
        for target, source in enumerate((0, 1, 0, 1)):
            for key, value in start.nets[net].unshared[target].state_dict().items():
                assert torch.equal(value, official_heads[source][key]), (net, target, key)
    # The female and male heads of the official file differ, so the copies above are the right ones.
    female, male = heads["style_encoder"]
    assert not all(torch.equal(female[key], male[key]) for key in female)

    result = run(cfg)
    assert result.module.iteration == 1 and result.datamodule.domains == domains
    state = torch.load(tmp_path / "run/checkpoints/last.ckpt", weights_only=True)
    assert state["mesynth"]["domains"] == domains
    export = load_nets(tmp_path / "run/checkpoints/000001_nets_ema.ckpt")
    assert export.config.num_domains == 4
    # One iteration moves the EMA heads by at most 0.1% of a step: each glasses head is still
    # far closer to the official head it started from than to the other one.
    for target, source in ((2, 0), (3, 1)):
        trained = export["style_encoder"].unshared[target].state_dict()
        near = sum(
            float((trained[k] - heads["style_encoder"][source][k]).abs().sum()) for k in trained
        )
        far = sum(
            float((trained[k] - heads["style_encoder"][1 - source][k]).abs().sum()) for k in trained
        )
        assert near < 0.01 * far, (target, near, far)


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
