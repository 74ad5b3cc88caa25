"""``spotter=softnet``: a shallow three-stream CNN on the flow maps, trained per fold.

After SOFTNet (Liong et al. 2021): the streams read the horizontal flow, the vertical flow and
the optical strain of the brow/eye band over the mouth (head motion removed), each through one
5x5 convolution (3, 5 and 8 channels) and a 3x3 max-pool; the streams are concatenated,
pooled 2x2 and read by a dense layer. Here each stream sees both time scales of the features
(pairs ``k`` and ``k_macro`` apart) as two input channels, and the network has two outputs, the
micro and the macro score of the frame.

Training (per fold, on the training videos only): pseudo-labels say whether the frame pair of
a sample overlaps an expression of the type (``1`` inside, ``0`` elsewhere, as SOFTNet's
``IoU > 0`` rule); negatives are subsampled to ``negatives_per_positive`` per positive; mirrored
maps are added when ``flip``; binary cross-entropy, Adam, a fixed number of ``epochs`` (nothing
is chosen on the test videos), seeded. Maps are scaled per video and channel by their 99th
percentile, so participants with more or less motion look alike.

Prediction: each type's probability per frame, averaged over ``smooth * k`` frames of its scale,
then the shared peak post-processing (:mod:`mesynth.spotting.spotters.peaks`); an interval is
narrowed by ``k/2`` at each end since the pseudo-labels start that early and end that late.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from mesynth.spotting.spotters.peaks import (
    PeakSettings,
    calibrate,
    curve_predictions,
    moving_average,
    suppress_overlaps,
)
from mesynth.spotting.types import EXPRESSION_TYPES, Prediction, SpottingVideo

log = logging.getLogger(__name__)

STREAMS = ("u", "v", "strain")
SCALE_QUANTILE = 0.99
SCALE_FLOOR = 1e-3  # flow (pixels) or strain below this is noise whatever the video


@dataclass(frozen=True)
class SoftNetSettings:
    """``conf/spotter/softnet.yaml``."""

    epochs: int = 10
    batch_size: int = 64
    lr: float = 5e-4
    weight_decay: float = 0.0
    channels: tuple[int, int, int] = (3, 5, 8)
    hidden: int = 400
    negatives_per_positive: float = 2.0
    flip: bool = True
    smooth: float = 1.0
    accelerator: str = "auto"
    devices: int = 1
    precision: str = "32-true"
    cpu_threads: int = 1
    progress: bool = False
    peaks: PeakSettings = field(
        default_factory=lambda: PeakSettings(p=0.55, extent=0.5, calibrate=False)
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        problems = []
        if self.epochs < 1 or self.batch_size < 1:
            problems.append(f"epochs={self.epochs} and batch_size={self.batch_size} must be >= 1")
        if self.lr <= 0 or self.weight_decay < 0:
            problems.append(f"lr={self.lr} must be > 0 and weight_decay={self.weight_decay} >= 0")
        if len(self.channels) != 3 or min(self.channels) < 1:
            problems.append(f"channels={list(self.channels)} must be three counts >= 1")
        if self.hidden < 1:
            problems.append(f"hidden={self.hidden} must be >= 1")
        if self.negatives_per_positive < 0:
            problems.append(
                f"negatives_per_positive={self.negatives_per_positive} must be >= 0 (0 keeps all)"
            )
        if self.smooth < 0:
            problems.append(f"smooth={self.smooth} must be >= 0")
        if self.cpu_threads < 1:
            problems.append(f"cpu_threads={self.cpu_threads} must be >= 1")
        if problems:
            raise ValueError("spotter=softnet: " + "; ".join(problems))

    @classmethod
    def from_config(cls, node: object) -> SoftNetSettings:
        from mesynth.config import dataclass_values

        values = dataclass_values(cls, node, "spotter=softnet", drop=("name",))
        if "peaks" in values:
            values["peaks"] = PeakSettings.from_config(values["peaks"])
        return cls(**values)


def _torch_modules():
    """The network and LightningModule classes (torch is imported only when softnet is used)."""
    import lightning as L
    import torch
    from torch import nn

    class ThreeStreamNet(nn.Module):
        """Three shallow streams (u, v, strain), each ``scales`` input channels -> 2 logits."""

        def __init__(self, scales: int, map_size: int, channels: Sequence[int], hidden: int):
            super().__init__()
            self.streams = nn.ModuleList(
                nn.Sequential(
                    nn.Conv2d(scales, count, kernel_size=5, padding=2),
                    nn.ReLU(inplace=True),
                    nn.MaxPool2d(3, 3),
                )
                for count in channels
            )
            self.pool = nn.MaxPool2d(2, 2)
            side = map_size // 3 // 2
            self.head = nn.Sequential(
                nn.Flatten(),
                nn.Linear(sum(channels) * side * side, hidden),
                nn.ReLU(inplace=True),
                nn.Linear(hidden, len(EXPRESSION_TYPES)),
            )

        def forward(self, maps: torch.Tensor) -> torch.Tensor:
            """``maps`` (N, 3 * scales, h, w), channels grouped by stream -> logits (N, 2)."""
            scales = maps.shape[1] // len(self.streams)
            parts = [
                stream(maps[:, i * scales : (i + 1) * scales])
                for i, stream in enumerate(self.streams)
            ]
            return self.head(self.pool(torch.cat(parts, dim=1)))

    class SoftNetModule(L.LightningModule):
        def __init__(self, settings: SoftNetSettings, scales: int, map_size: int):
            super().__init__()
            self.settings = settings
            self.net = ThreeStreamNet(scales, map_size, settings.channels, settings.hidden)
            self.loss = nn.BCEWithLogitsLoss()
            self.epoch_losses: list[float] = []

        def forward(self, maps: torch.Tensor) -> torch.Tensor:
            return self.net(maps)

        def training_step(self, batch, batch_index):
            maps, labels = batch
            maps = maps.float()
            if self.settings.flip:
                mirrored = torch.rand(maps.shape[0], device=maps.device) < 0.5
                maps = torch.where(mirrored[:, None, None, None], maps.flip(-1), maps)
            loss = self.loss(self(maps), labels)
            self.log("train_loss", loss, prog_bar=True, on_epoch=True, on_step=False)
            return loss

        def on_train_epoch_end(self) -> None:
            self.epoch_losses.append(float(self.trainer.callback_metrics["train_loss"]))

        def configure_optimizers(self):
            return torch.optim.Adam(
                self.parameters(), lr=self.settings.lr, weight_decay=self.settings.weight_decay
            )

    return ThreeStreamNet, SoftNetModule


@contextlib.contextmanager
def _cpu_threads(count: int, on_cpu: bool) -> Iterator[None]:
    """Run torch on ``count`` intra-op threads (when computing on the CPU), then restore."""
    import torch

    before = torch.get_num_threads()
    if on_cpu:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def stream_order(channels: Sequence[str]) -> list[int]:
    """Indices putting map channels named ``<stream>@<scale>`` in stream-major order."""
    order = []
    for stream in STREAMS:
        found = [i for i, name in enumerate(channels) if name.split("@")[0] == stream]
        if not found:
            raise ValueError(f"flow maps have no {stream!r} channel (channels: {list(channels)})")
        order += found
    return order


def scaled_maps(features) -> np.ndarray:
    """(S, C, h, w) float32 maps of the computed samples, stream-major, each channel divided by
    the video's 99th percentile of that channel."""
    if features.maps is None:
        raise ValueError(
            f"video {features.name} has no flow maps; softnet needs them: compute the features "
            "with maps on (FeatureSettings.from_config(node, maps=True), or "
            "spotting.features.maps=true)"
        )
    rows = np.arange(0, len(features), features.stride)
    maps = np.asarray(features.maps[rows], dtype=np.float32)[:, stream_order(features.map_channels)]
    scale = np.quantile(np.abs(maps), SCALE_QUANTILE, axis=(0, 2, 3))
    return maps / np.maximum(scale, SCALE_FLOOR)[None, :, None, None]


def pseudo_labels(video: SpottingVideo) -> np.ndarray:
    """(S, 2) labels of the computed samples: 1 where the sample's frame pair (``k`` or
    ``k_macro`` frames around it) overlaps an expression of that type."""
    features = video.features
    numbers = np.asarray(features.frame_numbers)[np.arange(0, len(features), features.stride)]
    labels = np.zeros((len(numbers), len(EXPRESSION_TYPES)), dtype=np.float32)
    for column, (kind, span) in enumerate(
        zip(EXPRESSION_TYPES, (features.k, features.k_macro), strict=True)
    ):
        first, last = numbers - span // 2, numbers + (span - span // 2)
        for event in video.events:
            if event.kind == kind and event.length > 0:
                labels[(first <= event.offset) & (last >= event.onset), column] = 1.0
    return labels


class SoftNet:
    """The three-stream CNN spotter; ``fit`` trains a fresh network on the training videos."""

    name = "softnet"
    needs_maps = True

    def __init__(self, settings: SoftNetSettings | None = None, seed: int = 0):
        self.settings = settings or SoftNetSettings()
        self.seed = int(seed)
        self.p = self.settings.peaks.p
        self.extent = self.settings.peaks.extent
        self.module = None
        self.training_f1: float | None = None
        self._curves: dict[int, dict[str, np.ndarray]] = {}

    # ------------------------------------------------------------------ training

    def _training_set(self, videos: Sequence[SpottingVideo]):
        rng = np.random.default_rng(self.seed)
        maps, labels = [], []
        for video in videos:
            maps.append(scaled_maps(video.features).astype(np.float16))
            labels.append(pseudo_labels(video))
        maps, labels = np.concatenate(maps), np.concatenate(labels)
        positive = labels.max(axis=1) > 0
        keep = np.flatnonzero(positive)
        negatives = np.flatnonzero(~positive)
        ratio = self.settings.negatives_per_positive
        if ratio > 0 and len(negatives) > ratio * max(1, len(keep)):
            negatives = rng.choice(
                negatives, int(math.ceil(ratio * max(1, len(keep)))), replace=False
            )
        keep = np.sort(np.concatenate([keep, negatives]))
        return maps[keep], labels[keep], int(positive.sum())

    def fit(self, videos: Sequence[SpottingVideo]) -> None:
        import lightning as L
        import torch
        from torch.utils.data import DataLoader, TensorDataset

        if not videos:
            raise ValueError("softnet needs at least one training video")
        sizes = {
            (v.features.maps.shape[1:] if v.features.maps is not None else None) for v in videos
        }
        maps, labels, positives = self._training_set(videos)
        if len(sizes) != 1:
            raise ValueError(f"training videos have flow maps of different shapes: {sizes}")
        if positives == 0:
            log.warning(
                "softnet: no training frame lies in an expression; the network learns nothing"
            )
        L.seed_everything(self.seed, workers=True, verbose=False)
        _, SoftNetModule = _torch_modules()
        scales = maps.shape[1] // len(STREAMS)
        self.module = SoftNetModule(self.settings, scales, maps.shape[-1])
        loader = DataLoader(
            TensorDataset(torch.from_numpy(maps), torch.from_numpy(labels)),
            batch_size=self.settings.batch_size,
            shuffle=True,
            generator=torch.Generator().manual_seed(self.seed),
        )
        trainer = L.Trainer(
            max_epochs=self.settings.epochs,
            accelerator=self.settings.accelerator,
            devices=self.settings.devices,
            precision=self.settings.precision,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=self.settings.progress,
            enable_model_summary=False,
            deterministic=True,
        )
        log.info(
            "softnet: training on %d samples of %d video(s) (%d in expressions), %d epoch(s)",
            len(maps),
            len(videos),
            positives,
            self.settings.epochs,
        )
        on_cpu = self.settings.accelerator == "cpu" or not torch.cuda.is_available()
        with _cpu_threads(self.settings.cpu_threads, on_cpu):
            trainer.fit(self.module, loader)
        self.module.eval()
        if self.settings.peaks.calibrate:
            annotated = [video for video in videos if video.events]
            self._curves = {id(video): self.type_scores(video) for video in annotated}
            try:
                self.p, self.extent, self.training_f1 = calibrate(
                    annotated, self._predict, self.settings.peaks
                )
            finally:
                self._curves = {}

    # ------------------------------------------------------------------ prediction

    def type_scores(self, video: SpottingVideo) -> dict[str, np.ndarray]:
        """Per type, the smoothed probability (T,) that a frame lies in such an expression."""
        import torch

        cached = self._curves.get(id(video))
        if cached is not None:
            return cached
        if self.module is None:
            raise RuntimeError("softnet has not been trained: call fit(training videos) first")
        features = video.features
        maps = scaled_maps(features)
        device = next(self.module.parameters()).device
        outputs = []
        with torch.no_grad(), _cpu_threads(self.settings.cpu_threads, device.type == "cpu"):
            for start in range(0, len(maps), 4 * self.settings.batch_size):
                batch = torch.from_numpy(maps[start : start + 4 * self.settings.batch_size])
                outputs.append(torch.sigmoid(self.module(batch.to(device))).cpu().numpy())
        sampled = np.concatenate(outputs).astype(np.float64)
        # Back to every frame, linearly between the computed samples.
        position = np.arange(len(features)) / features.stride
        curves = {}
        for column, (kind, span) in enumerate(
            zip(EXPRESSION_TYPES, (features.k, features.k_macro), strict=True)
        ):
            values = np.interp(position, np.arange(len(sampled)), sampled[:, column])
            curves[kind] = moving_average(values, max(1, int(round(self.settings.smooth * span))))
        return curves

    def frame_scores(self, video: SpottingVideo) -> np.ndarray:
        curves = self.type_scores(video)
        return np.maximum.reduce([curves[kind] for kind in EXPRESSION_TYPES])

    def _predict(self, video: SpottingVideo, p: float, extent: float) -> list[Prediction]:
        features, peaks = video.features, self.settings.peaks
        curves = self.type_scores(video)
        candidates = []
        for kind, span in zip(EXPRESSION_TYPES, (features.k, features.k_macro), strict=True):
            candidates += curve_predictions(
                video,
                curves[kind],
                p,
                extent,
                distance=span,
                micro_max_seconds=peaks.micro_max_seconds,
                shrink=span // 2,
            )
        return suppress_overlaps(candidates, peaks.iou)

    def predict(self, video: SpottingVideo) -> list[Prediction]:
        return self._predict(video, self.p, self.extent)
