"""AU intensities by running OpenFace 2.x ``FeatureExtraction`` on both sides' frames.

Each side of each video is written as a numbered PNG sequence (originals cropped and scaled to
the synthetic size first), handed to ``FeatureExtraction -fdir <frames> -aus`` with the same
static/dynamic AU mode for both sides, and its CSV is cached in ``cache_dir/<side>/<video>.csv``
next to a record of how it was made, so a re-run reuses it.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import cv2
from tqdm import tqdm

from mesynth.config import check_choice
from mesynth.evaluation.au.base import FrameBackend
from mesynth.evaluation.au.openface_csv import read_openface_csv
from mesynth.evaluation.common import EvaluationInputError
from mesynth.evaluation.frames import VideoPair

log = logging.getLogger(__name__)

MODES = ("dynamic", "static")


def find_binary(binary: str) -> Path:
    """The FeatureExtraction executable: a path, or a name looked up on PATH."""
    candidate = Path(binary).expanduser()
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return candidate.resolve()
    found = shutil.which(binary)
    if found is None:
        raise EvaluationInputError(
            f"OpenFace FeatureExtraction not found: au.binary={binary!r} is neither an executable "
            "file nor a command on PATH. Install OpenFace 2.x and set "
            "au.binary=/path/to/OpenFace/build/bin/FeatureExtraction, or use the built-in "
            "au=landmarks, or au=openface_csv with CSVs you already have"
        )
    return Path(found)


class OpenFaceBackend(FrameBackend):
    """Runs OpenFace FeatureExtraction (``-aus`` only) on the frames of both sides."""

    name = "openface"
    progress = "OpenFace"

    def __init__(
        self,
        cache_dir: str | Path,
        binary: str = "FeatureExtraction",
        mode: str = "dynamic",
        extra_args: list[str] | tuple[str, ...] = (),
    ) -> None:
        check_choice("au.mode", mode, MODES, EvaluationInputError)
        super().__init__(cache_dir)
        self.binary = binary
        self.mode = mode
        self.extra_args = [str(arg) for arg in extra_args]
        self.found_binary: Path | None = None

    def prepare(self) -> None:
        self.found_binary = find_binary(self.binary)

    def settings(self) -> dict:
        return {"binary": str(self.found_binary), "mode": self.mode, "extra_args": self.extra_args}

    def command(self, binary: Path, frames_dir: Path, out_dir: Path, video_id: str) -> list[str]:
        """The FeatureExtraction call for one frame folder."""
        command = [str(binary), "-fdir", str(frames_dir), "-out_dir", str(out_dir)]
        command += ["-of", video_id, "-aus"]
        if self.mode == "static":
            command.append("-au_static")
        return command + self.extra_args

    def write_csv(self, pair: VideoPair, side: str, path: Path) -> None:
        """Run OpenFace on one side of one video, its frames written as a PNG sequence."""
        with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{pair.video_id}-") as work:
            frames_dir, out_dir = Path(work) / "frames", Path(work) / "out"
            frames_dir.mkdir()
            write_png_sequence(pair, side, frames_dir)
            command = self.command(self.found_binary, frames_dir, out_dir, pair.video_id)
            log.info("%s %s: %s", pair.video_id, side, " ".join(command))
            log_path = path.with_suffix(".log")
            with open(log_path, "w") as log_file:
                result = subprocess.run(
                    command, stdout=log_file, stderr=subprocess.STDOUT, check=False
                )
            produced = out_dir / f"{pair.video_id}.csv"
            if result.returncode != 0 or not produced.is_file():
                raise EvaluationInputError(
                    f"OpenFace failed on the {side} frames of {pair.video_id} (exit code "
                    f"{result.returncode}, no {produced.name} written); its output is in "
                    f"{log_path}. Command: {' '.join(command)}"
                )
            table = read_openface_csv(produced)
            if len(table) != len(pair):
                raise EvaluationInputError(
                    f"OpenFace wrote {len(table)} rows for the {len(pair)} {side} frames of "
                    f"{pair.video_id} (see {log_path}); check the OpenFace installation"
                )
            os.replace(produced, path)


def write_png_sequence(pair: VideoPair, side: str, frames_dir: Path) -> None:
    """One side's frames as zero-padded PNGs (OpenFace reads a folder in name order)."""
    for index, frame in tqdm(
        pair.frames(side),
        total=len(pair),
        desc=f"frames {side} {pair.video_id}",
        unit="frame",
        leave=False,
    ):
        image = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        cv2.imwrite(str(frames_dir / f"{index:07d}.png"), image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
