"""`python train.py` end to end on tiny data: outputs, exact resume, the configs and their
overrides, fast_dev_run with the high-pass path and two-process CPU DDP."""

from __future__ import annotations

import csv
import logging
import os
import subprocess
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path

import hydra
import pytest
import torch

from mesynth.checkpoint import CheckpointError, export_official, load_nets
from mesynth.config import to_plain
from mesynth.nets import LandmarkNetwork
from mesynth.training import run
from mesynth.training.module import StarGANModule
from mesynth.training.runner import build_module
from tests.training.conftest import RUN_SETTINGS, compose_train, make_face_folder, tiny_overrides

REPO = Path(__file__).resolve().parents[2]


def read_metrics(output_dir: Path) -> list[dict[str, str]]:
    (path,) = output_dir.glob("csv/version_*/metrics.csv")
    with path.open() as handle:
        return list(csv.DictReader(handle))


def assert_identical(first, second, where: str = "") -> None:
    """Nested dicts/lists of tensors and plain values, equal bit for bit."""
    if isinstance(first, torch.Tensor):
        assert isinstance(second, torch.Tensor) and torch.equal(first, second), where
    elif isinstance(first, Mapping):
        assert isinstance(second, Mapping) and set(first) == set(second), where
        for key in first:
            assert_identical(first[key], second[key], f"{where}.{key}")
    elif isinstance(first, list | tuple):
        assert isinstance(second, list | tuple) and len(first) == len(second), where
        for index, (a, b) in enumerate(zip(first, second, strict=True)):
            assert_identical(a, b, f"{where}[{index}]")
    else:
        assert first == second, (where, first, second)


def test_default_config_composes_with_wandb_and_reference_settings(tmp_path):
    cfg = compose_train([f"paths.output_dir={tmp_path}"])
    assert cfg.logger._target_ == "mesynth.training.loggers.WandbLogger" and cfg.logger.offline
    assert cfg.data.num_workers == "auto" and cfg.data.pin_memory == "auto"
    assert cfg.finetune.domain_map is None and cfg.finetune.new_domains is None
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


def test_dict_overrides_as_documented_replace_the_mappings(tmp_path):
    """The README's dict overrides compose and replace the default mapping (no merge)."""
    out = f"paths.output_dir={tmp_path}"
    glasses = "data.domains={no_glasses: {Eyeglasses: -1}, glasses: {Eyeglasses: 1}}"
    cfg = compose_train([out, "data=celeba", glasses])
    expected = {"no_glasses": {"Eyeglasses": -1}, "glasses": {"Eyeglasses": 1}}
    assert to_plain(cfg.data.domains) == expected
    datamodule = hydra.utils.instantiate(cfg.data, img_size=64)
    assert datamodule.domains == ["no_glasses", "glasses"]
    assert to_plain(compose_train([out, "data=celeba"]).data.domains) == {
        "female": {"Male": -1},
        "male": {"Male": 1},
    }
    readme_finetune = [
        out,
        "finetune.checkpoint=checkpoints/celeba_hq/100000_nets_ema.ckpt",
        "finetune.checkpoint_domains=[female,male]",
        "finetune.new_domains={glasses: female}",
        "finetune.freeze=[generator.from_rgb,generator.encode]",
        "data=folder",
        "data.root=/faces",
    ]
    cfg = compose_train(readme_finetune)
    assert to_plain(cfg.finetune.new_domains) == {"glasses": "female"}
    assert list(cfg.finetune.freeze) == ["generator.from_rgb", "generator.encode"]
    cfg = compose_train([out, "finetune.domain_map={women: female, men: 1}"])
    assert to_plain(cfg.finetune.domain_map) == {"women": "female", "men": 1}
    # The same holds over an experiment that sets these mappings itself.
    cfg = compose_train(
        [
            out,
            "experiment=finetune_glasses",
            glasses,
            "finetune.new_domains={glasses: female}",
        ]
    )
    assert to_plain(cfg.data.domains) == expected
    assert to_plain(cfg.finetune.new_domains) == {"glasses": "female"}


def test_training_writes_checkpoints_samples_and_per_iteration_losses(trained_run):
    output_dir = trained_run.output_dir
    module = trained_run.module
    assert module.iteration == 4 and trained_run.trainer.global_step == 16
    checkpoints = output_dir / "checkpoints"
    for name in ("iter_000002.ckpt", "iter_000004.ckpt", "last.ckpt", "000004_nets_ema.ckpt"):
        assert (checkpoints / name).is_file(), name
    assert not list(checkpoints.glob("*.partial"))
    assert (output_dir / "samples" / "000004_latent.png").is_file()
    rows = read_metrics(output_dir)
    assert [int(row["step"]) for row in rows] == [1, 2, 3, 4]
    assert [float(row["G/lambda_ds"]) for row in rows] == [1.0, 0.75, 0.5, 0.25]
    for key in ("D/latent_real", "D/ref_reg", "G/latent_cyc", "G/ref_sty"):
        assert all(float(row[key]) >= 0 for row in rows)
    # The official-layout export and our Lightning checkpoint both give the EMA networks.
    for path in (checkpoints / "000004_nets_ema.ckpt", checkpoints / "last.ckpt"):
        nets = load_nets(path)
        for name in ("generator", "mapping_network", "style_encoder"):
            ours = module.nets_ema[name].state_dict()
            for key, value in nets[name].state_dict().items():
                assert torch.equal(value, ours[key]), (path.name, name, key)
    # Tensors and plain containers only: the restricted loader reads the whole checkpoint.
    state = torch.load(checkpoints / "iter_000002.ckpt", weights_only=True)
    assert state["mesynth"]["iteration"] == 2 and state["mesynth"]["seed"] == 777
    assert state["mesynth"]["domains"] == ["glasses", "plain"]
    assert state["hyper_parameters"]["net"]["img_size"] == 64
    assert type(state["hyper_parameters"]["net"]) is dict


def test_resume_after_two_iterations_equals_four_uninterrupted_ones_bit_for_bit(
    trained_run, face_folder, tmp_path, monkeypatch, caplog
):
    checkpoint = trained_run.output_dir / "checkpoints" / "iter_000002.ckpt"
    saved = torch.load(checkpoint, weights_only=True)
    seen = {}

    def record(module: StarGANModule) -> None:
        seen["iteration"] = module.iteration
        seen["ema"] = {k: v.clone() for k, v in module.nets_ema.state_dict().items()}

    monkeypatch.setattr(StarGANModule, "on_train_start", record)
    overrides = ["schedule.total_iters=4", *RUN_SETTINGS, f"ckpt_path={checkpoint}"]
    cfg = compose_train(tiny_overrides(face_folder, tmp_path, *overrides))
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.INFO):
        warnings.simplefilter("always")
        result = run(cfg)
    assert not [w for w in caught if "not resumable" in str(w.message)]
    assert "`weights_only` was not set" not in caplog.text  # said at every save before
    assert "resuming at iteration 2" in caplog.text
    assert seen["iteration"] == 2
    for key, value in seen["ema"].items():
        assert torch.equal(value, saved["state_dict"][f"nets_ema.{key}"]), key
    assert result.module.iteration == 4
    assert result.trainer.global_step == 16  # 8 restored + 8 new optimiser steps

    # Networks, EMA copies, optimiser states and counters equal those of the run that was
    # never interrupted, bit for bit; so do the losses logged on the way.
    resumed = torch.load(tmp_path / "checkpoints" / "iter_000004.ckpt", weights_only=True)
    uninterrupted = torch.load(
        trained_run.output_dir / "checkpoints" / "iter_000004.ckpt", weights_only=True
    )
    for key in ("state_dict", "optimizer_states", "mesynth", "global_step"):
        assert_identical(resumed[key], uninterrupted[key], key)
    assert read_metrics(tmp_path) == read_metrics(trained_run.output_dir)[2:]

    other_domains = make_face_folder(tmp_path / "other", domains=("a", "b"), per_domain=1)
    cfg = compose_train(tiny_overrides(other_domains, tmp_path / "x", f"ckpt_path={checkpoint}"))
    with pytest.raises(ValueError, match=r"trained on domains \['glasses', 'plain'\]"):
        run(cfg)


def test_a_bad_ckpt_path_is_a_clear_checkpoint_error(trained_run, face_folder, tmp_path):
    checkpoint = trained_run.output_dir / "checkpoints" / "iter_000002.ckpt"
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(checkpoint.read_bytes()[: checkpoint.stat().st_size // 3])
    official = export_official(trained_run.module.ema_view(), tmp_path / "x_nets_ema.ckpt")
    cases = {
        truncated: r"checkpoint .*truncated.ckpt could not be read .*truncated or not a PyTorch",
        official: r"x_nets_ema.ckpt is not a checkpoint of a mesynth training run.*finetune",
        tmp_path / "missing.ckpt": r"ckpt_path=.*missing.ckpt does not exist",
    }
    for path, message in cases.items():
        cfg = compose_train(tiny_overrides(face_folder, tmp_path / "run", f"ckpt_path={path}"))
        with pytest.raises(CheckpointError, match=message) as error:
            run(cfg)
        assert "weights_only" not in str(error.value)


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


@pytest.mark.slow
def test_two_process_cpu_ddp_ranks_draw_their_own_latents_and_batches(face_folder, tmp_path):
    """Each rank draws its own latent codes and pairs, and what it draws is fixed by the seed,
    its rank and the iteration (so a run is reproducible for a fixed seed and world size)."""
    output_dir = tmp_path / "ddp"
    overrides = ["trainer.strategy=ddp", "schedule.total_iters=2", "data.batch_size=2"]
    command = [sys.executable, "-m", "tests.training.ddp_record", str(face_folder)]
    command += [str(output_dir), *overrides]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    records = [torch.load(output_dir / f"record_rank{rank}.pt") for rank in (0, 1)]
    assert [record["world_size"] for record in records] == [2, 2]
    for record in records:
        assert len(record["latents"]) == len(record["batches"]) == 2
    for iteration in range(2):
        for code in (0, 1):
            rank0, rank1 = (record["latents"][iteration][code] for record in records)
            assert rank0.shape == (2, 8) and not torch.equal(rank0, rank1)
        first, second = (record["batches"][iteration] for record in records)
        assert not torch.equal(first["x_src"], second["x_src"])

    # Rebuilt in this process from (seed, rank, iteration) alone, the draws are the same.
    cfg = compose_train(tiny_overrides(face_folder, tmp_path / "again", *overrides))
    datamodule = hydra.utils.instantiate(cfg.data, img_size=64, seed=int(cfg.seed))
    module = build_module(cfg, datamodule.domains)
    for rank, record in enumerate(records):
        batches = iter(datamodule.loader(rank=rank))
        for iteration in range(2):
            module.iteration = iteration
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(StarGANModule, "global_rank", property(lambda self, r=rank: r))
                latents = module.draw_latents(2)
            assert_identical(tuple(latents), record["latents"][iteration], f"z {rank}")
            assert_identical(next(batches), record["batches"][iteration], f"batch {rank}")

    state = torch.load(output_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert state["mesynth"]["world_size"] == 2
    assert state["mesynth"]["iteration"] == 2
    assert state["global_step"] == 8
