"""`python train.py` end to end on tiny data: fast_dev_run, outputs, resume, high-pass path,
two-process CPU DDP and fine-tuning with a new domain."""

from __future__ import annotations

import csv
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mesynth.checkpoint import CheckpointError, load_nets
from mesynth.nets import LandmarkNetwork
from mesynth.training import run
from mesynth.training.module import StarGANModule
from mesynth.training.runner import build_module
from tests.training.conftest import compose_train, make_face_folder, tiny_overrides

REPO = Path(__file__).resolve().parents[2]


def read_metrics(output_dir: Path) -> list[dict[str, str]]:
    (path,) = output_dir.glob("csv/version_*/metrics.csv")
    with path.open() as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="session")
def trained_run(face_folder, tmp_path_factory):
    """Two iterations with a checkpoint after each (shared by the resume/fine-tune tests)."""
    output_dir = tmp_path_factory.mktemp("trained")
    cfg = compose_train(
        tiny_overrides(
            face_folder,
            output_dir,
            "schedule.total_iters=2",
            "schedule.save_every=1",
            "schedule.sample_every=2",
            "model.loss.ds_iter=4",
        )
    )
    return run(cfg)


def test_default_config_composes_with_wandb_and_reference_settings(tmp_path):
    cfg = compose_train([f"paths.output_dir={tmp_path}"])
    assert cfg.logger._target_ == "lightning.pytorch.loggers.WandbLogger" and cfg.logger.offline
    assert cfg.data.layout == "celeba_hq" and cfg.data.randcrop_prob == 0.5
    assert cfg.model.optim == {
        "lr": 1e-4,
        "mapping_lr": 1e-6,
        "betas": [0.0, 0.99],
        "weight_decay": 1e-4,
    }
    assert cfg.model.ema_beta == 0.999 and cfg.model.loss.ds_iter == 100000
    glasses = compose_train([f"paths.output_dir={tmp_path}", "experiment=finetune_glasses"])
    assert glasses.data.layout == "celeba"
    assert list(glasses.data.domains) == ["female", "male", "female_glasses", "male_glasses"]
    assert glasses.finetune.new_domains == {"female_glasses": "female", "male_glasses": "male"}
    assert glasses.finetune.checkpoint.endswith("celeba_hq/100000_nets_ema.ckpt")


def test_training_writes_checkpoints_samples_and_per_iteration_losses(trained_run):
    output_dir = trained_run.output_dir
    module = trained_run.module
    assert module.iteration == 2 and trained_run.trainer.global_step == 8
    checkpoints = output_dir / "checkpoints"
    for name in ("iter_000001.ckpt", "iter_000002.ckpt", "last.ckpt", "000002_nets_ema.ckpt"):
        assert (checkpoints / name).is_file(), name
    assert not list(checkpoints.glob("*.partial"))
    assert (output_dir / "samples" / "000002_latent.png").is_file()
    rows = read_metrics(output_dir)
    assert [int(row["step"]) for row in rows] == [1, 2]
    assert [float(row["G/lambda_ds"]) for row in rows] == [1.0, 0.75]
    for key in ("D/latent_real", "D/ref_reg", "G/latent_cyc", "G/ref_sty"):
        assert all(float(row[key]) >= 0 for row in rows)
    # The official-layout export and our Lightning checkpoint both give the EMA networks.
    for path in (checkpoints / "000002_nets_ema.ckpt", checkpoints / "last.ckpt"):
        nets = load_nets(path)
        for name in ("generator", "mapping_network", "style_encoder"):
            ours = module.nets_ema[name].state_dict()
            for key, value in nets[name].state_dict().items():
                assert torch.equal(value, ours[key]), (path.name, name, key)
    state = torch.load(checkpoints / "iter_000001.ckpt", weights_only=False)
    assert state["mesynth"]["iteration"] == 1
    assert state["mesynth"]["domains"] == ["glasses", "plain"]


def test_resume_continues_iteration_ema_and_lambda_ds(
    trained_run, face_folder, tmp_path, monkeypatch
):
    checkpoint = trained_run.output_dir / "checkpoints" / "iter_000001.ckpt"
    saved = torch.load(checkpoint, weights_only=False)
    seen = {}

    def record(module: StarGANModule) -> None:
        seen["iteration"] = module.iteration
        seen["ema"] = {k: v.clone() for k, v in module.nets_ema.state_dict().items()}

    monkeypatch.setattr(StarGANModule, "on_train_start", record)
    cfg = compose_train(
        tiny_overrides(
            face_folder,
            tmp_path,
            f"ckpt_path={checkpoint}",
            "schedule.total_iters=2",
            "model.loss.ds_iter=4",
        )
    )
    result = run(cfg)
    assert seen["iteration"] == 1
    for key, value in seen["ema"].items():
        assert torch.equal(value, saved["state_dict"][f"nets_ema.{key}"]), key
    assert result.module.iteration == 2
    assert result.trainer.global_step == 8  # 4 restored + 4 new optimiser steps
    rows = read_metrics(tmp_path)
    assert [(int(r["step"]), float(r["G/lambda_ds"])) for r in rows] == [(2, 0.75)]

    other_domains = make_face_folder(tmp_path / "other", domains=("a", "b"), per_domain=1)
    cfg = compose_train(tiny_overrides(other_domains, tmp_path / "x", f"ckpt_path={checkpoint}"))
    with pytest.raises(ValueError, match=r"trained on domains \['glasses', 'plain'\]"):
        run(cfg)


def test_fast_dev_run_through_hydra_compose_with_the_high_pass_path(face_folder, tmp_path):
    torch.manual_seed(5)
    landmarks = LandmarkNetwork()
    for parameter in landmarks.parameters():
        parameter.data.normal_(0, 0.05)
    wing = tmp_path / "wing.ckpt"
    torch.save({"state_dict": landmarks.state_dict()}, wing)
    overrides = ["trainer.fast_dev_run=true", "model.net.w_hpf=1.0", f"model.wing_path={wing}"]
    output_dir = tmp_path / "run"
    result = run(compose_train(tiny_overrides(face_folder, output_dir, *overrides)))
    assert result.module.iteration == 1
    assert result.trainer.global_step == 4
    assert result.module.domains == ["glasses", "plain"]
    # The landmark network comes from wing.ckpt, stays frozen and in eval mode.
    fan = result.module.fan
    assert not fan.training and not any(p.requires_grad for p in fan.parameters())
    for key, value in landmarks.state_dict().items():
        assert torch.equal(fan.state_dict()[key], value), key
    # Samples are written; fast_dev_run writes no checkpoints and no logs (as in Lightning).
    assert (output_dir / "samples" / "000001_reference.png").is_file()
    assert (output_dir / "samples" / "000001_latent.png").is_file()
    assert not (output_dir / "checkpoints").exists()
    assert not list(output_dir.glob("csv"))

    missing = [overrides[1], f"model.wing_path={tmp_path / 'none.ckpt'}"]
    cfg = compose_train(tiny_overrides(face_folder, tmp_path / "run2", *missing))
    with pytest.raises(CheckpointError, match="model.wing_path=.*none.ckpt is not a file"):
        run(cfg)


def test_two_process_cpu_ddp(face_folder, tmp_path):
    output_dir = tmp_path / "ddp"
    command = [
        sys.executable,
        str(REPO / "train.py"),
        *tiny_overrides(face_folder, output_dir),
        "trainer.devices=2",
        "trainer.strategy=ddp",
        "schedule.total_iters=1",
        f"hydra.run.dir={output_dir}",
    ]
    command.remove(f"paths.output_dir={output_dir}")  # follows hydra.run.dir
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    state = torch.load(output_dir / "checkpoints" / "last.ckpt", weights_only=False)
    assert state["mesynth"]["world_size"] == 2
    assert state["mesynth"]["iteration"] == 1
    assert state["global_step"] == 4


def finetune_overrides(data: Path, output_dir: Path, checkpoint: Path, *extra: str) -> list[str]:
    return tiny_overrides(data, output_dir, f"finetune.checkpoint={checkpoint}", *extra)


def test_finetune_adds_a_domain_freezes_the_encoder_and_trains(trained_run, tmp_path, caplog):
    data = make_face_folder(tmp_path / "faces3", domains=("glasses", "plain", "sunglasses"))
    start = trained_run.output_dir / "checkpoints" / "last.ckpt"
    saved = torch.load(start, weights_only=False)["state_dict"]
    overrides = finetune_overrides(
        data,
        tmp_path / "run",
        start,
        "+finetune.new_domains.sunglasses=glasses",
        "finetune.freeze=[generator.encode]",
        "schedule.total_iters=1",
    )
    cfg = compose_train(overrides)
    module = build_module(cfg, ["glasses", "plain", "sunglasses"])
    # The new domain's heads are copies of the glasses heads, the others continue as they were.
    for prefix in ("nets", "nets_ema"):
        for net in ("mapping_network", "style_encoder"):
            heads = getattr(module, prefix)[net].unshared
            for target, source in ((0, 0), (1, 1), (2, 0)):
                for key, value in heads[target].state_dict().items():
                    assert torch.equal(value, saved[f"{prefix}.{net}.unshared.{source}.{key}"])
    last = module.nets["discriminator"].main[-1]
    last_key = f"nets.discriminator.main.{len(module.nets['discriminator'].main) - 1}"
    assert torch.equal(last.weight, saved[f"{last_key}.weight"][[0, 1, 0]])
    assert torch.equal(last.bias, saved[f"{last_key}.bias"][[0, 1, 0]])
    assert not any(p.requires_grad for p in module.nets["generator"].encode.parameters())

    result = run(cfg)
    trained = result.module
    assert trained.iteration == 1 and trained.domains == ["glasses", "plain", "sunglasses"]
    for key, value in trained.nets["generator"].encode.state_dict().items():
        assert torch.equal(value, saved[f"nets.generator.encode.{key}"]), key
    decoder_start = saved["nets.generator.decode.0.conv1.weight"]
    assert not torch.equal(trained.nets["generator"].decode[0].conv1.weight, decoder_start)
    export = load_nets(result.output_dir / "checkpoints" / "000001_nets_ema.ckpt")
    assert export.config.num_domains == 3

    # Without saying where 'sunglasses' comes from, the run stops with a clear message.
    cfg = compose_train(finetune_overrides(data, tmp_path / "bad", start))
    with pytest.raises(CheckpointError, match=r"data domain\(s\) \['sunglasses'\] have no"):
        build_module(cfg, ["glasses", "plain", "sunglasses"])

    # An official-layout file (EMA only, unnamed domains) also works once the names are given.
    official = trained_run.output_dir / "checkpoints" / "000002_nets_ema.ckpt"
    cfg = compose_train(finetune_overrides(data, tmp_path / "official", official))
    with pytest.raises(CheckpointError, match="the checkpoint has 2 domains, the data has 3"):
        build_module(cfg, ["glasses", "plain", "sunglasses"])
    cfg = compose_train(
        finetune_overrides(
            data,
            tmp_path / "official",
            official,
            "finetune.checkpoint_domains=[glasses,plain]",
            "+finetune.new_domains.sunglasses=plain",
        )
    )
    with caplog.at_level(logging.WARNING):
        module = build_module(cfg, ["glasses", "plain", "sunglasses"])
    assert "discriminator starts from He initialisation" in caplog.text
    ema = trained_run.module.nets_ema["style_encoder"].unshared
    for key, value in module.nets["style_encoder"].unshared[2].state_dict().items():
        assert torch.equal(value, ema[1].state_dict()[key])
