"""Where one synthesis process spends its time per frame, and how the parts scale.

Four sections (``--only`` picks some), on SAMM-LV-sized source frames (2040x1088 greyscale JPEG,
generated), a fixed 256 px face crop and the StarGAN v2 networks at 256x256 with the high-pass
path (random weights: the speed does not depend on their values):

- ``stages``: ms per frame of decode, crop, masks (landmark network), generator (its encoder and
  its style decoder), style (one style-encoder call, made once per (video, reference)) and write
  (PNG, one thread), and the frames/s ceiling each stage alone sets (1000 / ms);
- ``writer``: PNG frames/s of 256 px frames against ``writer.threads`` (the bytes are checked to
  be the same for every thread count);
- ``workers``: decode + crop frames/s against DataLoader workers, reading as synthesis reads
  (``FrameBatches``);
- ``identities``: K identities of one source video in one pass (``trainer.predict`` as
  ``infer.py`` runs it, ``reference.per_video=K``) against K runs of one identity each, the two
  taking turns; wall time of each predict call, Lightning start-up and workers included.

Usage: ``python benchmarks/synth_scale.py [--only stages writer] [--device cuda] [--json OUT]``.
Prints markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import torch
from omegaconf import OmegaConf
from torch.utils.data import DataLoader

from mesynth.config import resolve_num_workers
from mesynth.faces.crop import Crop
from mesynth.nets import build_nets
from mesynth.synthesis.networks import images_to_tensor
from mesynth.synthesis.output import SynthesisOutput, VideoRecord
from mesynth.synthesis.pipeline import make_trainer
from mesynth.synthesis.plan import VideoPlan
from mesynth.synthesis.predict import (
    FrameBatches,
    SynthesisData,
    SynthesisModule,
    SynthesisWriter,
    batches_of,
    shard_pieces,
    source_jobs,
    tensor_to_images,
)
from mesynth.synthesis.references import prepare_reference
from mesynth.video.layouts import open_sources
from mesynth.video.writers import open_writer

IMG_SIZE = 256
SAMM_SIZE = (1088, 2040)  # (height, width) of SAMM-LV frames
SECTIONS = ("stages", "writer", "workers", "identities")
CPU = torch.device("cpu")


# --------------------------------------------------------------------------------------------
# Data and helpers


def make_samm_video(root: Path, frames: int) -> Path:
    """``root/900_1/900_1_NNNNN.jpg``: the astronaut's face on a textured 2040x1088 grey frame,
    drifting a pixel per frame (greyscale JPEG, quality 95, like SAMM-LV)."""
    from skimage.data import astronaut

    height, width = SAMM_SIZE
    face = cv2.resize(cv2.cvtColor(astronaut(), cv2.COLOR_RGB2GRAY), (600, 600))
    rng = np.random.default_rng(0)
    canvas = cv2.GaussianBlur(rng.integers(60, 200, SAMM_SIZE, dtype=np.uint8), (0, 0), 3)
    top, left = (height - 600) // 2, (width - 600) // 2
    canvas[top : top + 600, left : left + 600] = face
    folder = root / "900_1"
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(1, frames + 1):
        frame = np.roll(canvas, number, axis=1)
        path = folder / f"900_1_{number:05d}.jpg"
        cv2.imwrite(str(path), frame, [cv2.IMWRITE_JPEG_QUALITY, 95])
    return root


def face_crop() -> Crop:
    """A fixed crop of the 600 px face square to 256 px (what ``crop=fixed`` finds, roughly)."""
    height, width = SAMM_SIZE
    scale = IMG_SIZE / 600
    left, top = (width - 600) // 2, (height - 600) // 2
    matrix = [[scale, 0.0, -left * scale], [0.0, scale, -top * scale]]
    return Crop("fixed", IMG_SIZE, SAMM_SIZE, matrix=matrix)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextmanager
def timed(store: dict, key: str, device: torch.device = CPU):
    sync(device)
    start = time.perf_counter()
    yield
    sync(device)
    store[key] = store.get(key, 0.0) + time.perf_counter() - start


def video_plan(name: str, source, crop: Crop, frames: int, style_index: int) -> VideoPlan:
    """One synthetic video of ``source``, as the plan makes it (crop already found)."""
    record = VideoRecord(name, "900", str(source.path), "ref", 0, "fixed", frames, len(source))
    video = VideoPlan(
        name,
        source,
        None,
        source.frame_names[:frames],
        source.frame_numbers[:frames],
        source.fps,
        record,
        style_index=style_index,
    )
    video.crop = crop
    return video


def networks(device: torch.device):
    torch.manual_seed(0)
    nets = build_nets(img_size=IMG_SIZE, w_hpf=1.0)
    for name in ("generator", "style_encoder", "fan"):
        nets[name].eval().requires_grad_(False).to(device)
    return nets


# --------------------------------------------------------------------------------------------
# Sections


def bench_stages(args, source, crop, nets, device, work: Path) -> dict:
    """ms per frame of every stage, each timed on its own."""
    times: dict[str, float] = {}
    count = min(args.frames, len(source))
    frames_read, cropped = iter(source.iter_frames(0, count)), []  # as synthesis reads
    for _ in range(count):  # only the crops are kept, as in synthesis
        with timed(times, "decode"):
            index, frame = next(frames_read)
        with timed(times, "crop"):
            cropped.append(crop.apply(frame, index))
    images = torch.from_numpy(np.stack(cropped))
    reference = images_to_tensor(
        torch.from_numpy(prepare_reference("skimage:astronaut", 256))[None]
    )
    domain = torch.zeros(1, dtype=torch.long, device=device)
    net_frames, batch = min(args.net_frames, count), args.batch_size
    use_bf16 = args.bf16 and device.type == "cuda"
    outputs = []
    with torch.inference_mode(), torch.autocast(device.type, torch.bfloat16, enabled=use_bf16):
        style = nets.style_encoder(reference.to(device), domain)  # warm-up
        with timed(times, "style", device):
            style = nets.style_encoder(reference.to(device), domain)
        warm = images_to_tensor(images[:batch].to(device)).contiguous()
        nets.generator(warm, style.expand(len(warm), -1), masks=nets.fan.get_heatmap(warm))
        for begin in range(0, net_frames, batch):
            x = images_to_tensor(images[begin : min(begin + batch, net_frames)].to(device))
            x, styles = x.contiguous(), style.expand(len(x), -1)
            with timed(times, "masks", device):
                masks = nets.fan.get_heatmap(x)
            with timed(times, "encoder", device):
                content = nets.generator.encode_content(x, masks)
            with timed(times, "decoder", device):
                fake = nets.generator.decode_style(content, styles)
            outputs.extend(tensor_to_images(fake).cpu().numpy())
    frames = np.stack([outputs[i % len(outputs)] for i in range(count)])
    names = source.frame_names[:count]
    with timed(times, "write"):
        with open_writer("png", work / "stages", names, 200.0, (IMG_SIZE,) * 2, threads=1) as w:
            w.write(frames)
    per_frame = {key: times[key] / count for key in ("decode", "crop", "write")}
    per_frame |= {key: times[key] / net_frames for key in ("masks", "encoder", "decoder")}
    per_frame["generator"] = per_frame["encoder"] + per_frame["decoder"]
    per_frame["style"] = times["style"]  # per call: once per (video, reference)
    ms = {key: 1000 * value for key, value in per_frame.items()}
    return {"frames": count, "network_frames": net_frames, "ms_per_frame": ms}


def bench_writer(args, frames: np.ndarray, work: Path) -> dict:
    """PNG frames/s against writer threads; every thread count must write the same bytes."""
    names = [f"f{i:05d}" for i in range(len(frames))]
    results, reference_bytes = {}, None
    for threads in args.writer_threads:
        folder = work / f"writer{threads}"
        start = time.perf_counter()
        with open_writer("png", folder, names, 200.0, (IMG_SIZE,) * 2, threads=threads) as w:
            for begin in range(0, len(frames), 16):
                w.write(frames[begin : begin + 16])
        seconds = time.perf_counter() - start
        written = [p.read_bytes() for p in sorted(folder.iterdir())]
        if reference_bytes is None:
            reference_bytes = written
        elif written != reference_bytes:
            raise SystemExit(f"writer.threads={threads} wrote other bytes than one thread")
        results[threads] = len(frames) / seconds
    return {"frames": len(frames), "frames_per_second": results}


def bench_workers(args, source, crop) -> dict:
    """decode + crop frames/s against DataLoader workers, reading like synthesis; counted from
    the first batch's arrival (starting the workers is a one-off, reported apart)."""
    count = min(args.frames, len(source))
    jobs = source_jobs([video_plan("900_1", source, crop, count, 0)])
    batches = batches_of(shard_pieces([count], 0, 1), args.batch_size)
    results, startup = {}, {}
    for workers in args.workers:
        if workers:
            cv2.setNumThreads(1)  # as SynthesisData: OpenCV's pool does not survive fork
        extra = {"prefetch_factor": 2} if workers else {}
        loader = DataLoader(
            FrameBatches(jobs, batches), batch_size=None, num_workers=workers, **extra
        )
        start = time.perf_counter()
        items = iter(loader)
        frames = len(next(items)["frames"])
        first = time.perf_counter()
        frames = sum(len(item["frames"]) for item in items)  # after the first batch
        results[workers] = frames / (time.perf_counter() - first)
        startup[workers] = first - start
    cv2.setNumThreads(-1)
    return {
        "frames": count,
        "batch_size": args.batch_size,
        "frames_per_second": results,
        "first_batch_seconds": startup,
    }


def predict_seconds(module, videos, args, out: Path) -> float:
    """Wall seconds of one ``trainer.predict`` over ``videos`` (PNG, writer threads auto)."""
    accelerator = "gpu" if args.device == "cuda" else "cpu"
    trainer_cfg = {"trainer": {"accelerator": accelerator, "devices": 1}, "output_dir": str(out)}
    writer = SynthesisWriter(
        SynthesisOutput(out), {"png": {"threads": "auto"}}, queue_size=8, progress=False
    )
    trainer = make_trainer(OmegaConf.create(trainer_cfg), [writer])
    output, workers = SynthesisOutput(out), args.loader_workers
    data = SynthesisData(videos, output, lambda job: job.crop, args.batch_size, workers, 2)
    start = time.perf_counter()
    trainer.predict(module, datamodule=data, return_predictions=False)
    return time.perf_counter() - start


def bench_identities(args, source, crop, nets, device, work: Path) -> dict:
    """K identities in one pass against K runs of one identity, taking turns."""
    k, count = args.identities, min(args.identity_frames, len(source))
    with torch.inference_mode():
        references = torch.rand(k, 3, IMG_SIZE, IMG_SIZE, device=device) * 2 - 1
        codes = nets.style_encoder(references, torch.zeros(k, dtype=torch.long, device=device))
    module = SynthesisModule(
        nets.generator, nets.fan, codes, args.channels_last, args.bf16, args.compile
    )
    # Untimed warm-up: kernels (and with --compile the graphs) for this calling context.
    predict_seconds(module, [video_plan("warm", source, crop, args.batch_size, 0)], args, work)
    best = {"one_pass": float("inf"), "separate_runs": float("inf")}
    for turn in range(args.repeats):
        out = work / f"identities{turn}"
        together = [video_plan(f"900_1_{i}", source, crop, count, i) for i in range(k)]
        best["one_pass"] = min(best["one_pass"], predict_seconds(module, together, args, out))
        alone = 0.0
        for i in range(k):
            video = video_plan(f"alone_{i}", source, crop, count, i)
            alone += predict_seconds(module, [video], args, out / f"alone{i}")
        best["separate_runs"] = min(best["separate_runs"], alone)
    made = count * k
    return {
        "identities": k,
        "frames_per_identity": count,
        "seconds": best,
        "frames_per_second": {key: made / seconds for key, seconds in best.items()},
        "speedup": best["separate_runs"] / best["one_pass"],
    }


# --------------------------------------------------------------------------------------------
# Report


def modelled_split(ms: dict, k: int) -> dict:
    """ms per source frame of K identities: one pass against K runs, from the stage costs."""
    shared = ms["decode"] + ms["crop"] + ms["masks"] + ms["encoder"]
    per_identity = ms["decoder"] + ms["write"]
    return {"one_pass": shared + k * per_identity, "separate_runs": k * (shared + per_identity)}


def print_report(results: dict, args) -> None:
    machine = results["machine"]
    print(
        f"\n### Synthesis stages and scaling ({machine['device']}, {machine['torch_threads']} "
        f"torch threads, {machine['cpu_count']} cores, load average {machine['load']:.1f})\n"
    )
    if "stages" in results:
        ms = results["stages"]["ms_per_frame"]
        batch = results["settings"]["batch_size"]
        print(f"| stage (networks in batches of {batch}) | ms/frame | frames/s ceiling |")
        print("| --- | ---: | ---: |")
        for key in ("decode", "crop", "masks", "encoder", "decoder", "generator", "write"):
            print(f"| {key} | {ms[key]:.1f} | {1000 / ms[key]:.3g} |")
        print(f"| style (per video and reference) | {ms['style']:.1f} per call | |")
    if "writer" in results:
        fps = results["writer"]["frames_per_second"]
        print("\n| writer.threads | PNG frames/s (256 px) |\n| ---: | ---: |")
        for threads, value in fps.items():
            print(f"| {threads} | {value:.0f} |")
    if "workers" in results:
        fps = results["workers"]["frames_per_second"]
        first = results["workers"]["first_batch_seconds"]
        print("\n| loader workers | decode + crop frames/s | first batch s |")
        print("| ---: | ---: | ---: |")
        for workers, value in fps.items():
            print(f"| {workers} | {value:.1f} | {first[workers]:.2f} |")
    if "identities" in results:
        ident = results["identities"]
        k, fps = ident["identities"], ident["frames_per_second"]
        print(f"\n| K = {k} identities | seconds | frames/s |\n| --- | ---: | ---: |")
        for key in ("one_pass", "separate_runs"):
            print(f"| {key.replace('_', ' ')} | {ident['seconds'][key]:.1f} | {fps[key]:.2f} |")
        print(f"\nOne pass against {k} runs: **{ident['speedup']:.2f}x** (goal >= 1.5x).")
        if "stages" in results:
            model = modelled_split(results["stages"]["ms_per_frame"], k)
            ratio = model["separate_runs"] / model["one_pass"]
            print(
                f"Modelled from the stage costs: {model['one_pass']:.0f} ms against "
                f"{model['separate_runs']:.0f} ms per source frame ({ratio:.2f}x)."
            )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--frames", type=int, default=16, help="source frames to generate")
    parser.add_argument("--net-frames", type=int, default=3, help="frames through the networks")
    parser.add_argument("--writer-frames", type=int, default=64)
    parser.add_argument("--writer-threads", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--identities", type=int, default=4)
    parser.add_argument("--identity-frames", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=1, help="turns of the identities runs")
    parser.add_argument("--batch-size", type=int, default=None, help="default: 16 GPU, 1 CPU")
    parser.add_argument("--loader-workers", default="auto", help="workers of the identities runs")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    parser.add_argument("--json", default=None, help="also write the numbers here")
    args = parser.parse_args()
    cuda = args.device == "cuda"
    args.batch_size = args.batch_size or (16 if cuda else 1)  # infer.yaml's `auto`
    args.channels_last = cuda
    args.loader_workers = resolve_num_workers(args.loader_workers)
    return args


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    load = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="synth_scale_"))
    frames_needed = max(args.frames, args.identity_frames, args.batch_size)
    source = open_sources(make_samm_video(work / "source", frames_needed))[0]
    crop = face_crop()
    nets = networks(device)
    results: dict = {
        "machine": {
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "torch_threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(),
            "load": load,
            "torch": torch.__version__,
        },
        "settings": vars(args),
    }
    if "stages" in args.only:
        results["stages"] = bench_stages(args, source, crop, nets, device, work)
    if "writer" in args.only:
        cropped = [crop.apply(source.read_frame(i), i) for i in range(min(8, len(source)))]
        frames = np.stack([cropped[i % len(cropped)] for i in range(args.writer_frames)])
        results["writer"] = bench_writer(args, frames, work)
    if "workers" in args.only:
        results["workers"] = bench_workers(args, source, crop)
    if "identities" in args.only:
        results["identities"] = bench_identities(args, source, crop, nets, device, work)
    results["machine"]["load_at_end"] = os.getloadavg()[0]
    print_report(results, args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
