"""StarGAN v2 training as a LightningModule with manual optimisation.

One training step is one iteration of the reference: a discriminator update with a latent-code
fake, one with a reference-image fake, a generator update with latent codes (stepping generator,
mapping network and style encoder) and one with reference images (stepping the generator only),
then the EMA update. Lightning counts each of the four optimiser steps as a ``global_step``;
``StarGANModule.iteration`` counts iterations and drives every iteration-based setting.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence

import lightning as L
import torch
from munch import Munch
from torch import nn

from mesynth.config import check_choice, to_plain
from mesynth.nets import NetConfig, build_nets
from mesynth.training.ema import ema_copy, lambda_ds_at, update_ema
from mesynth.training.losses import discriminator_loss, generator_loss
from mesynth.training.seeding import LATENTS, stream

log = logging.getLogger(__name__)

TRAINED_NETS = ("generator", "mapping_network", "style_encoder", "discriminator")
EMA_NETS = ("generator", "mapping_network", "style_encoder")
SUPPORTED_PRECISIONS = ("32-true", "32", "16-mixed", "bf16-mixed")
IMG_SIZES = (64, 128, 256, 512)
CHECKPOINT_KEY = "mesynth"


def he_init(module: nn.Module) -> None:
    """Kaiming-normal weights (fan-in, ReLU gain) and zero biases for conv and linear layers."""
    if isinstance(module, nn.Conv2d | nn.Linear):
        nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
        if module.bias is not None:
            nn.init.constant_(module.bias, 0)


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Temporarily stop gradients into ``module``'s parameters (restoring each flag after)."""
    flags = [(parameter, parameter.requires_grad) for parameter in module.parameters()]
    for parameter, _ in flags:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter, flag in flags:
            parameter.requires_grad_(flag)


class StarGANModule(L.LightningModule):
    """Networks, their EMA copies, the reference's update schedule and the iteration counter.

    State dict layout: ``nets.<name>.*`` for the trained networks (and the landmark network
    ``nets.fan.*``), ``nets_ema.<name>.*`` for the EMA copies; the checkpoint's ``mesynth``
    entry holds the iteration, the domain names and the network configuration. Hyper-parameters
    are kept as plain containers so that checkpoints load with ``weights_only=True``.

    The latent codes of iteration ``i`` on rank ``r`` come from a stream seeded by
    (``seed``, r, i): ranks draw different codes, and a resumed run draws what an uninterrupted
    one would have.
    """

    # A note saved in every checkpoint for runs that are not real training (``run_label``).
    run_label: str | None = None

    def __init__(
        self,
        net: Mapping,
        domains: Sequence[str],
        optim: Mapping,
        loss: Mapping,
        ema_beta: float = 0.999,
        total_iters: int = 100000,
        log_every: int = 10,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.save_hyperparameters(
            {
                "net": to_plain(net),
                "domains": list(to_plain(domains)),
                "optim": to_plain(optim),
                "loss": to_plain(loss),
                "ema_beta": float(ema_beta),
                "total_iters": int(total_iters),
                "log_every": int(log_every),
                "seed": int(seed),
            }
        )
        settings = {
            key: value
            for key, value in self.hparams.net.items()
            if key in NetConfig.__dataclass_fields__
        }
        check_choice(
            "model.net.img_size",
            settings.get("img_size"),
            IMG_SIZES,
            hint="the sizes StarGAN v2 networks are built for (training images are resized to it)",
        )
        if settings.get("num_domains") not in (None, len(domains)):
            raise ValueError(
                f"model.net.num_domains={settings['num_domains']} but the data has "
                f"{len(domains)} domains {list(domains)}; set model.net.num_domains=null (it "
                "then follows the data) or change data.domains"
            )
        settings["num_domains"] = len(domains)
        self.net_config = NetConfig(**settings)
        self.domains = list(domains)
        built = build_nets(**self.net_config.to_dict())
        self.nets = nn.ModuleDict({name: built[name] for name in TRAINED_NETS})
        for name in TRAINED_NETS:
            self.nets[name].apply(he_init)
        if built.fan is not None:
            # Part of the state dict so that checkpoints are self-contained; never trained.
            self.nets["fan"] = built.fan.requires_grad_(False).eval()
        # The EMA copies start equal to the initialised networks. (The reference copies them
        # before He initialisation; with beta 0.999 that start is forgotten within ~10k
        # iterations, but a short fine-tuning run would keep part of it.)
        self.nets_ema = nn.ModuleDict({name: ema_copy(self.nets[name]) for name in EMA_NETS})
        self.iteration = 0
        self.last_losses: dict[str, float] = {}

    # -- helpers ---------------------------------------------------------------------------

    @property
    def fan(self) -> nn.Module | None:
        return self.nets["fan"] if "fan" in self.nets else None

    def nets_view(self) -> Munch:
        """The trained networks (and the landmark network) as the loss functions expect them."""
        view = Munch({name: self.nets[name] for name in TRAINED_NETS})
        view.fan = self.fan
        return view

    def ema_view(self) -> Munch:
        """EMA networks plus the landmark network, as inference code expects them."""
        view = Munch({name: self.nets_ema[name] for name in EMA_NETS})
        view.fan = self.fan
        view.config = self.net_config
        return view

    def reset_ema(self) -> None:
        """Make the EMA copies equal to the current networks (after loading start weights)."""
        for name in EMA_NETS:
            self.nets_ema[name].load_state_dict(
                {k: v.float() for k, v in self.nets[name].state_dict().items()}
            )

    def draw_latents(self, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The two sets of latent codes of this iteration on this rank, on the module's device.

        Drawn on the CPU, so that the values do not depend on the device either."""
        generator = stream(self.hparams.seed, self.global_rank, self.iteration, LATENTS)
        shape = (2, count, self.net_config.latent_dim)
        codes = torch.randn(shape, generator=generator).to(self.device)
        return codes[0], codes[1]

    @property
    def lambda_ds(self) -> float:
        """Diversity-loss weight for the current iteration."""
        loss = self.hparams.loss
        return lambda_ds_at(self.iteration, loss["lambda_ds"], loss["ds_iter"])

    def train(self, mode: bool = True) -> StarGANModule:
        super().train(mode)
        # The EMA copies are only evaluated; the landmark network keeps its batch statistics.
        self.nets_ema.eval()
        if self.fan is not None:
            self.fan.eval()
        return self

    def _grad_scale(self) -> float | None:
        """Current fp16 loss scale (for the R1 penalty), None without a grad scaler."""
        scaler = getattr(self.trainer.precision_plugin, "scaler", None)
        if scaler is None or not scaler.is_enabled():
            return None
        return float(scaler.get_scale())

    # -- Lightning hooks -------------------------------------------------------------------

    def configure_optimizers(self):
        optim = self.hparams.optim
        settings = dict(betas=tuple(optim["betas"]), weight_decay=optim["weight_decay"])

        def trainable(name: str) -> list[nn.Parameter]:
            return [p for p in self.nets[name].parameters() if p.requires_grad]

        if not trainable("discriminator"):
            raise ValueError("every discriminator parameter is frozen; it must be trainable")
        optimizer_d = torch.optim.Adam(trainable("discriminator"), lr=optim["lr"], **settings)
        # One optimiser with a parameter group per network is the reference's three Adams: Adam
        # keeps per-parameter state, and parameters without gradient are not stepped.
        groups = [
            {"params": trainable("generator"), "lr": optim["lr"]},
            {"params": trainable("mapping_network"), "lr": optim["mapping_lr"]},
            {"params": trainable("style_encoder"), "lr": optim["lr"]},
        ]
        groups = [group for group in groups if group["params"]]
        if not groups:
            raise ValueError("generator, mapping network and style encoder are all frozen")
        optimizer_g = torch.optim.Adam(groups, lr=optim["lr"], **settings)
        return [optimizer_d, optimizer_g]

    def on_fit_start(self) -> None:
        precision = str(self.trainer.precision)
        check_choice(
            "trainer.precision",
            precision,
            SUPPORTED_PRECISIONS,
            hint="the networks keep fp32 weights, EMA copies included",
        )

    def on_train_batch_start(self, batch, batch_idx: int):
        if self.iteration >= self.hparams.total_iters:
            self.trainer.should_stop = True
            return -1  # ends the epoch without another step
        return None

    def training_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> None:
        nets = self.nets_view()
        weights = self.hparams.loss
        x_real, y_org = batch["x_src"], batch["y_src"]
        x_ref, x_ref2, y_trg = batch["x_ref"], batch["x_ref2"], batch["y_ref"]
        z_trg, z_trg2 = self.draw_latents(x_real.size(0))
        masks = self.fan.get_heatmap(x_real) if self.net_config.w_hpf > 0 else None
        lambda_ds = self.lambda_ds
        optimizer_d, optimizer_g = self.optimizers()
        losses: dict[str, float] = {}

        for tag, guide in (("latent", {"z_trg": z_trg}), ("ref", {"x_ref": x_ref})):
            loss, parts = discriminator_loss(
                nets,
                x_real,
                y_org,
                y_trg,
                masks=masks,
                lambda_reg=weights["lambda_reg"],
                grad_scale=self._grad_scale(),
                **guide,
            )
            optimizer_d.zero_grad()
            self.manual_backward(loss)
            optimizer_d.step()
            losses.update({f"D/{tag}_{key}": value for key, value in parts.items()})

        # The discriminator is not stepped in generator updates: no need for its gradients.
        with frozen(self.nets["discriminator"]):
            for tag, guide in (
                ("latent", {"z_trgs": (z_trg, z_trg2)}),
                ("ref", {"x_refs": (x_ref, x_ref2)}),
            ):
                loss, parts = generator_loss(
                    nets,
                    x_real,
                    y_org,
                    y_trg,
                    masks=masks,
                    lambda_sty=weights["lambda_sty"],
                    lambda_ds=lambda_ds,
                    lambda_cyc=weights["lambda_cyc"],
                    **guide,
                )
                optimizer_g.zero_grad()
                self.manual_backward(loss)
                if tag == "ref":
                    # The reference-guided update steps the generator only.
                    for name in ("mapping_network", "style_encoder"):
                        for parameter in self.nets[name].parameters():
                            parameter.grad = None
                optimizer_g.step()
                losses.update({f"G/{tag}_{key}": value for key, value in parts.items()})

        for name in EMA_NETS:
            update_ema(self.nets[name], self.nets_ema[name], self.hparams.ema_beta)
        self.iteration += 1
        losses["G/lambda_ds"] = lambda_ds
        self.last_losses = losses
        self._log_losses(losses)

    def _log_losses(self, losses: Mapping[str, float]) -> None:
        log_every = max(1, int(self.hparams.log_every))
        if self.iteration % log_every and self.iteration != self.hparams.total_iters:
            return
        # Logged against the iteration (not Lightning's global_step, which is 4x larger).
        for logger in self.loggers:
            logger.log_metrics(dict(losses), step=self.iteration)

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        if self.iteration >= self.hparams.total_iters:
            self.trainer.should_stop = True

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint[CHECKPOINT_KEY] = {
            "iteration": self.iteration,
            "world_size": self.trainer.world_size if self._trainer is not None else 1,
            "domains": list(self.domains),
            "net_config": self.net_config.to_dict(),
            "seed": int(self.hparams.seed),
        }
        if self.run_label:
            checkpoint[CHECKPOINT_KEY]["run_label"] = self.run_label

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint.get(CHECKPOINT_KEY)
        if state is None:
            raise ValueError(
                "the checkpoint to resume has no 'mesynth' entry; it was not written by "
                "mesynth training (start a fine-tuning with finetune.checkpoint=... instead)"
            )
        if list(state["domains"]) != self.domains:
            raise ValueError(
                f"the checkpoint was trained on domains {state['domains']}, the data has "
                f"{self.domains}; resume with the same data.domains, or fine-tune from it "
                "with finetune.checkpoint=... (and finetune.domain_map/new_domains)"
            )
        self.iteration = int(state["iteration"])
        if "seed" in state and int(state["seed"]) != int(self.hparams.seed):
            log.warning(
                "the checkpoint was trained with seed=%s, this run has seed=%s: it continues, but "
                "with other random draws than the original run; resume with seed=%s to continue "
                "it exactly",
                state["seed"],
                self.hparams.seed,
                state["seed"],
            )
        log.info("resuming at iteration %d (lambda_ds %.6g)", self.iteration, self.lambda_ds)
