"""The StarGAN v2 objectives against hand-checked values, an independent recomputation, and
(when MESYNTH_REFERENCE_DIR points to a checkout of clovaai/stargan-v2) the reference code."""

from __future__ import annotations

import importlib
import os
import sys
import types
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from munch import Munch
from torch import nn

from mesynth.nets import build_nets
from mesynth.training.losses import (
    adversarial_loss,
    discriminator_loss,
    generator_loss,
    r1_penalty,
)
from mesynth.training.module import he_init

REFERENCE_ENV = "MESYNTH_REFERENCE_DIR"


def tiny_nets(w_hpf: float, seed: int = 0) -> Munch:
    torch.manual_seed(seed)
    nets = build_nets(img_size=64, max_conv_dim=64, num_domains=2, w_hpf=w_hpf)
    for name in ("generator", "mapping_network", "style_encoder", "discriminator"):
        nets[name].apply(he_init)
    return nets


def tiny_inputs(seed: int = 1, batch: int = 2) -> Munch:
    generator = torch.Generator().manual_seed(seed)

    def image():
        return torch.rand(batch, 3, 64, 64, generator=generator) * 2 - 1

    return Munch(
        x_real=image(),
        x_ref=image(),
        x_ref2=image(),
        y_org=torch.tensor([0, 1])[:batch],
        y_trg=torch.tensor([1, 0])[:batch],
        z_trg=torch.randn(batch, 16, generator=generator),
        z_trg2=torch.randn(batch, 16, generator=generator),
    )


def test_adversarial_loss_is_softplus_by_hand():
    logits = torch.tensor([0.5, -1.0, 2.0])
    # BCE with target 1 is log(1 + e^-l); with target 0 it is log(1 + e^l).
    real = (
        torch.log1p(torch.exp(torch.tensor(-0.5)))
        + torch.log1p(torch.exp(torch.tensor(1.0)))
        + torch.log1p(torch.exp(torch.tensor(-2.0)))
    ) / 3
    fake = (
        torch.log1p(torch.exp(torch.tensor(0.5)))
        + torch.log1p(torch.exp(torch.tensor(-1.0)))
        + torch.log1p(torch.exp(torch.tensor(2.0)))
    ) / 3
    assert adversarial_loss(logits, 1).item() == pytest.approx(real.item(), rel=1e-6)
    assert adversarial_loss(logits, 0).item() == pytest.approx(fake.item(), rel=1e-6)
    with pytest.raises(ValueError, match="0 or 1"):
        adversarial_loss(logits, 0.5)


def test_r1_penalty_of_a_quadratic_critic_by_hand():
    # D(x) = sum(w * x^2) per sample -> dD/dx = 2 w x, so R1 = 0.5 * mean_n sum (2 w x)^2.
    x = torch.tensor([[1.0, -2.0], [0.5, 3.0]], requires_grad=True)
    w = torch.tensor([0.3, -1.5])
    logits = (w * x**2).sum(1)
    expected = 0.5 * ((2 * 0.3 * 1.0) ** 2 + (2 * 1.5 * 2.0) ** 2)
    expected = (expected + 0.5 * ((2 * 0.3 * 0.5) ** 2 + (2 * 1.5 * 3.0) ** 2)) / 2
    assert r1_penalty(logits, x).item() == pytest.approx(expected, rel=1e-6)
    # With a loss scale the penalty is the same (the gradient is unscaled before squaring).
    logits = (w * x**2).sum(1)
    assert r1_penalty(logits, x, grad_scale=1024.0).item() == pytest.approx(expected, rel=1e-6)


def test_r1_penalty_under_fp16_autocast_with_scaling_avoids_underflow():
    # dD/dx = 2^-20 * 2^-10 = 2^-30 underflows to 0 in fp16; taken of the logits scaled by
    # 2^12 it is 2^-18 (exactly representable) and is unscaled in fp32 afterwards.
    x = torch.full((1, 1, 4, 4), 1.0, requires_grad=True)
    conv = nn.Conv2d(1, 1, 4, bias=False)
    nn.init.constant_(conv.weight, 2.0**-10)
    expected = 0.5 * 16 * (2.0**-30) ** 2
    with torch.autocast("cpu", dtype=torch.float16):
        unscaled = r1_penalty(conv(x).flatten() * 2.0**-20, x)
        scaled = r1_penalty(conv(x).flatten() * 2.0**-20, x, grad_scale=2.0**12)
    assert unscaled.item() == 0.0
    assert scaled.item() == pytest.approx(expected, rel=1e-3)


def recompute_d_loss(nets, x_real, y_org, y_trg, style, masks, lambda_reg):
    """The discriminator objective written out step by step."""
    x = x_real.clone().requires_grad_(True)
    real_logits = nets.discriminator(x, y_org)
    loss_real = F.softplus(-real_logits).mean()
    (grad,) = torch.autograd.grad(real_logits.sum(), x, create_graph=True)
    reg = torch.stack([0.5 * (g**2).sum() for g in grad]).mean()
    with torch.no_grad():
        fake = nets.generator(x_real, style, masks=masks)
    loss_fake = F.softplus(nets.discriminator(fake, y_trg)).mean()
    return loss_real + loss_fake + lambda_reg * reg, (loss_real, loss_fake, reg)


@pytest.mark.parametrize("w_hpf", [0.0, 1.0])
def test_discriminator_loss_matches_recomputation(w_hpf):
    nets, inputs = tiny_nets(w_hpf), tiny_inputs(batch=1 if w_hpf else 2)
    batch = inputs.x_real.size(0)
    y_org, y_trg = inputs.y_org, inputs.y_trg
    masks = nets.fan.get_heatmap(inputs.x_real) if w_hpf else None
    for guide in ("latent", "ref"):
        if guide == "latent":
            loss, parts = discriminator_loss(
                nets, inputs.x_real, y_org, y_trg, z_trg=inputs.z_trg, masks=masks, lambda_reg=0.7
            )
            style = nets.mapping_network(inputs.z_trg, y_trg)
        else:
            loss, parts = discriminator_loss(
                nets, inputs.x_real, y_org, y_trg, x_ref=inputs.x_ref, masks=masks, lambda_reg=0.7
            )
            style = nets.style_encoder(inputs.x_ref, y_trg)
        expected, (real, fake, reg) = recompute_d_loss(
            nets, inputs.x_real, y_org, y_trg, style.detach(), masks, 0.7
        )
        assert set(parts) == {"real", "fake", "reg"}
        assert all(isinstance(value, float) for value in parts.values())
        assert parts["real"] == pytest.approx(real.item(), rel=1e-5)
        assert parts["fake"] == pytest.approx(fake.item(), rel=1e-5)
        assert parts["reg"] == pytest.approx(reg.item(), rel=1e-4)
        assert parts["reg"] > 0
        assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
        # Gradients reach the discriminator only (the fake is made without gradient).
        loss.backward()
        assert nets.discriminator.main[0].weight.grad.abs().sum() > 0
        assert nets.generator.from_rgb.weight.grad is None
        nets.discriminator.zero_grad()
    assert batch >= 1
    with pytest.raises(ValueError, match="exactly one"):
        discriminator_loss(nets, inputs.x_real, y_org, y_trg)


@pytest.mark.parametrize("w_hpf", [0.0, 1.0])
def test_generator_loss_matches_recomputation(w_hpf):
    nets, inputs = tiny_nets(w_hpf), tiny_inputs(batch=1 if w_hpf else 2)
    x_real, y_org, y_trg = inputs.x_real, inputs.y_org, inputs.y_trg
    masks = nets.fan.get_heatmap(x_real) if w_hpf else None
    loss, parts = generator_loss(
        nets,
        x_real,
        y_org,
        y_trg,
        x_refs=(inputs.x_ref, inputs.x_ref2),
        masks=masks,
        lambda_sty=0.5,
        lambda_ds=0.3,
        lambda_cyc=2.0,
    )

    style = nets.style_encoder(inputs.x_ref, y_trg)
    fake = nets.generator(x_real, style, masks=masks)
    adv = F.softplus(-nets.discriminator(fake, y_trg)).mean()
    sty = (nets.style_encoder(fake, y_trg) - style).abs().mean()
    fake2 = nets.generator(x_real, nets.style_encoder(inputs.x_ref2, y_trg), masks=masks)
    ds = (fake - fake2).abs().mean()
    cycle_masks = nets.fan.get_heatmap(fake) if w_hpf else None
    rec = nets.generator(fake, nets.style_encoder(x_real, y_org), masks=cycle_masks)
    cyc = (rec - x_real).abs().mean()
    expected = adv + 0.5 * sty - 0.3 * ds + 2.0 * cyc

    assert set(parts) == {"adv", "sty", "ds", "cyc"}
    for key, value in {"adv": adv, "sty": sty, "ds": ds, "cyc": cyc}.items():
        assert parts[key] == pytest.approx(value.item(), rel=1e-5), key
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    if w_hpf:
        # The masks of the cycle really are recomputed from the translated image.
        stale = nets.generator(fake, nets.style_encoder(x_real, y_org), masks=masks)
        assert not torch.allclose(stale, rec)


def test_generator_loss_with_latent_codes_detaches_the_second_image():
    nets, inputs = tiny_nets(0.0), tiny_inputs()
    loss_ds_only, parts = generator_loss(
        nets,
        inputs.x_real,
        inputs.y_org,
        inputs.y_trg,
        z_trgs=(inputs.z_trg, inputs.z_trg2),
        lambda_sty=0.0,
        lambda_ds=1.0,
        lambda_cyc=0.0,
    )
    style = nets.mapping_network(inputs.z_trg, inputs.y_trg)
    fake = nets.generator(inputs.x_real, style)
    fake2 = nets.generator(inputs.x_real, nets.mapping_network(inputs.z_trg2, inputs.y_trg))
    assert parts["ds"] == pytest.approx((fake - fake2).abs().mean().item(), rel=1e-5)
    # Only the first translation carries gradient: -ds pushes it alone.
    (-loss_ds_only + F.softplus(-nets.discriminator(fake, inputs.y_trg)).mean()).backward()
    mapping_heads = nets.mapping_network.unshared
    assert mapping_heads[1].parameters().__next__().grad is not None


# -- the reference implementation ------------------------------------------------------------


def import_reference(root: Path):
    """``core.solver`` and ``core.model`` of a reference checkout, importable without the
    video/metrics extras it never uses in the loss functions."""
    sys.path.insert(0, str(root))
    for optional in ("ffmpeg",):
        if optional not in sys.modules and importlib.util.find_spec(optional) is None:
            sys.modules[optional] = types.ModuleType(optional)  # only used for videos
    try:
        solver = importlib.import_module("core.solver")
        model = importlib.import_module("core.model")
        wing = importlib.import_module("core.wing")
    finally:
        sys.path.remove(str(root))
    return solver, model, wing


@pytest.mark.parametrize("w_hpf", [0.0, 1.0])
def test_losses_equal_the_reference_code(w_hpf):
    root = os.environ.get(REFERENCE_ENV)
    if not root:
        pytest.skip(f"set {REFERENCE_ENV} to a checkout of clovaai/stargan-v2 to compare")
    solver, model, wing = import_reference(Path(root))
    ours = tiny_nets(w_hpf, seed=3)
    theirs = Munch(
        generator=model.Generator(64, 64, max_conv_dim=64, w_hpf=w_hpf),
        mapping_network=model.MappingNetwork(16, 64, 2),
        style_encoder=model.StyleEncoder(64, 64, 2, max_conv_dim=64),
        discriminator=model.Discriminator(64, 2, max_conv_dim=64),
    )
    for name, net in theirs.items():
        net.load_state_dict(ours[name].state_dict())
    if w_hpf:
        theirs.fan = wing.FAN().eval()
        theirs.fan.load_state_dict(ours.fan.state_dict(), strict=False)
    args = Munch(w_hpf=w_hpf, lambda_reg=1.0, lambda_sty=1.0, lambda_ds=0.6, lambda_cyc=1.0)
    inputs = tiny_inputs(seed=5, batch=1 if w_hpf else 2)
    x_real, y_org, y_trg = inputs.x_real, inputs.y_org, inputs.y_trg
    masks = ours.fan.get_heatmap(x_real) if w_hpf else None
    ref_masks = theirs.fan.get_heatmap(x_real.clone()) if w_hpf else None
    if w_hpf:
        assert torch.allclose(masks[0], ref_masks[0], atol=1e-5)

    cases = [
        ("d", {"z_trg": inputs.z_trg}),
        ("d", {"x_ref": inputs.x_ref}),
        ("g", {"z_trgs": [inputs.z_trg, inputs.z_trg2]}),
        ("g", {"x_refs": [inputs.x_ref, inputs.x_ref2]}),
    ]
    for kind, guide in cases:
        if kind == "d":
            loss, parts = discriminator_loss(ours, x_real, y_org, y_trg, masks=masks, **guide)
            ref_loss, ref_parts = solver.compute_d_loss(
                theirs, args, x_real.clone(), y_org, y_trg, masks=ref_masks, **guide
            )
        else:
            loss, parts = generator_loss(
                ours, x_real, y_org, y_trg, masks=masks, lambda_ds=0.6, **guide
            )
            ref_loss, ref_parts = solver.compute_g_loss(
                theirs, args, x_real.clone(), y_org, y_trg, masks=ref_masks, **guide
            )
        assert set(parts) == set(ref_parts)
        for key in parts:
            assert parts[key] == pytest.approx(ref_parts[key], rel=1e-5, abs=1e-7), (kind, key)
        assert loss.item() == pytest.approx(ref_loss.item(), rel=1e-5)
