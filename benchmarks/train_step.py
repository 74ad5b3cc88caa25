"""Training throughput: iterations/s and peak memory of StarGAN v2 training iterations.

One iteration is the full reference update (two discriminator and two generator updates plus
the EMA update), run through the real LightningModule and Trainer on random in-memory images,
so data loading is not measured. Prints a markdown table.

    python benchmarks/train_step.py                       # CPU, and the GPU when there is one
    python benchmarks/train_step.py --devices cuda --precision 32-true bf16-mixed 16-mixed
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import time
import warnings
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from mesynth.nets import LandmarkNetwork
from mesynth.training.module import StarGANModule

OPTIM = {"lr": 1e-4, "mapping_lr": 1e-6, "betas": [0.0, 0.99], "weight_decay": 1e-4}
LOSS = {
    "lambda_reg": 1.0,
    "lambda_sty": 1.0,
    "lambda_ds": 1.0,
    "ds_iter": 100000,
    "lambda_cyc": 1.0,
}


class RandomFaces(Dataset):
    """Random images in [-1, 1] with domain labels, shaped like the training batches."""

    def __init__(self, img_size: int, length: int, num_domains: int = 2) -> None:
        self.img_size, self.length, self.num_domains = img_size, length, num_domains

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        def image() -> torch.Tensor:
            return torch.rand(3, self.img_size, self.img_size) * 2 - 1

        return {
            "x_src": image(),
            "y_src": index % self.num_domains,
            "x_ref": image(),
            "x_ref2": image(),
            "y_ref": (index + 1) % self.num_domains,
        }


class Timer(L.Callback):
    """Wall time of the iterations after the warm-up ones."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.durations: list[float] = []
        self.started = 0.0

    def _sync(self, module: L.LightningModule) -> None:
        if module.device.type == "cuda":
            torch.cuda.synchronize(module.device)

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        self._sync(module)
        self.started = time.perf_counter()
        if module.device.type == "cuda" and module.iteration == self.warmup:
            torch.cuda.reset_peak_memory_stats(module.device)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self._sync(module)
        if module.iteration > self.warmup:
            self.durations.append(time.perf_counter() - self.started)


def peak_rss_gib() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def measure(args: argparse.Namespace, device: str, precision: str) -> dict:
    torch.manual_seed(0)
    net = {
        "img_size": args.img_size,
        "style_dim": 64,
        "latent_dim": 16,
        "max_conv_dim": args.max_conv_dim,
        "w_hpf": args.w_hpf,
    }
    total = args.warmup + args.iters
    module = StarGANModule(net, ["female", "male"], OPTIM, LOSS, total_iters=total)
    if module.fan is not None:
        # Random landmark weights cost the same time as the released ones.
        module.fan.load_state_dict(LandmarkNetwork().state_dict())
    loader = DataLoader(
        RandomFaces(args.img_size, args.batch_size * total),
        batch_size=args.batch_size,
        num_workers=0,
        drop_last=True,
    )
    timer = Timer(args.warmup)
    trainer = L.Trainer(
        accelerator="gpu" if device == "cuda" else "cpu",
        devices=1,
        precision=precision,
        max_epochs=-1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        benchmark=device == "cuda",
        callbacks=[timer],
    )
    trainer.fit(module, train_dataloaders=loader)
    seconds = sum(timer.durations) / len(timer.durations)
    if device == "cuda":
        memory = f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB (allocated)"
        name = torch.cuda.get_device_name()
    else:
        memory = f"{peak_rss_gib():.2f} GiB (process RSS)"
        name = f"CPU, {torch.get_num_threads()} threads"
    return {
        "device": name,
        "precision": precision,
        "it/s": 1.0 / seconds,
        "s/it": seconds,
        "images/s": args.batch_size / seconds,
        "memory": memory,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", nargs="+", default=None, help="cpu and/or cuda")
    parser.add_argument("--precision", nargs="+", default=["32-true"])
    parser.add_argument("--img-size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-conv-dim", type=int, default=512)
    parser.add_argument("--w-hpf", type=float, default=1.0)
    parser.add_argument("--iters", type=int, default=2, help="timed iterations")
    parser.add_argument("--warmup", type=int, default=1, help="untimed iterations first")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (torch)")
    parser.add_argument("--json", default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    logging.getLogger("lightning").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = args.devices or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    rows = []
    for device in devices:
        if device == "cuda" and not torch.cuda.is_available():
            sys.exit("--devices cuda given but no CUDA device is available")
        for precision in args.precision:
            if device == "cpu" and precision == "16-mixed":
                print("skipping 16-mixed on CPU (Lightning runs it as bf16-mixed)")
                continue
            print(f"measuring {device} {precision} ...", flush=True)
            rows.append(measure(args, device, precision))
    print(
        f"\nStarGAN v2 training, {args.img_size}x{args.img_size}, batch {args.batch_size}, "
        f"max_conv_dim {args.max_conv_dim}, w_hpf {args.w_hpf}; mean of {args.iters} "
        f"iterations after {args.warmup} warm-up\n"
    )
    print("| device | precision | iterations/s | s/iteration | images/s | peak memory |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['device']} | {row['precision']} | {row['it/s']:.3f} | {row['s/it']:.2f} | "
            f"{row['images/s']:.2f} | {row['memory']} |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
