"""Small data makers for the evaluation tests: OpenFace-style CSVs and synthesis outputs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from mesynth.evaluation.common import INTENSITY_AUS
from mesynth.faces.crop import Crop
from mesynth.synthesis.output import Manifest, SynthesisOutput, VideoRecord

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


def evaluation_config(overrides: list[str]) -> DictConfig:
    """The real conf/evaluate.yaml with overrides (set output_dir: there is no Hydra run)."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="evaluate", overrides=overrides)


def au_table(
    series: dict[str, np.ndarray],
    success: np.ndarray | None = None,
    confidence: np.ndarray | None = None,
) -> pd.DataFrame:
    """An OpenFace FeatureExtraction table holding the given intensity series."""
    n_frames = len(next(iter(series.values())))
    table = pd.DataFrame(
        {
            "frame": np.arange(1, n_frames + 1),
            "face_id": 0,
            "timestamp": np.arange(n_frames) / 200.0,
            "confidence": np.full(n_frames, 0.98) if confidence is None else confidence,
            "success": np.ones(n_frames, dtype=int) if success is None else success,
        }
    )
    for au, values in series.items():
        table[f"{au}_r"] = values
    for au in series:
        table[f"{au}_c"] = (np.asarray(series[au]) > 1).astype(int)
    return table


def write_au_csv(path: Path, table: pd.DataFrame, leading_space: bool = False) -> Path:
    """Write like OpenFace does; ``leading_space`` mimics older versions' ``", AU01_r"`` headers."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = table.to_csv(index=False, float_format="%.5f")
    if leading_space:
        header, rest = text.split("\n", 1)
        text = ", ".join(header.split(",")) + "\n" + rest
    path.write_text(text)
    return path


def correlated(rng: np.random.Generator, n: int, rho: float) -> tuple[np.ndarray, np.ndarray]:
    """Two series whose population correlation is ``rho``."""
    x = rng.standard_normal(n)
    y = rho * x + np.sqrt(1 - rho**2) * rng.standard_normal(n)
    return x + 2.0, 0.5 * y + 1.0


def make_csv_dataset(
    root: Path, videos: dict[str, float], n_frames: int = 120, seed: int = 0
) -> dict:
    """original/ and synthetic/ folders of OpenFace CSVs; per video one correlation level.

    Returns the tables by video as (original, synthetic) DataFrames.
    """
    rng = np.random.default_rng(seed)
    aus = ["AU01", "AU04", "AU12", "AU45"]
    tables = {}
    for video, rho in videos.items():
        original, synthetic = {}, {}
        for index, au in enumerate(aus):
            x, y = correlated(rng, n_frames, max(-0.95, min(0.95, rho - 0.1 * index)))
            original[au], synthetic[au] = x, y
        success = np.ones(n_frames, dtype=int)
        success[rng.choice(n_frames, 5, replace=False)] = 0
        pair = (au_table(original, success=success), au_table(synthetic))
        write_au_csv(root / "original" / f"{video}.csv", pair[0], leading_space=True)
        write_au_csv(root / "synthetic" / f"{video}.csv", pair[1])
        tables[video] = pair
    return tables


def textured_image(size: int = 128, seed: int = 0) -> np.ndarray:
    """A smooth random texture (uint8 greyscale) that optical flow can lock onto."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((size, size)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), 3.0)
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    return (smooth * 255).astype(np.uint8)


def write_frame_pair(
    root: Path, original: list[np.ndarray], synthetic: list[np.ndarray], first: int = 1
):
    """A :class:`VideoPair` "v" of PNG frame folders numbered from ``first``, no crop."""
    from mesynth.evaluation.frames import VideoPair
    from mesynth.video.layouts import open_sources

    for side, frames in (("original", original), ("synthetic", synthetic)):
        folder = root / side / "v"
        folder.mkdir(parents=True, exist_ok=True)
        for number, frame in enumerate(frames, start=first):
            cv2.imwrite(str(folder / f"{number:04d}.png"), frame)
    sources = [
        open_sources(root / side / "v", layout="folder")[0] for side in ("original", "synthetic")
    ]
    return VideoPair("v", *sources, None, len(synthetic))


def write_synthesis_output(
    root: Path,
    video_id: str,
    frames: list[np.ndarray],
    frame_names: list[str],
    crop: Crop,
    annotations: pd.DataFrame | None = None,
    source_video: str | None = None,
) -> Path:
    """A folder laid out like `python infer.py` output: PNG frames, crop, manifest, annotations."""
    video_dir = root / video_id
    video_dir.mkdir(parents=True, exist_ok=True)
    for name, frame in zip(frame_names, frames, strict=True):
        image = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        cv2.imwrite(str(video_dir / f"{name}.png"), image)
    output = SynthesisOutput(root)
    crop.save(output.crop_path(video_id))
    source = source_video or video_id
    record = VideoRecord(
        source_video=source,
        participant=source.split("_")[0],
        source=str(root / "source" / source),
        reference="skimage:astronaut",
        domain=0,
        strategy="fixed",
        frames=len(frames),
        source_frames=len(frames),
        status="done",
        frames_written=len(frames),
    )
    previous = output.read_manifest()
    manifest = previous or Manifest(checkpoint={"path": None, "sha256": None})
    manifest.videos[video_id] = record
    output.write_manifest(manifest)
    if annotations is not None:
        annotations.to_csv(root / "annotations.csv", index=False)
    return root


__all__ = [
    "INTENSITY_AUS",
    "evaluation_config",
    "au_table",
    "correlated",
    "make_csv_dataset",
    "textured_image",
    "write_au_csv",
    "write_frame_pair",
    "write_synthesis_output",
]
