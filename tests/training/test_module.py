"""The LightningModule: He initialisation, the per-iteration update schedule, mixed precision
and the latent codes' random streams."""

from __future__ import annotations

import math

import lightning as L
import pytest
import torch
from lightning.pytorch.plugins import MixedPrecision
from torch import nn

from mesynth.training.data import FaceDomainDataModule
from mesynth.training.module import StarGANModule, he_init

NET = {"img_size": 64, "style_dim": 64, "latent_dim": 16, "max_conv_dim": 64, "w_hpf": 0.0}
OPTIM = {"lr": 1e-4, "mapping_lr": 1e-6, "betas": [0.0, 0.99], "weight_decay": 1e-4}
LOSS = {"lambda_reg": 1.0, "lambda_sty": 1.0, "lambda_ds": 1.0, "ds_iter": 4, "lambda_cyc": 1.0}


def fit_on_folder(
    module, face_folder, tmp_path, precision="32-true", accelerator="cpu"
) -> L.Trainer:
    """Train ``module`` on the tiny two-domain folder until it stops (its total_iters)."""
    data = FaceDomainDataModule(
        layout="folder",
        root=str(face_folder),
        img_size=64,
        batch_size=1,
        num_workers=0,
        min_size=32,
    )
    trainer = L.Trainer(
        accelerator=accelerator,
        devices=1,
        precision=precision,
        max_epochs=-1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(module, datamodule=data)
    return trainer


def test_he_init_uses_fan_in_relu_gain_and_zero_bias():
    torch.manual_seed(0)
    conv, linear = nn.Conv2d(64, 128, 3), nn.Linear(512, 2048)
    for layer in (conv, linear):
        nn.init.constant_(layer.bias, 1.0)
        he_init(layer)
        assert torch.equal(layer.bias, torch.zeros_like(layer.bias))
    assert conv.weight.std().item() == pytest.approx((2 / (64 * 9)) ** 0.5, rel=0.03)
    assert linear.weight.std().item() == pytest.approx((2 / 512) ** 0.5, rel=0.03)


def test_module_rejects_a_domain_count_that_contradicts_the_data():
    with pytest.raises(ValueError, match="num_domains=3 but the data has 2 domains"):
        StarGANModule({**NET, "num_domains": 3}, ["a", "b"], OPTIM, LOSS)


def test_one_iteration_follows_the_reference_update_schedule(face_folder, tmp_path):
    """D twice (lr 1e-4), G + M + S with latent codes, then G alone with references; EMA 0.999.

    Adam's first step moves every weight by at most lr, so the largest change tells how many
    steps a network took and with which learning rate."""
    torch.manual_seed(0)
    module = StarGANModule(NET, ["glasses", "plain"], OPTIM, LOSS, ema_beta=0.999, total_iters=1)
    start = {
        name: {k: v.clone() for k, v in module.nets[name].state_dict().items()}
        for name in ("generator", "mapping_network", "style_encoder", "discriminator")
    }
    for name in ("generator", "mapping_network", "style_encoder"):
        for key, value in module.nets_ema[name].state_dict().items():
            assert torch.equal(value, start[name][key])  # EMA starts as a copy
    trainer = fit_on_folder(module, face_folder, tmp_path)
    assert module.iteration == 1
    assert trainer.global_step == 4  # Lightning counts the four optimiser steps

    def largest_change(name: str) -> float:
        current = module.nets[name].state_dict()
        return max((current[k] - start[name][k]).abs().max().item() for k in start[name])

    lr = OPTIM["lr"]
    # (5% slack: float32 rounding of the weights themselves.)
    assert 0.5e-6 < largest_change("mapping_network") <= 1.05e-6  # one step, lr 1e-6
    assert 0.5 * lr < largest_change("style_encoder") <= 1.05 * lr  # one step (latent only)
    assert largest_change("generator") > 1.2 * lr  # two steps
    assert largest_change("discriminator") > 1.2 * lr  # two steps
    for name in ("generator", "mapping_network", "style_encoder"):
        current = dict(module.nets[name].named_parameters())
        for key, average in module.nets_ema[name].named_parameters():
            expected = torch.lerp(current[key].detach(), start[name][key], 0.999)
            assert torch.allclose(average, expected, atol=1e-9), key
    assert module.last_losses["G/lambda_ds"] == 1.0
    assert module.lambda_ds == pytest.approx(0.75)  # next iteration: 1 - 1/ds_iter


def native_bf16_device() -> str | None:
    """Where bf16 autocast runs at hardware speed: a GPU, or a CPU with AVX512-BF16 or AMX.
    Elsewhere it is emulated, about 100x slower than fp32 (one tiny iteration: ~10 minutes on
    a 2-core AVX2 machine), too slow for the test suite."""
    if torch.cuda.is_available():
        return "gpu"
    if torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported():
        return "cpu"
    return None


@pytest.mark.skipif(
    native_bf16_device() is None, reason="bf16 is emulated on this CPU (~100x slower than fp32)"
)
def test_bf16_mixed_precision_iteration_keeps_fp32_weights(face_folder, tmp_path):
    torch.manual_seed(0)
    module = StarGANModule(NET, ["glasses", "plain"], OPTIM, LOSS, total_iters=1)
    fit_on_folder(
        module, face_folder, tmp_path, precision="bf16-mixed", accelerator=native_bf16_device()
    )
    assert module.iteration == 1
    assert all(math.isfinite(value) for value in module.last_losses.values())
    assert module.last_losses["D/latent_reg"] > 0
    dtypes = {p.dtype for p in module.parameters()}
    assert dtypes == {torch.float32}  # weights and EMA copies stay fp32 under autocast


def test_fp16_mixed_precision_passes_the_loss_scale_to_r1(tmp_path):
    module = StarGANModule(NET, ["a", "b"], OPTIM, LOSS)
    fp16 = L.Trainer(
        accelerator="cpu",
        plugins=[MixedPrecision("16-mixed", "cpu")],
        logger=False,
        default_root_dir=tmp_path,
    )
    module.trainer = fp16
    assert module._grad_scale() == fp16.precision_plugin.scaler.get_scale() == 2.0**16
    module.trainer = L.Trainer(accelerator="cpu", logger=False, default_root_dir=tmp_path)
    assert module._grad_scale() is None


def test_image_size_error_names_the_config_key():
    with pytest.raises(ValueError, match=r"model.net.img_size=100 .*one of \[64, 128, 256, 512\]"):
        StarGANModule({**NET, "img_size": 100}, ["a", "b"], OPTIM, LOSS)


def test_latent_codes_depend_on_seed_rank_and_iteration_only(monkeypatch):
    module = StarGANModule(NET, ["a", "b"], OPTIM, LOSS, seed=3)
    z, z2 = module.draw_latents(4)
    assert z.shape == z2.shape == (4, NET["latent_dim"]) and not torch.equal(z, z2)
    assert abs(z.mean().item()) < 1 and 0.5 < z.std().item() < 1.5  # standard normal
    torch.manual_seed(123)  # the global RNG plays no part
    again = StarGANModule(NET, ["a", "b"], OPTIM, LOSS, seed=3).draw_latents(4)
    assert torch.equal(again[0], z) and torch.equal(again[1], z2)
    module.iteration = 1
    assert not torch.equal(module.draw_latents(4)[0], z)
    module.iteration = 0
    monkeypatch.setattr(StarGANModule, "global_rank", property(lambda self: 1))
    assert not torch.equal(module.draw_latents(4)[0], z)
    other_seed = StarGANModule(NET, ["a", "b"], OPTIM, LOSS, seed=4)
    monkeypatch.undo()
    assert not torch.equal(other_seed.draw_latents(4)[0], z)
