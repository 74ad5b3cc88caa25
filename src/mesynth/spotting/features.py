"""Motion features for spotting: optical flow, region statistics and maps of one video.

For every frame, optical flow between the frames ``k/2`` before and ``k/2`` after it (a pair
``k`` frames apart, centred on the frame) on the aligned face crop, greyscale, ``size`` pixels:

- in regions of interest (brows, eyes, mouth; :mod:`mesynth.spotting.roi`), from the median
  68 landmarks of a few frames of the crop;
- with global head motion removed: the nose bridge's (median) flow is subtracted;
- summarised per region as the mean of its largest ``top_share`` of flow magnitudes (motion)
  and of optical strain magnitudes (strain), as MDMD keeps the largest third of a block, and
  as the mean flow vector of each cell of a 2 x 2 grid over the region (vectors: where the
  region moves, which ``flow_peaks`` follows over time);
- at two time scales: ``k`` (micro) and ``k_macro``. By default ``k`` is half the typical
  micro-expression length at the video's frame rate (``micro_seconds``: 0.4 s gives k = 40 at
  200 fps, 6 at 30 fps, as SOFTNet's k of 37 on SAMM-LV and 6 on CAS(ME)^2), ``k_macro`` half
  the typical macro-expression length (``macro_seconds``: 1.5 s gives 152 at 200 fps, 22 at
  30 fps);
- optionally (``maps``) flow maps for a CNN: |u|, |v| (head motion removed) and strain of the
  brow/eye band over the mouth, ``map_size`` square, per scale (no built-in spotter reads them;
  ``spotter=softnet`` computes SOFTNet's own features, :mod:`mesynth.spotting.softnet`).

High frame rates are sampled down to at most ``max_fps`` (SAMM-LV's 200 fps: every 4th frame;
30 fps: every frame); ``k`` is then a multiple of the step, and the rows of the frames between
samples are interpolated. Expressions last 0.2 s or more, ten samples and more at 50 fps.

Rows follow the source's frames: row ``t`` is frame ``frame_numbers[t]`` (the number in its
file name). The first and last ``k/2`` rows, which have no centred pair, repeat the nearest
row that has one (their flow vectors are zero instead: no motion is known there).

:func:`compute_features` computes one video in this process, without a cache;
:func:`mesynth.spotting.feature_cache.compute_many` computes many, cached and in worker
processes.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import cv2
import numpy as np

from mesynth.atomic import write_atomically
from mesynth.config import choice_problem
from mesynth.imaging import FarnebackParams, farneback, to_grey
from mesynth.spotting.roi import REFERENCE, Rois, find_rois

log = logging.getLogger(__name__)

# Bump when the features computed for the same settings change, so old cache files are unused.
FEATURES_VERSION = 3
FLOW_METHODS = ("farneback", "dis")
DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
MAP_STREAMS = ("u", "v", "strain")
SCALES = ("micro", "macro")
# Frames decoded ahead of the flow computation, on threads (decoders release the GIL).
READ_AHEAD = 2
CELLS = 2  # each region's mean flow is also kept per cell of a CELLS x CELLS grid
PROGRESS_EVERY = 50  # frames between progress messages from worker processes


@dataclass(frozen=True)
class FeatureSettings:
    """How motion features are computed (``spotting.features`` in the config); see the module
    docstring. Build with :meth:`from_config`."""

    k: int | None = None
    k_macro: int | None = None
    micro_seconds: float = 0.4
    macro_seconds: float = 1.5
    max_fps: float | None = 50.0
    fps: float | None = None  # frame rate of sources that carry none (plain frame folders)
    size: int = 128
    roi_margin: float = 0.15
    landmark_frames: int = 5
    landmark_size: int = 256
    top_share: float = 0.33
    flow_method: str = "farneback"
    flow_pad: int = 8
    farneback: FarnebackParams = field(default_factory=FarnebackParams)
    dis_preset: str = "medium"
    maps: bool = False
    map_size: int = 32

    def __post_init__(self) -> None:
        problems = []
        if self.k is not None and int(self.k) < 1:
            problems.append(f"k={self.k} must be >= 1 (or null to derive it from the frame rate)")
        if self.k_macro is not None and int(self.k_macro) < 2:
            problems.append(f"k_macro={self.k_macro} must be >= 2 (or null)")
        if self.k is not None and self.k_macro is not None and self.k_macro <= self.k:
            problems.append(f"k_macro={self.k_macro} must be larger than k={self.k}")
        if not 0 < self.micro_seconds < self.macro_seconds:
            problems.append(
                f"need 0 < micro_seconds ({self.micro_seconds}) < macro_seconds "
                f"({self.macro_seconds})"
            )
        if self.max_fps is not None and self.max_fps <= 0:
            problems.append(f"max_fps={self.max_fps} must be > 0 (or null for every frame)")
        if self.fps is not None and self.fps <= 0:
            problems.append(f"fps={self.fps} must be > 0 (or null)")
        if self.size < 32:
            problems.append(f"size={self.size} must be at least 32 pixels")
        if self.landmark_size < 64:
            problems.append(f"landmark_size={self.landmark_size} must be at least 64 pixels")
        if self.landmark_frames < 1:
            problems.append(f"landmark_frames={self.landmark_frames} must be >= 1")
        if not 0 < self.top_share <= 1:
            problems.append(f"top_share={self.top_share} must be in (0, 1]")
        problems.append(choice_problem("flow.method", self.flow_method, FLOW_METHODS))
        problems.append(choice_problem("flow.dis_preset", self.dis_preset, DIS_PRESETS))
        if self.map_size < 8 or self.map_size % 2:
            problems.append(f"map_size={self.map_size} must be an even number >= 8")
        problems = [problem for problem in problems if problem]
        if problems:
            raise ValueError("spotting feature settings: " + "; ".join(problems))

    @classmethod
    def from_config(cls, node: object, maps: bool | None = None) -> FeatureSettings:
        """From the ``spotting.features`` node (see ``conf/spotting_features/default.yaml``);
        ``maps`` overrides the node's ``maps`` (a spotter that reads maps turns them on)."""
        from mesynth.config import to_plain

        values = dict(to_plain(node) or {})
        flow = dict(values.pop("flow", None) or {})
        roi = dict(values.pop("roi", None) or {})
        known = {f.name for f in fields(cls)} - {"farneback", "dis_preset", "flow_method"}
        known -= {"flow_pad", "roi_margin", "landmark_frames", "landmark_size"}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"spotting.features has unknown setting(s) {unknown}; known: "
                f"{sorted(known | {'flow', 'roi'})}"
            )
        farneback = dict(flow.pop("farneback", None) or {})
        flow_keys = {"method": "flow_method", "pad": "flow_pad", "dis_preset": "dis_preset"}
        roi_keys = {
            "margin": "roi_margin",
            "landmark_frames": "landmark_frames",
            "landmark_size": "landmark_size",
        }
        for group, table, name in ((flow, flow_keys, "flow"), (roi, roi_keys, "roi")):
            extra = sorted(set(group) - set(table))
            if extra:
                raise ValueError(
                    f"spotting.features.{name} has unknown setting(s) {extra}; known: "
                    f"{sorted(table) + (['farneback'] if name == 'flow' else [])}"
                )
            values.update({table[key]: value for key, value in group.items()})
        try:
            values["farneback"] = FarnebackParams(**farneback)
        except TypeError as error:
            raise ValueError(
                f"spotting.features.flow.farneback: {error}; known: "
                f"{[f.name for f in fields(FarnebackParams)]}"
            ) from error
        if maps is not None:
            values["maps"] = bool(maps)
        return cls(**values)

    def resolve(self, fps: float) -> tuple[int, int, int]:
        """``(k, k_macro, stride)`` for a video at ``fps``: ``stride`` frames between samples,
        both k multiples of it."""
        stride = max(1, int(math.floor(fps / self.max_fps))) if self.max_fps else 1
        k = self.k if self.k is not None else fps * self.micro_seconds / 2
        k_macro = self.k_macro if self.k_macro is not None else fps * self.macro_seconds / 2
        k = max(1, int(round(k / stride))) * stride
        k_macro = max(int(round(k_macro / stride)) * stride, k + stride)
        return k, k_macro, stride

    def cache_dict(self) -> dict:
        """The settings that change the features (``maps`` only adds an array)."""
        values = asdict(self)
        values.pop("maps")
        if not self.maps:
            values.pop("map_size")
        return values


@dataclass
class VideoFeatures:
    """Motion features of one video; row ``t`` belongs to source frame ``frame_numbers[t]``."""

    name: str
    frame_numbers: np.ndarray  # (T,) int64, the numbers in the frame file names
    fps: float
    k: int  # frames between the two frames of a micro-scale pair
    k_macro: int  # the same at the macro scale
    stride: int  # frames between computed samples (rows in between are interpolated)
    roi_names: tuple[str, ...]
    motion: np.ndarray  # (T, R) float32: flow magnitude, head motion removed, pairs k apart
    strain: np.ndarray  # (T, R) float32: optical strain magnitude, pairs k apart
    motion_macro: np.ndarray  # (T, R) float32, pairs k_macro apart
    strain_macro: np.ndarray  # (T, R) float32
    vectors: np.ndarray | None = None  # (T, R, 4, 2) float32 mean flow (x, y) per region cell
    vectors_macro: np.ndarray | None = None
    maps: np.ndarray | None = None  # (T, C, h, w) float16, channels named by map_channels
    map_channels: tuple[str, ...] = ()
    roi_boxes: np.ndarray | None = None  # (R + 1, 4) int32 boxes in the crop, then the nose
    roi_source: str = "landmarks"  # landmarks | template
    size: int = 128

    def __len__(self) -> int:
        return len(self.frame_numbers)

    def scale(self, kind: str) -> tuple[np.ndarray, np.ndarray, int]:
        """``(motion, strain, k)`` of the ``micro`` or ``macro`` scale."""
        if kind == "micro":
            return self.motion, self.strain, self.k
        if kind == "macro":
            return self.motion_macro, self.strain_macro, self.k_macro
        raise ValueError(f"scale must be micro or macro, not {kind!r}")

    def arrays(self) -> dict[str, np.ndarray]:
        arrays = {
            "frame_numbers": self.frame_numbers,
            "motion": self.motion,
            "strain": self.strain,
            "motion_macro": self.motion_macro,
            "strain_macro": self.strain_macro,
        }
        if self.roi_boxes is not None:
            arrays["roi_boxes"] = self.roi_boxes
        if self.vectors is not None:
            arrays["vectors"] = self.vectors
            arrays["vectors_macro"] = self.vectors_macro
        if self.maps is not None:
            arrays["maps"] = self.maps
        return arrays

    def meta(self) -> dict:
        return {
            "name": self.name,
            "fps": self.fps,
            "k": self.k,
            "k_macro": self.k_macro,
            "stride": self.stride,
            "roi_names": list(self.roi_names),
            "map_channels": list(self.map_channels),
            "roi_source": self.roi_source,
            "size": self.size,
        }

    def save(self, path: str | Path, key: Mapping | None = None) -> Path:
        """Write one ``.npz`` (atomically); ``key`` is stored to check the file on load."""
        meta = {**self.meta(), "key": key}

        def write(partial: Path) -> None:
            with open(partial, "wb") as handle:
                np.savez(handle, meta=np.array(json.dumps(meta)), **self.arrays())

        return write_atomically(path, write)

    @classmethod
    def load(cls, path: str | Path, maps: bool = True) -> VideoFeatures:
        """Read a file written by :meth:`save`; ``maps=False`` leaves the maps on disk."""
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            return cls(
                name=meta["name"],
                frame_numbers=data["frame_numbers"],
                fps=float(meta["fps"]),
                k=int(meta["k"]),
                k_macro=int(meta["k_macro"]),
                stride=int(meta["stride"]),
                roi_names=tuple(meta["roi_names"]),
                motion=data["motion"],
                strain=data["strain"],
                motion_macro=data["motion_macro"],
                strain_macro=data["strain_macro"],
                maps=data["maps"] if maps and "maps" in data.files else None,
                map_channels=tuple(meta["map_channels"]) if maps else (),
                roi_boxes=data["roi_boxes"] if "roi_boxes" in data.files else None,
                vectors=data["vectors"] if "vectors" in data.files else None,
                vectors_macro=data["vectors_macro"] if "vectors_macro" in data.files else None,
                roi_source=meta["roi_source"],
                size=int(meta["size"]),
            )


@dataclass
class FeatureJob:
    """One video to compute features of.

    ``source``: a :class:`mesynth.video.decoders.VideoSource`; ``crop``: the
    :class:`mesynth.faces.crop.Crop` that maps its frames to the aligned face (the one synthesis
    saved), or None when the frames already are the aligned face crop (synthetic frames made by
    ``infer.py``); ``fps``: overrides the source's frame rate.
    """

    name: str
    source: object
    crop: object | None = None
    fps: float | None = None


# ----------------------------------------------------------------------------- one video


def frame_rate(job: FeatureJob, settings: FeatureSettings) -> float:
    fps = job.fps or getattr(job.source, "fps", None) or settings.fps
    if not fps:
        raise ValueError(
            f"video {job.name} ({getattr(job.source, 'path', '?')}) has no known frame rate: its "
            "layout stores none; set spotting.features.fps (e.g. 200 for SAMM-LV, 30 for "
            "CAS(ME)^2) or open it with its dataset layout"
        )
    return float(fps)


def _working_matrix(crop, index: int, size: int) -> np.ndarray:
    """2x3 matrix from source pixels to the ``size`` working crop."""
    matrix = crop.matrix_for(index).copy()
    matrix[:, :] *= size / crop.output_size
    return matrix


def warp_to_crop(frame: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """Greyscale ``size`` x ``size`` crop of ``frame`` under ``matrix`` (source -> crop pixels).

    Only the face's part of the frame is converted; a strong reduction first halves it with
    Gaussian pyramid steps until at most a factor 2 is left, so the small crop is not aliased
    (aliasing would show up as motion)."""
    matrix = np.array(matrix, dtype=np.float64)
    scale = math.sqrt(abs(float(np.linalg.det(matrix[:, :2]))))
    inverse = cv2.invertAffineTransform(matrix)
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], np.float64)
    points = corners @ inverse.T
    height, width = frame.shape[:2]
    margin = 4.0 / max(scale, 1e-6) + 2  # the pyramid filters' reach
    x0 = int(np.clip(np.floor(points[:, 0].min() - margin), 0, width - 1))
    y0 = int(np.clip(np.floor(points[:, 1].min() - margin), 0, height - 1))
    x1 = int(np.clip(np.ceil(points[:, 0].max() + margin), x0 + 1, width))
    y1 = int(np.clip(np.ceil(points[:, 1].max() + margin), y0 + 1, height))
    grey = to_grey(frame[y0:y1, x0:x1])
    matrix[:, 2] += matrix[:, :2] @ [x0, y0]
    while scale < 0.5 and min(grey.shape) >= 8:
        grey = cv2.pyrDown(grey)  # output pixel i sits on input pixel 2 i
        matrix[:, :2] *= 2
        scale *= 2
    return cv2.warpAffine(
        grey, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


class _Cropper:
    """Source frame -> greyscale working crop (and a larger crop for landmarks)."""

    def __init__(self, crop, size: int):
        self.crop = crop
        self.size = size

    def __call__(self, frame: np.ndarray, index: int, size: int | None = None) -> np.ndarray:
        size = size or self.size
        if self.crop is None:
            grey = to_grey(frame)
            interpolation = cv2.INTER_AREA if min(grey.shape) > size else cv2.INTER_LINEAR
            return cv2.resize(grey, (size, size), interpolation=interpolation)
        return warp_to_crop(frame, _working_matrix(self.crop, index, size), size)


def _sampled_frames(source, indices: Sequence[int]) -> Iterator[tuple[int, np.ndarray]]:
    """``(index, frame)`` for the wanted indices, in order; frame files are decoded ahead on
    threads, video files decoded in sequence (skipping costs a decode there anyway)."""
    if getattr(source, "files", None) is not None:
        with ThreadPoolExecutor(max_workers=READ_AHEAD) as pool:
            pending = {}
            for position, index in enumerate(indices):
                for ahead in indices[position : position + READ_AHEAD + 1]:
                    if ahead not in pending:
                        pending[ahead] = pool.submit(source.read_frame, ahead)
                yield index, pending.pop(index).result()
        return
    wanted = set(indices)
    last = indices[-1]
    for index, frame in source.iter_frames(0, last + 1):
        if index in wanted:
            yield index, frame


class _Flow:
    def __init__(self, settings: FeatureSettings):
        self.settings = settings
        self._dis = None
        if settings.flow_method == "dis":
            self._dis = cv2.DISOpticalFlow_create(DIS_PRESETS[settings.dis_preset])

    def __call__(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        if self._dis is not None:  # DIS reads contiguous images only
            return self._dis.calc(np.ascontiguousarray(first), np.ascontiguousarray(second), None)
        return farneback(first, second, self.settings.farneback)


def strain_magnitude(flow: np.ndarray) -> np.ndarray:
    """Optical strain magnitude sqrt(e_xx^2 + e_yy^2 + 2 e_xy^2) of a flow field (H, W, 2)."""
    u_y, u_x = np.gradient(flow[..., 0])
    v_y, v_x = np.gradient(flow[..., 1])
    return np.sqrt(u_x**2 + v_y**2 + 0.5 * (u_y + v_x) ** 2)


def _top_mean(values: np.ndarray, share: float) -> float:
    flat = values.ravel()
    count = max(1, int(round(share * flat.size)))
    if count >= flat.size:
        return float(flat.mean())
    return float(np.partition(flat, flat.size - count)[flat.size - count :].mean())


class _PairFeatures:
    """Region statistics (and maps) of the flow between two working crops."""

    def __init__(self, settings: FeatureSettings, rois: Rois):
        self.settings = settings
        self.flow = _Flow(settings)
        self.box = rois.union(settings.flow_pad, settings.size)
        x0, y0 = self.box[:2]

        def local(box):
            return (slice(box[1] - y0, box[3] - y0), slice(box[0] - x0, box[2] - x0))

        self.regions = [local(rois.boxes[name]) for name in rois.names]
        self.cells = [
            [local(cell) for cell in _cells(rois.boxes[name], CELLS)] for name in rois.names
        ]
        self.nose = local(rois.boxes[REFERENCE])
        eyes = np.array([rois.boxes[n] for n in rois.names if n.startswith(("brow", "eye"))])
        self.band = local((*eyes[:, :2].min(0), *eyes[:, 2:].max(0)))
        self.mouth = local(rois.boxes["mouth"])

    def __call__(self, first: np.ndarray, second: np.ndarray):
        x0, y0, x1, y1 = self.box
        flow = self.flow(first[y0:y1, x0:x1], second[y0:y1, x0:x1])
        head = np.median(flow[self.nose].reshape(-1, 2), axis=0)
        residual = flow - head
        magnitude = np.hypot(residual[..., 0], residual[..., 1])
        strain = strain_magnitude(flow)
        share = self.settings.top_share
        motion = [_top_mean(magnitude[region], share) for region in self.regions]
        vectors = [
            [residual[cell].reshape(-1, 2).mean(0) for cell in cells] for cells in self.cells
        ]
        strains = [_top_mean(strain[region], share) for region in self.regions]
        maps = None
        if self.settings.maps:
            stack = np.dstack([np.abs(residual), strain]).astype(np.float32)
            side = self.settings.map_size
            top = cv2.resize(stack[self.band], (side, side // 2), interpolation=cv2.INTER_AREA)
            bottom = cv2.resize(stack[self.mouth], (side, side // 2), interpolation=cv2.INTER_AREA)
            maps = np.concatenate([top, bottom], axis=0).transpose(2, 0, 1)
        return motion, strains, vectors, maps


def _cells(box, grid: int) -> list[tuple[int, int, int, int]]:
    """``grid`` x ``grid`` cells of a box (rows first)."""
    x0, y0, x1, y1 = box
    xs = np.linspace(x0, x1, grid + 1).round().astype(int)
    ys = np.linspace(y0, y1, grid + 1).round().astype(int)
    return [
        (xs[j], ys[i], max(xs[j + 1], xs[j] + 1), max(ys[i + 1], ys[i] + 1))
        for i in range(grid)
        for j in range(grid)
    ]


def cell_centres(roi_boxes: np.ndarray) -> np.ndarray:
    """(R, CELLS * CELLS, 2) centres (x, y, crop pixels) of the cells of ``vectors``, from
    the features' ``roi_boxes`` (the regions' boxes, then the nose's)."""
    return np.array(
        [
            [((x0 + x1) / 2, (y0 + y1) / 2) for x0, y0, x1, y1 in _cells(box, CELLS)]
            for box in np.asarray(roi_boxes)[:-1]
        ],
        dtype=np.float64,
    )


def _fill_edges(values: np.ndarray, done: np.ndarray) -> np.ndarray:
    """Rows without a centred pair (the first and last k/2) repeat the nearest row with one."""
    rows = np.flatnonzero(done)
    return values[np.clip(np.arange(len(values)), rows[0], rows[-1])]


def _to_frames(values: np.ndarray, stride: int, length: int, nearest: bool = False) -> np.ndarray:
    """Rows at samples ``0, stride, 2 stride, ...`` -> rows at every frame (linear in between)."""
    if stride == 1:
        return values
    frames = np.arange(length)
    low = np.minimum(frames // stride, len(values) - 1)
    high = np.minimum(low + 1, len(values) - 1)
    weight = (frames % stride) / stride
    if nearest:
        return values[np.where(weight < 0.5, low, high)]
    shape = (-1,) + (1,) * (values.ndim - 1)
    return (
        (1 - weight).reshape(shape) * values[low] + weight.reshape(shape) * values[high]
    ).astype(values.dtype)


def _pair_steps(job: FeatureJob, length: int, samples: int, stride: int, ks) -> dict[str, int]:
    """Samples between the two frames of a pair per scale; a video too short for a scale
    takes the longest pair it has (logged)."""
    steps = {}
    for scale, frames in zip(SCALES, ks, strict=True):
        step = frames // stride
        if step > samples - 1:
            log.warning(
                "video %s: %d frames are too few for %s pairs %d frames apart; using %d",
                job.name,
                length,
                scale,
                frames,
                (samples - 1) * stride,
            )
            step = samples - 1
        steps[scale] = step
    return steps


def _empty_results(count: int, regions: int) -> dict[str, dict]:
    return {
        scale: {
            "motion": np.zeros((count, regions), np.float32),
            "strain": np.zeros((count, regions), np.float32),
            "vectors": np.zeros((count, regions, CELLS * CELLS, 2), np.float32),
            "done": np.zeros(count, bool),
            "maps": None,
        }
        for scale in SCALES
    }


def _pair_results(source, samples, cropper, pair, steps, regions, on_frames) -> dict[str, dict]:
    """Every pair's region statistics (and maps), in the row of the sample at its centre."""
    results = _empty_results(len(samples), regions)
    length, stride = len(source), samples[1] - samples[0]
    window: dict[int, np.ndarray] = {}
    reported = 0
    for position, (index, frame) in enumerate(_sampled_frames(source, samples)):
        window[position] = cropper(frame, index)
        for scale in SCALES:
            step = steps[scale]
            if step < 1 or position - step not in window:
                continue
            centre = position - step + step // 2
            motion, strain, vectors, maps = pair(window[position - step], window[position])
            result = results[scale]
            result["motion"][centre] = motion
            result["strain"][centre] = strain
            result["vectors"][centre] = vectors
            result["done"][centre] = True
            if maps is not None:
                if result["maps"] is None:
                    result["maps"] = np.zeros((len(samples), *maps.shape), np.float16)
                result["maps"][centre] = maps
        window.pop(position - steps["macro"], None)
        if on_frames is not None:
            done = min(length, index + stride) if position < len(samples) - 1 else length
            if done - reported >= PROGRESS_EVERY or done == length:
                on_frames(done - reported)
                reported = done
    return results


def _frame_arrays(results: dict[str, dict], stride: int, length: int) -> dict[str, np.ndarray]:
    """Rows at every frame: edges filled, samples interpolated; maps as ``maps_<scale>``."""
    arrays = {}
    for scale in SCALES:
        result = results[scale]
        suffix = "" if scale == "micro" else "_macro"
        for name in ("motion", "strain", "vectors"):
            values = result[name]
            if name != "vectors":  # vectors stay zero: a velocity is not carried past the ends
                values = _fill_edges(values, result["done"])
            arrays[name + suffix] = _to_frames(values, stride, length)
        if result["maps"] is not None:
            arrays[f"maps_{scale}"] = _to_frames(
                _fill_edges(result["maps"], result["done"]), stride, length, nearest=True
            )
    return arrays


def compute_features(
    job: FeatureJob,
    settings: FeatureSettings,
    detector=None,
    on_frames: Callable[[int], None] | None = None,
) -> VideoFeatures:
    """Features of one video (no cache); ``on_frames(n)`` is told of every ``n`` frames done."""
    source = job.source
    length = len(source)
    fps = frame_rate(job, settings)
    k, k_macro, stride = settings.resolve(fps)
    samples = list(range(0, length, stride))
    if len(samples) < 2:
        raise ValueError(
            f"video {job.name} ({getattr(source, 'path', '?')}) has {length} frame(s) sampled "
            f"every {stride}; spotting features need at least two samples"
        )
    steps = _pair_steps(job, length, len(samples), stride, (k, k_macro))
    k, k_macro = steps["micro"] * stride, steps["macro"] * stride

    cropper = _Cropper(job.crop, settings.size)
    from mesynth.faces.align import sample_indices

    landmark_frames = [
        cropper(source.read_frame(index), index, settings.landmark_size)
        for index in sample_indices(length, settings.landmark_frames)
    ]
    rois = find_rois(landmark_frames, settings.size, settings.roi_margin, detector, job.name)
    pair = _PairFeatures(settings, rois)
    results = _pair_results(source, samples, cropper, pair, steps, len(rois.names), on_frames)
    arrays = _frame_arrays(results, stride, length)
    maps, channels = None, ()
    if settings.maps:
        maps = np.concatenate([arrays.pop(f"maps_{scale}") for scale in SCALES], axis=1)
        channels = tuple(f"{stream}@{scale}" for scale in SCALES for stream in MAP_STREAMS)
    return VideoFeatures(
        name=job.name,
        frame_numbers=np.asarray(source.frame_numbers, dtype=np.int64),
        fps=fps,
        k=k,
        k_macro=k_macro,
        stride=stride,
        roi_names=rois.names,
        maps=maps,
        map_channels=channels,
        roi_boxes=rois.to_array(),
        roi_source=rois.source,
        size=settings.size,
        **arrays,
    )
