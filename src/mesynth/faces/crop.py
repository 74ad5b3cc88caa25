"""The face crop of one video: how source frames map to the network's square input.

A :class:`Crop` is what synthesis saves per video (``<output_dir>/crops/<video>.json``) and what
evaluation reads back to crop the original frames exactly as the synthetic ones were made.
Every mode is a 2x3 affine matrix from source pixel coordinates to crop pixel coordinates:
``none`` scales the whole frame, ``fixed`` holds one matrix for the video, ``tracked`` one per
frame.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from mesynth.atomic import write_atomically
from mesynth.config import check_choice

CROP_MODES = ("none", "fixed", "tracked")


@dataclass
class Crop:
    mode: str
    output_size: int
    source_size: tuple[int, int]  # (height, width) of the source frames
    matrix: list[list[float]] | None = None  # 2x3, modes none and fixed
    matrices: list[list[list[float]]] | None = None  # per frame 2x3, mode tracked
    meta: dict = field(default_factory=dict)  # e.g. landmark count, sampled frames

    def __post_init__(self) -> None:
        check_choice("crop mode", self.mode, CROP_MODES)
        if self.mode == "tracked":
            if not self.matrices:
                raise ValueError("a tracked crop needs one matrix per frame (`matrices`)")
        elif self.matrix is None:
            raise ValueError(f"a {self.mode!r} crop needs its 2x3 `matrix`")
        self.source_size = (int(self.source_size[0]), int(self.source_size[1]))

    @classmethod
    def full_frame(cls, source_size: tuple[int, int], output_size: int) -> Crop:
        """Mode ``none``: the whole frame scaled (not cropped) to ``output_size``."""
        height, width = source_size
        matrix = [[output_size / width, 0.0, 0.0], [0.0, output_size / height, 0.0]]
        return cls("none", output_size, (height, width), matrix=matrix)

    def matrix_for(self, frame_index: int) -> np.ndarray:
        if self.mode == "tracked":
            if not 0 <= frame_index < len(self.matrices):
                raise IndexError(
                    f"tracked crop has {len(self.matrices)} frames, asked for frame {frame_index}"
                )
            return np.asarray(self.matrices[frame_index], dtype=np.float64)
        return np.asarray(self.matrix, dtype=np.float64)

    def apply(self, frame: np.ndarray, frame_index: int = 0) -> np.ndarray:
        """Crop one HxWxC uint8 frame to ``output_size`` x ``output_size``."""
        if frame.shape[:2] != self.source_size:
            raise ValueError(
                f"frame {frame_index} is {frame.shape[1]}x{frame.shape[0]} but this crop was made "
                f"for {self.source_size[1]}x{self.source_size[0]} frames; recompute the crop "
                "(delete its json) for this video"
            )
        size = self.output_size
        if self.mode == "none":
            interpolation = cv2.INTER_AREA if size < min(self.source_size) else cv2.INTER_LINEAR
            return cv2.resize(frame, (size, size), interpolation=interpolation)
        return cv2.warpAffine(
            frame,
            self.matrix_for(frame_index),
            (size, size),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )

    def to_dict(self) -> dict:
        return {
            "mode": self.mode,
            "output_size": self.output_size,
            "source_size": list(self.source_size),
            "matrix": self.matrix,
            "matrices": self.matrices,
            "meta": self.meta,
        }

    def save(self, path: str | Path) -> None:
        text = json.dumps(self.to_dict())
        write_atomically(path, lambda partial: partial.write_text(text))

    @classmethod
    def from_dict(cls, data: dict) -> Crop:
        return cls(
            mode=data["mode"],
            output_size=int(data["output_size"]),
            source_size=tuple(data["source_size"]),
            matrix=data.get("matrix"),
            matrices=data.get("matrices"),
            meta=data.get("meta") or {},
        )

    @classmethod
    def load(cls, path: str | Path) -> Crop:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"crop file {path} not found; synthesis writes one per video under "
                "<output_dir>/crops/ - point evaluation at the synthesis output_dir"
            )
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except (KeyError, ValueError, TypeError) as error:
            raise ValueError(f"crop file {path} is not a valid mesynth crop: {error}") from error
