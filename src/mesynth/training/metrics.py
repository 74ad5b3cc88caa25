"""FID and LPIPS with the StarGAN v2 protocol, from locally stored weights only.

For every ordered pair of domains (source -> target) and each validation image of the source
domain, ``num_outs_per_domain`` translations are made (latent-guided: random latent codes;
reference-guided: validation images of the target domain). LPIPS is the mean pairwise distance
between the translations of one image, averaged per task; FID compares the translations (saved
as PNG, as the reference does) with the *training* images of the target domain, through the
pool features of torchvision's ImageNet Inception-v3. Means over tasks are reported too.

Weights needed (nothing is downloaded): torchvision's ``inception_v3_google-0cc3c7bd.pth`` and
``alexnet-owt-7be5be79.pth`` (from download.pytorch.org/models/) and the LPIPS linear layers
``lpips_weights.ckpt`` (distributed with the StarGAN v2 and LPIPS projects).
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from scipy import linalg
from torch import nn
from torchvision import models, transforms
from torchvision.utils import save_image
from tqdm import tqdm

from mesynth.atomic import write_atomically
from mesynth.checkpoint import read_checkpoint
from mesynth.config import check_choice
from mesynth.training.data import DomainImages, eval_transform, load_image

log = logging.getLogger(__name__)

MODES = ("latent", "reference")
INCEPTION_SIZE = 299
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
# LPIPS's input normalisation for images in [-1, 1].
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)
WEIGHT_SOURCES = {
    "inception_path": "inception_v3_google-0cc3c7bd.pth from download.pytorch.org/models/",
    "alexnet_path": "alexnet-owt-7be5be79.pth from download.pytorch.org/models/",
    "lpips_path": "lpips_weights.ckpt (metrics/ of the StarGAN v2 repository)",
}


class MetricsError(ValueError):
    """Metric weights or data missing; the message names the file and where to get it."""


def check_metric_weights(settings: Mapping) -> dict[str, Path]:
    """The three weight files, or one error naming every missing one."""
    paths, missing = {}, []
    for key, source in WEIGHT_SOURCES.items():
        value = settings.get(key)
        if not value or not Path(value).is_file():
            missing.append(f"metrics.{key}={value} (get {source})")
        else:
            paths[key] = Path(value)
    if missing:
        raise MetricsError(
            "FID/LPIPS need locally stored weights, and these are missing:\n  "
            + "\n  ".join(missing)
            + "\nPut the files there (or point the settings at them), or set "
            "schedule.eval_every=0 to train without metrics"
        )
    return paths


def _load_weights(module: nn.Module, path: Path, what: str) -> None:
    state = read_checkpoint(path)  # tensors only; refuses anything else with one message
    try:
        module.load_state_dict(state)
    except Exception as error:  # noqa: BLE001 - torch raises many types for wrong files
        raise MetricsError(
            f"{path} does not hold the {what} weights ({type(error).__name__}: {error}); "
            f"use {WEIGHT_SOURCES['inception_path' if 'ncep' in what else 'alexnet_path']}"
        ) from error


class InceptionFeatures(nn.Module):
    """2048-d average-pool features of Inception-v3, as in the StarGAN v2 FID code."""

    def __init__(self, inception: nn.Module) -> None:
        super().__init__()
        self.blocks = nn.Sequential(
            inception.Conv2d_1a_3x3,
            inception.Conv2d_2a_3x3,
            inception.Conv2d_2b_3x3,
            nn.MaxPool2d(kernel_size=3, stride=2),
            inception.Conv2d_3b_1x1,
            inception.Conv2d_4a_3x3,
            nn.MaxPool2d(kernel_size=3, stride=2),
            inception.Mixed_5b,
            inception.Mixed_5c,
            inception.Mixed_5d,
            inception.Mixed_6a,
            inception.Mixed_6b,
            inception.Mixed_6c,
            inception.Mixed_6d,
            inception.Mixed_6e,
            inception.Mixed_7a,
            inception.Mixed_7b,
            inception.Mixed_7c,
            nn.AdaptiveAvgPool2d(1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x).flatten(1)


def load_inception(path: str | Path) -> InceptionFeatures:
    inception = models.inception_v3(weights=None, aux_logits=True, init_weights=False)
    _load_weights(inception, Path(path), "Inception-v3")
    return InceptionFeatures(inception).eval()


class LPIPS(nn.Module):
    """LPIPS distance (AlexNet features, learned per-channel weights) of images in [-1, 1]."""

    def __init__(self, alexnet: nn.Module) -> None:
        super().__init__()
        self.features = alexnet.features
        channels = [m.out_channels for m in self.features if isinstance(m, nn.Conv2d)]
        self.lpips_weights = nn.ModuleList(
            nn.Sequential(nn.Dropout(0.5), nn.Conv2d(c, 1, 1, 1, 0, bias=False)) for c in channels
        )
        self.register_buffer("shift", torch.tensor(LPIPS_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(LPIPS_SCALE).view(1, 3, 1, 1))

    def feature_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        maps = []
        x = (x - self.shift) / self.scale
        for layer in self.features:
            x = layer(x)
            if isinstance(layer, nn.ReLU):
                maps.append(x * torch.rsqrt((x**2).sum(dim=1, keepdim=True) + 1e-10))
        return maps

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        distance = 0
        for fx, fy, weight in zip(
            self.feature_maps(x), self.feature_maps(y), self.lpips_weights, strict=True
        ):
            distance = distance + weight((fx - fy) ** 2).mean()
        return distance


def load_lpips(alexnet_path: str | Path, lpips_path: str | Path) -> LPIPS:
    alexnet = models.alexnet(weights=None)
    _load_weights(alexnet, Path(alexnet_path), "AlexNet")
    lpips = LPIPS(alexnet)
    state = read_checkpoint(lpips_path)
    expected = {k for k in lpips.state_dict() if k.startswith("lpips_weights.")}
    if set(state) != expected:
        raise MetricsError(
            f"{lpips_path} is not an LPIPS weight file (expected keys {sorted(expected)}, "
            f"found {sorted(state)[:5]}); use {WEIGHT_SOURCES['lpips_path']}"
        )
    lpips.load_state_dict(state, strict=False)
    return lpips.eval()


def mean_pairwise_lpips(lpips: LPIPS, images: Sequence[torch.Tensor]) -> float:
    """Mean LPIPS over all pairs of the given batches of translations of the same inputs."""
    values = [
        lpips(images[i], images[j])
        for i in range(len(images) - 1)
        for j in range(i + 1, len(images))
    ]
    return torch.stack(values).mean().item()


def covariance_root(cov: np.ndarray) -> np.ndarray:
    """Symmetric square root of a covariance matrix."""
    values, vectors = linalg.eigh(cov)
    return (vectors * np.sqrt(values.clip(min=0))) @ vectors.T


def frechet_distance(
    mu1: np.ndarray,
    cov1: np.ndarray,
    mu2: np.ndarray,
    cov2: np.ndarray,
    root1: np.ndarray | None = None,
) -> float:
    """Fréchet distance between two Gaussians.

    The trace of sqrtm(cov1 @ cov2) is computed as the sum of the square roots of the
    eigenvalues of sqrt(cov1) @ cov2 @ sqrt(cov1) (the same number for covariance matrices),
    with symmetric eigendecompositions, which is much faster than a general matrix square root
    for 2048-d features. ``root1`` (``covariance_root(cov1)``) may be given to reuse it.
    """
    root1 = covariance_root(cov1) if root1 is None else root1
    product = root1 @ cov2 @ root1
    trace_root = np.sqrt(linalg.eigvalsh((product + product.T) / 2).clip(min=0)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(cov1) + np.trace(cov2) - 2 * trace_root)


def inception_transform(img_size: int) -> transforms.Compose:
    return transforms.Compose(
        [
            transforms.Resize([img_size, img_size]),
            transforms.Resize([INCEPTION_SIZE, INCEPTION_SIZE]),
            transforms.ToTensor(),
            transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )


@torch.no_grad()
def image_statistics(
    inception: InceptionFeatures,
    paths: Sequence[Path],
    img_size: int,
    batch_size: int,
    device: torch.device,
    center_crop: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of the Inception features of image files."""
    transform = inception_transform(img_size)
    features = []
    for start in range(0, len(paths), batch_size):
        batch = [transform(load_image(p, center_crop)) for p in paths[start : start + batch_size]]
        features.append(inception(torch.stack(batch).to(device)).cpu().double().numpy())
    stacked = np.concatenate(features)
    return stacked.mean(axis=0), np.cov(stacked, rowvar=False)


def _domain_paths(images: DomainImages, label: int, limit: int | None = None) -> list[Path]:
    paths = sorted(images.paths[i] for i in images.indices_of(label))
    return paths[:limit] if limit else paths


@torch.no_grad()
@dataclass
class _Translation:
    """What every task of one metrics run translates with."""

    nets: Mapping
    to_tensor: object
    device: torch.device
    batch_size: int
    num_outs: int
    latent_dim: int
    center_crop: int | None

    def images(self, paths: Sequence[Path]) -> torch.Tensor:
        return torch.stack([self.to_tensor(load_image(p, self.center_crop)) for p in paths]).to(
            self.device
        )


def _style_codes(
    run: _Translation, mode: str, labels: torch.Tensor, references: list, position: int
) -> tuple[torch.Tensor, int]:
    """Style codes for one batch: from random latents, or from the next reference images (the
    position runs on through the target domain's references)."""
    if mode == "latent":
        z = torch.randn(len(labels), run.latent_dim, device=run.device)
        return run.nets["mapping_network"](z, labels), position
    picked = [references[(position + k) % len(references)] for k in range(len(labels))]
    return run.nets["style_encoder"](run.images(picked), labels), position + len(labels)


def _translate_task(
    run: _Translation,
    lpips: nn.Module,
    mode: str,
    task: tuple[str, list, list, int],
    fake_dir: Path,
    position: int,
) -> tuple[list[Path], float, int]:
    """Translate a source domain's images into the target ``num_outs`` times each, saving the
    fakes under ``fake_dir``; returns them, the mean pairwise LPIPS and the reference position."""
    name, sources, references, target = task
    fakes, lpips_values = [], []
    for start in tqdm(range(0, len(sources), run.batch_size), desc=f"{mode} {name}", leave=False):
        chunk = sources[start : start + run.batch_size]
        x_src = run.images(chunk)
        labels = torch.full((len(chunk),), target, device=run.device)
        masks = run.nets["fan"].get_heatmap(x_src) if run.nets.get("fan") is not None else None
        group = []
        for out in range(run.num_outs):
            style, position = _style_codes(run, mode, labels, references, position)
            fake = run.nets["generator"](x_src, style, masks=masks)
            group.append(fake)
            for k in range(len(chunk)):
                path = fake_dir / f"{start + k:05d}_{out:02d}.png"
                save_image(((fake[k] + 1) / 2).clamp(0, 1), path)
                fakes.append(path)
        lpips_values.append(mean_pairwise_lpips(lpips, group))
    return fakes, float(np.mean(lpips_values)), position


def calculate_metrics(
    nets: Mapping,
    train_images: DomainImages,
    val_images: DomainImages,
    settings: Mapping,
    img_size: int,
    latent_dim: int,
    modes: Sequence[str] = MODES,
    center_crop: int | None = None,
    device: torch.device | str = "cpu",
    models_cache: dict | None = None,
) -> dict[str, float]:
    """FID and LPIPS per task and their means, keyed like ``FID_latent/female2male``."""
    paths = check_metric_weights(settings)
    device = torch.device(device)
    cache = models_cache if models_cache is not None else {}
    if "inception" not in cache:
        cache["inception"] = load_inception(paths["inception_path"])
        cache["lpips"] = load_lpips(paths["alexnet_path"], paths["lpips_path"])
    inception, lpips = cache["inception"].to(device), cache["lpips"].to(device)
    batch_size = int(settings.get("batch_size", 32))
    run = _Translation(
        nets, eval_transform(img_size), device, batch_size,
        int(settings.get("num_outs_per_domain", 10)), latent_dim, center_crop,
    )  # fmt: skip
    limit, domains = settings.get("max_images"), val_images.domains
    results: dict[str, float] = {}
    real_stats = cache.setdefault("real_stats", {})
    for mode in modes:
        check_choice("metrics mode", mode, MODES, MetricsError)
        for target, target_name in enumerate(domains):
            references, position = _domain_paths(val_images, target), 0
            for source, source_name in enumerate(domains):
                if source == target:
                    continue
                name = f"{source_name}2{target_name}"
                task = (name, _domain_paths(val_images, source, limit), references, target)
                with tempfile.TemporaryDirectory(prefix=f"mesynth_{name}_") as fake_dir:
                    fakes, lpips_mean, position = _translate_task(
                        run, lpips, mode, task, Path(fake_dir), position
                    )
                    if target not in real_stats:
                        real = _domain_paths(train_images, target)
                        mean, cov = image_statistics(
                            inception, real, img_size, batch_size, device, center_crop
                        )
                        real_stats[target] = (mean, cov, covariance_root(cov))
                    fake_stats = image_statistics(inception, fakes, img_size, batch_size, device)
                mean, cov, root = real_stats[target]
                results[f"LPIPS_{mode}/{name}"] = lpips_mean
                results[f"FID_{mode}/{name}"] = frechet_distance(mean, cov, *fake_stats, root1=root)
        for metric in ("LPIPS", "FID"):
            values = [v for k, v in results.items() if k.startswith(f"{metric}_{mode}/")]
            results[f"{metric}_{mode}/mean"] = float(np.mean(values))
    return results


def write_json(values: Mapping[str, float], path: Path) -> Path:
    text = json.dumps(dict(values), indent=2)
    return write_atomically(path, lambda partial: partial.write_text(text))


class MetricsCallback(Callback):
    """FID/LPIPS of the EMA networks every ``every`` iterations (rank 0), written to
    ``<dirpath>/<N>_metrics.json`` and sent to the loggers. The weight files are checked when
    the run starts, not at the first evaluation."""

    def __init__(self, settings: Mapping, datamodule, dirpath: str | Path, every: int) -> None:
        check_metric_weights(settings)
        self.settings = dict(settings)
        self.datamodule = datamodule
        self.dirpath = Path(dirpath)
        self.every = int(every)
        self.cache: dict = {}
        if datamodule.val_images() is None:
            raise MetricsError(
                "FID/LPIPS use validation images, and the data has none: give layout=celeba_hq "
                "a val/ folder, data.val_root for layout=folder, or set schedule.eval_every=0"
            )

    def on_train_batch_end(self, trainer: L.Trainer, module, outputs, batch, batch_idx) -> None:
        iteration = module.iteration
        if self.every <= 0 or iteration % self.every:
            return
        if trainer.is_global_zero:
            values = calculate_metrics(
                module.ema_view(),
                self.datamodule.train_images,
                self.datamodule.val_images(),
                self.settings,
                module.net_config.img_size,
                module.net_config.latent_dim,
                center_crop=self.datamodule.center_crop,
                device=module.device,
                models_cache=self.cache,
            )
            write_json(values, self.dirpath / f"{iteration:06d}_metrics.json")
            for logger in module.loggers:
                logger.log_metrics(values, step=iteration)
            log.info("iteration %d: %s", iteration, values)
        trainer.strategy.barrier("mesynth_metrics")
