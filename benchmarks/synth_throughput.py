"""Synthesis throughput at 256x256 with the high-pass path: pipeline vs a naive loop.

Measures, on the same frames and the same networks (StarGAN v2 at 256x256, w_hpf=1, landmark
network on):

- each stage on its own (decode, crop, masks, generator, write), in ms per frame;
- networks only: masks + generator on frames already in memory, batched as the pipeline does;
- the pipeline: ``trainer.predict`` with DataLoader workers (decode + crop), batching,
  channels-last, ``inference_mode``, one style code per video and the writer thread - the code
  path ``infer.py`` runs;
- a naive loop: one frame at a time, style code recomputed for every frame, everything in
  sequence (what a per-frame use of the reference code does);
- FLOPs per frame (``torch.utils.flop_counter.FlopCounterMode``; convolutions and matrix
  products, 2 FLOPs per multiply-add) and the achieved GFLOP/s of the networks against the
  machine's fp32 peak, measured as the best of several large matrix products;
- peak memory per phase: resident set size of this process sampled every 10 ms on CPU (the
  DataLoader workers are separate processes and not included), ``max_memory_allocated`` on GPU.

Weights are random (throughput does not depend on their values) unless ``--ckpt`` is given.
Usage: ``python benchmarks/synth_throughput.py [--frames 16] [--batch-size 4] [--device cuda]``.
Prints markdown tables; ``--json PATH`` also saves the numbers.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import cv2
import lightning as L
import numpy as np
import torch
from omegaconf import OmegaConf
from torch.utils.flop_counter import FlopCounterMode

from mesynth.config import conf_dir
from mesynth.faces.align import FaceNotFoundError, estimate_crop
from mesynth.faces.crop import Crop
from mesynth.nets import build_nets
from mesynth.synthesis.networks import images_to_tensor
from mesynth.synthesis.output import SynthesisOutput, VideoRecord
from mesynth.synthesis.pipeline import make_trainer, speed_settings
from mesynth.synthesis.plan import VideoPlan
from mesynth.synthesis.predict import (
    SynthesisData,
    SynthesisModule,
    SynthesisWriter,
    tensor_to_images,
)
from mesynth.synthesis.references import prepare_reference
from mesynth.video.layouts import open_sources
from mesynth.video.writers import open_writer

IMG_SIZE = 256
FRAME_SIZE = 400  # source frames, like the demo clip


# --------------------------------------------------------------------------------------------
# Measuring helpers


class PeakMemory:
    """Peak memory during a ``with`` block: process RSS on CPU, allocator peak on GPU."""

    def __init__(self, device: torch.device):
        self.device = device
        self.peak_mib = 0.0

    @staticmethod
    def _rss_mib() -> float:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            return self
        self._stop = threading.Event()
        self.peak_mib = self._rss_mib()

        def sample() -> None:
            while not self._stop.wait(0.01):
                self.peak_mib = max(self.peak_mib, self._rss_mib())

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak_mib = torch.cuda.max_memory_allocated(self.device) / 2**20
        else:
            self._stop.set()
            self._thread.join()
            self.peak_mib = max(self.peak_mib, self._rss_mib())


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextmanager
def timed(store: dict, key: str, device: torch.device):
    sync(device)
    start = time.perf_counter()
    yield
    sync(device)
    store[key] = store.get(key, 0.0) + time.perf_counter() - start


def matmul_peak_gflops(device: torch.device, size: int, repeats: int = 6) -> float:
    """fp32 peak as the best of several ``size x size`` matrix products (2 n^3 FLOPs each)."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False  # fp32 peak, not TF32
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def count_gflops(nets, device: torch.device) -> dict[str, float]:
    x = torch.rand(1, 3, IMG_SIZE, IMG_SIZE, device=device) * 2 - 1
    domain = torch.zeros(1, dtype=torch.long, device=device)
    flops = {}
    with torch.inference_mode():
        with FlopCounterMode(display=False) as counter:
            masks = nets.fan.get_heatmap(x)
        flops["masks"] = counter.get_total_flops() / 1e9
        with FlopCounterMode(display=False) as counter:
            style = nets.style_encoder(x, domain)
        flops["style"] = counter.get_total_flops() / 1e9
        with FlopCounterMode(display=False) as counter:
            nets.generator(x, style, masks=masks)
        flops["generator"] = counter.get_total_flops() / 1e9
    return flops


# --------------------------------------------------------------------------------------------
# Data


def make_source(root: Path, frames: int) -> Path:
    """A SAMM-LV-style greyscale clip of the astronaut photo, drifting a pixel per frame."""
    from skimage.data import astronaut

    grey = cv2.cvtColor(astronaut(), cv2.COLOR_RGB2GRAY)
    folder = root / "900_1"
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(1, frames + 1):
        frame = cv2.resize(np.roll(grey, number, axis=1), (FRAME_SIZE, FRAME_SIZE))
        cv2.imwrite(str(folder / f"900_1_{number:05d}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, 95])
    return root


# --------------------------------------------------------------------------------------------
# The three ways of running


def run_naive(nets, source, crop, reference, frames, out_dir, device) -> dict:
    """Per frame: decode, crop, style code, masks, generator, write - nothing overlapped.

    ``nets`` are separate copies in the default memory layout, as a user would load them.
    """
    generator = nets["generator"].to(device)
    fan = nets["fan"].to(device)
    style_encoder = nets["style_encoder"].to(device)
    ref = images_to_tensor(torch.from_numpy(reference)[None]).contiguous().to(device)
    domain = torch.zeros(1, dtype=torch.long, device=device)
    writer = open_writer(
        "png", out_dir / "naive", source.frame_names[:frames], source.fps, (IMG_SIZE,) * 2
    )
    start = time.perf_counter()
    with torch.no_grad():
        for index in range(frames):
            image = crop.apply(source.read_frame(index), index)
            x = images_to_tensor(torch.from_numpy(image)[None]).contiguous().to(device)
            style = style_encoder(ref, domain)
            fake = generator(x, style, masks=fan.get_heatmap(x))
            writer.write(tensor_to_images(fake).cpu().numpy())
    writer.close()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "fps": frames / seconds}


def run_networks(module: SynthesisModule, images: torch.Tensor, batch_size: int, device) -> dict:
    """Masks + generator only, on cropped frames already in memory, batched like the pipeline."""
    module.to(device).on_predict_start()
    times: dict[str, float] = {}
    started = time.perf_counter()
    use_bf16 = module.bf16 and device.type == "cuda"
    with torch.inference_mode():
        warm = images_to_tensor(images[:batch_size].to(device))
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            content = module.encode(warm, module.fan.get_heatmap(warm))
            module.decode(content, module.style_codes[0].expand(len(warm), -1))
        sync(device)
        times["warm_up"] = time.perf_counter() - started
        for begin in range(0, len(images), batch_size):
            x = images_to_tensor(images[begin : begin + batch_size].to(device))
            style = module.style_codes[0].expand(len(x), -1)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
                with timed(times, "masks", device):
                    masks = module.fan.get_heatmap(x)
                with timed(times, "generator", device):
                    module.decode(module.encode(x, masks), style)
    seconds = times["masks"] + times["generator"]
    return {"seconds": seconds, "fps": len(images) / seconds, **times}


class FirstBatch(L.Callback):
    """Notes when the first batch reaches the networks (the end of the one-off start-up)."""

    def __init__(self) -> None:
        self.time: float | None = None

    def on_predict_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        if self.time is None:
            self.time = time.perf_counter()


def video_plan(name: str, source, crop: Crop, frames: int) -> VideoPlan:
    """One video to make, as infer.py plans it (style code 0, the crop already found)."""
    record = VideoRecord(
        name,
        source.participant,
        str(source.path),
        "skimage:astronaut",
        0,
        "fixed",
        frames,
        len(source),
    )
    video = VideoPlan(
        name,
        source,
        None,
        source.frame_names[:frames],
        source.frame_numbers[:frames],
        source.fps,
        record,
        style_index=0,
    )
    video.crop = crop
    return video


def run_pipeline(module, video: VideoPlan, args, out_dir: Path) -> dict:
    """``trainer.predict`` exactly as ``infer.py`` sets it up, timed around the predict call.

    ``fps`` counts from the first batch's arrival to the last frame written (steady state);
    ``startup_seconds`` is the one-off part before it (Lightning set-up, starting the workers,
    decoding the first batch), which a long video amortises.
    """
    accelerator = "gpu" if args.device == "cuda" else "cpu"
    output = SynthesisOutput(out_dir)
    png = {"png": {"compression": 1}}
    writer = SynthesisWriter(output, png, queue_size=8, progress=False)
    first = FirstBatch()
    trainer_cfg = {
        "trainer": {"accelerator": accelerator, "devices": 1},
        "output_dir": str(out_dir),
    }
    trainer = make_trainer(OmegaConf.create(trainer_cfg), [writer, first])
    # One batch first, untimed: kernels warm, and with --compile the graphs built for this
    # calling context (a one-off per run, minutes on CPU, reported by the networks-only turn).
    warm = video_plan("warm-up", video.source, video.crop, args.batch_size)

    def keep_crop(plan: VideoPlan) -> Crop:
        return plan.crop

    warm_writer = SynthesisWriter(output, png, queue_size=8, progress=False)
    make_trainer(OmegaConf.create(trainer_cfg), [warm_writer]).predict(
        module,
        datamodule=SynthesisData([warm], output, keep_crop, args.batch_size, 0, 2),
        return_predictions=False,
    )
    data = SynthesisData([video], output, keep_crop, args.batch_size, args.num_workers, 2)
    start = time.perf_counter()
    trainer.predict(module, datamodule=data, return_predictions=False)
    end = time.perf_counter()
    return {
        "seconds": end - start,
        "startup_seconds": first.time - start,
        "fps": video.num_frames / (end - first.time),
        "fps_with_startup": video.num_frames / (end - start),
    }


# --------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=16, help="frames for pipeline/networks")
    parser.add_argument("--naive-frames", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2, help="turns per run; best reported")
    parser.add_argument("--batch-size", default="auto", help="frames per batch or auto")
    parser.add_argument("--num-workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--channels-last", choices=["auto", "true", "false"], default="auto")
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--ckpt", default=None, help="official or mesynth checkpoint (optional)")
    parser.add_argument("--wing", default=None)
    parser.add_argument("--source", default=None, help="frame folder/dataset (default: generated)")
    parser.add_argument("--matmul-size", type=int, default=None)
    parser.add_argument("--json", default=None, help="also write the numbers here")
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    layout = args.channels_last if args.channels_last == "auto" else args.channels_last == "true"
    batch = args.batch_size if args.batch_size == "auto" else int(args.batch_size)
    # `auto` as infer.py resolves it, from the same table in conf/infer.yaml.
    speed = OmegaConf.create(
        {"batch_size": batch, "channels_last": layout}
        | {"auto": OmegaConf.load(conf_dir() / "infer.yaml").auto}
    )
    args.batch_size, args.channels_last = speed_settings(speed, device.type)
    torch.manual_seed(0)
    if args.ckpt:
        from mesynth.checkpoint import load_nets

        nets = load_nets(args.ckpt, wing=args.wing)
        if nets.fan is None or nets.config.img_size != IMG_SIZE:
            raise SystemExit(f"{args.ckpt}: this benchmark needs a 256x256 model with w_hpf > 0")
    else:
        nets = build_nets(img_size=IMG_SIZE, w_hpf=1.0)
    for name in ("generator", "style_encoder", "fan"):
        nets[name].eval().requires_grad_(False)

    load = os.getloadavg()[0]
    resident_mib = PeakMemory._rss_mib()
    work = Path(tempfile.mkdtemp(prefix="synth_throughput_"))
    source_root = Path(args.source) if args.source else make_source(work / "source", args.frames)
    source = open_sources(source_root)[0]
    frames = min(args.frames, len(source))
    try:
        started = time.perf_counter()
        crop = estimate_crop(source, "fixed", IMG_SIZE, progress=False)
        crop_estimate_s = time.perf_counter() - started
    except FaceNotFoundError:
        crop, crop_estimate_s = Crop.full_frame(source.frame_size, IMG_SIZE), 0.0
    reference = prepare_reference("skimage:astronaut", IMG_SIZE)

    peak = matmul_peak_gflops(device, args.matmul_size or (8192 if device.type == "cuda" else 2048))
    gflops = count_gflops(nets, device)
    flops_per_frame = gflops["masks"] + gflops["generator"]

    stages: dict[str, float] = {}
    with timed(stages, "decode", torch.device("cpu")):
        decoded = [source.read_frame(i) for i in range(frames)]
    with timed(stages, "crop", torch.device("cpu")):
        cropped = np.stack([crop.apply(frame, i) for i, frame in enumerate(decoded)])
    images = torch.from_numpy(cropped)

    with torch.inference_mode():
        ref = images_to_tensor(torch.from_numpy(reference)[None])
        style = nets.style_encoder(ref, torch.zeros(1, dtype=torch.long))
    naive_nets = {name: copy.deepcopy(nets[name]) for name in ("generator", "fan", "style_encoder")}
    module = SynthesisModule(
        nets.generator,
        nets.fan,
        style,
        channels_last=args.channels_last,
        bf16=args.bf16,
        compile=args.compile,
    )
    job = video_plan("900_1", source, crop, frames)

    # The three runs take turns, `repeats` times; the best of each is reported, so that a
    # passing load on a shared machine does not decide the comparison.
    best: dict[str, dict] = {}
    for repeat in range(args.repeats):
        for name in ("naive", "networks", "pipeline"):
            with PeakMemory(device) as memory:
                if name == "naive":
                    naive_dir = work / f"naive{repeat}"
                    result = run_naive(
                        naive_nets, source, crop, reference, args.naive_frames, naive_dir, device
                    )
                elif name == "networks":
                    result = run_networks(module, images, args.batch_size, device)
                else:
                    result = run_pipeline(module, job, args, work / "pipeline")
            peak_mib = max(memory.peak_mib, best.get(name, {}).get("peak_mib", 0.0))
            if name not in best or result["fps"] > best[name]["fps"]:
                best[name] = result
            best[name]["peak_mib"] = peak_mib
    naive, networks, pipeline = best["naive"], best["networks"], best["pipeline"]
    naive_memory, networks_memory, pipeline_memory = (
        SimpleNamespace(peak_mib=best[name]["peak_mib"])
        for name in ("naive", "networks", "pipeline")
    )
    stages["masks"], stages["generator"] = networks["masks"], networks["generator"]

    outputs = tensor_to_images(images_to_tensor(images)).numpy()  # frames of the right shape
    with timed(stages, "write", torch.device("cpu")):
        with open_writer("png", work / "write" / "w", job.frame_names, 200.0, (IMG_SIZE,) * 2) as w:
            w.write(outputs)

    networks_gflops = flops_per_frame * networks["fps"]
    results = {
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "torch_threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(),
            "load_average_at_start": load,
            "rss_mib_with_networks_loaded": resident_mib,
            "load_average_at_end": os.getloadavg()[0],
            "torch": torch.__version__,
        },
        "settings": vars(args) | {"frames": frames},
        "fp32_peak_gflops": peak,
        "gflop_per_frame": gflops,
        "crop_estimate_seconds": crop_estimate_s,
        "stage_ms_per_frame": {k: 1000 * v / frames for k, v in stages.items()},
        "naive": naive,
        "networks": networks | {"gflops": networks_gflops},
        "pipeline": pipeline,
    }
    speedup = pipeline["fps"] / naive["fps"]
    hidden = pipeline["fps"] / networks["fps"]
    efficiency = networks_gflops / peak
    results["goals"] = {
        "pipeline_vs_naive": speedup,
        "end_to_end_vs_networks": hidden,
        "networks_vs_fp32_peak": efficiency,
    }

    memory = "peak RSS MiB" if device.type == "cpu" else "peak GPU MiB"
    print(
        f"\n### Synthesis throughput, 256x256, w_hpf=1 ({results['machine']['device']}, "
        f"{torch.get_num_threads()} threads, load average {load:.1f})\n"
    )
    print(f"| run | frames | frames/s | {memory} |")
    print("| --- | ---: | ---: | ---: |")
    print(
        f"| naive loop (batch 1, style code per frame) | {args.naive_frames} | {naive['fps']:.3f} | {naive_memory.peak_mib:.0f} |"
    )
    print(
        f"| networks only (masks + generator, batch {args.batch_size}) | {frames} | {networks['fps']:.3f} | {networks_memory.peak_mib:.0f} |"
    )
    print(
        f"| pipeline (trainer.predict, {args.num_workers} workers, writer thread) | {frames} | {pipeline['fps']:.3f} | {pipeline_memory.peak_mib:.0f} |"
    )
    print(
        f"| pipeline incl. {pipeline['startup_seconds']:.1f} s one-off start-up | {frames} | {pipeline['fps_with_startup']:.3f} | |"
    )
    print("\n| stage | ms/frame |")
    print("| --- | ---: |")
    for key in ("decode", "crop", "masks", "generator", "write"):
        print(f"| {key} | {results['stage_ms_per_frame'][key]:.1f} |")
    print(
        f"\nFLOPs per frame: masks {gflops['masks']:.1f} + generator {gflops['generator']:.1f} "
        f"= {flops_per_frame:.1f} GFLOP (style encoder {gflops['style']:.1f} GFLOP per call). "
        f"fp32 peak (best {args.matmul_size or (8192 if device.type == 'cuda' else 2048)}^2 "
        f"matmul): {peak:.1f} GFLOP/s. One-off crop estimate: {crop_estimate_s:.2f} s. "
        f"Resident memory with the networks loaded, before the runs: {resident_mib:.0f} MiB. "
        f"First networks call (warm-up{', torch.compile' if args.compile else ''}): "
        f"{networks['warm_up']:.1f} s.\n"
    )
    print("| goal | target | measured |")
    print("| --- | ---: | ---: |")
    print(f"| pipeline vs naive | >= 1.25x | {speedup:.2f}x |")
    print(f"| end-to-end vs networks only | >= 85% | {100 * hidden:.0f}% |")
    print(
        f"| networks vs fp32 peak | >= 50% | {100 * efficiency:.0f}% ({networks_gflops:.1f} GFLOP/s) |"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
