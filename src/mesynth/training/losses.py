"""StarGAN v2 objectives as pure functions ``(nets, inputs) -> (loss, dict of floats)``.

They compute what the reference implementation's discriminator and generator losses compute:
non-saturating adversarial terms, the zero-centred R1 penalty on real images, style
reconstruction, diversity sensitivity and cycle consistency.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

Masks = tuple[torch.Tensor, torch.Tensor] | None


def adversarial_loss(logits: torch.Tensor, target: float) -> torch.Tensor:
    """Binary cross-entropy of the logits against a constant target (1 real, 0 fake)."""
    if target not in (0, 1):
        raise ValueError(f"adversarial target must be 0 or 1, got {target}")
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, float(target)))


def r1_penalty(
    logits: torch.Tensor, x_real: torch.Tensor, grad_scale: float | None = None
) -> torch.Tensor:
    """Zero-centred gradient penalty ``0.5 * E[||d logits / d x_real||^2]``.

    Under fp16 mixed precision the input gradient is taken of the *scaled* logits, so that it
    does not underflow in half precision, and unscaled in fp32 before squaring; pass the grad
    scaler's current scale as ``grad_scale``. An overflow gives an inf penalty, which makes the
    scaler skip the step and lower its scale, as for any other loss.
    """
    outputs = logits.sum()
    if grad_scale is not None:
        outputs = outputs * grad_scale
    (grad,) = torch.autograd.grad(outputs=outputs, inputs=x_real, create_graph=True)
    grad = grad.float()
    if grad_scale is not None:
        grad = grad / grad_scale
    return 0.5 * grad.pow(2).flatten(1).sum(1).mean(0)


def _check_one_of(first, second, first_name: str, second_name: str) -> None:
    if (first is None) == (second is None):
        raise ValueError(f"give exactly one of {first_name} and {second_name}")


def discriminator_loss(
    nets: Mapping,
    x_real: torch.Tensor,
    y_org: torch.Tensor,
    y_trg: torch.Tensor,
    z_trg: torch.Tensor | None = None,
    x_ref: torch.Tensor | None = None,
    masks: Masks = None,
    lambda_reg: float = 1.0,
    grad_scale: float | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Real/fake BCE plus ``lambda_reg`` times R1 on real images; the fake is made without
    gradient, from a latent code ``z_trg`` or a reference image ``x_ref`` of domain ``y_trg``."""
    _check_one_of(z_trg, x_ref, "z_trg", "x_ref")
    x_real = x_real.detach().requires_grad_(True)
    logits_real = nets["discriminator"](x_real, y_org)
    loss_real = adversarial_loss(logits_real, 1)
    loss_reg = r1_penalty(logits_real, x_real, grad_scale)

    with torch.no_grad():
        if z_trg is not None:
            style_code = nets["mapping_network"](z_trg, y_trg)
        else:
            style_code = nets["style_encoder"](x_ref, y_trg)
        x_fake = nets["generator"](x_real, style_code, masks=masks)
    loss_fake = adversarial_loss(nets["discriminator"](x_fake, y_trg), 0)

    loss = loss_real + loss_fake + lambda_reg * loss_reg
    return loss, {"real": loss_real.item(), "fake": loss_fake.item(), "reg": loss_reg.item()}


def generator_loss(
    nets: Mapping,
    x_real: torch.Tensor,
    y_org: torch.Tensor,
    y_trg: torch.Tensor,
    z_trgs: Sequence[torch.Tensor] | None = None,
    x_refs: Sequence[torch.Tensor] | None = None,
    masks: Masks = None,
    lambda_sty: float = 1.0,
    lambda_ds: float = 1.0,
    lambda_cyc: float = 1.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Adversarial + style reconstruction - diversity sensitive + cycle consistency.

    ``z_trgs`` (two latent codes) or ``x_refs`` (two reference images) give the two target
    styles; the second translation is detached in the diversity term. With the high-pass path
    on (``masks`` given), the masks for the cycle are recomputed from the translated image.
    """
    _check_one_of(z_trgs, x_refs, "z_trgs", "x_refs")
    if z_trgs is not None:
        first, second = z_trgs
        style_of = nets["mapping_network"]
    else:
        first, second = x_refs
        style_of = nets["style_encoder"]

    style_trg = style_of(first, y_trg)
    x_fake = nets["generator"](x_real, style_trg, masks=masks)
    loss_adv = adversarial_loss(nets["discriminator"](x_fake, y_trg), 1)

    style_pred = nets["style_encoder"](x_fake, y_trg)
    loss_sty = torch.mean(torch.abs(style_pred - style_trg))

    style_trg2 = style_of(second, y_trg)
    x_fake2 = nets["generator"](x_real, style_trg2, masks=masks).detach()
    loss_ds = torch.mean(torch.abs(x_fake - x_fake2))

    if masks is not None:
        if nets.get("fan") is None:
            raise ValueError("masks were given but nets has no 'fan' to recompute them")
        masks = nets["fan"].get_heatmap(x_fake)
    style_org = nets["style_encoder"](x_real, y_org)
    x_rec = nets["generator"](x_fake, style_org, masks=masks)
    loss_cyc = torch.mean(torch.abs(x_rec - x_real))

    loss = loss_adv + lambda_sty * loss_sty - lambda_ds * loss_ds + lambda_cyc * loss_cyc
    return loss, {
        "adv": loss_adv.item(),
        "sty": loss_sty.item(),
        "ds": loss_ds.item(),
        "cyc": loss_cyc.item(),
    }
