"""SOFTNet (Liong et al. 2021, "Shallow optical flow three-stream CNN for macro- and
micro-expression spotting from long videos"), stage by stage as its published code computes it.

- Faces (:func:`softnet_faces`): dlib's HOG face box of the first frame (detector upsampled
  once; the last box when several), every frame cropped to it, resized to 128 x 128 and sent
  through a JPEG round trip (written at OpenCV's default quality, read back greyscale).
- Features (:func:`softnet_features`): TV-L1 flow between frames ``i`` and ``i + k``
  (``cv2.optflow.DualTVL1OpticalFlow_create()`` with its defaults, a new object per pair); ``u, v``
  through the polar round trip; optical strain from forward differences (last row and column
  repeated); head motion removed by the mean of an 11 x 11 box on the nose (landmark 28), with
  ``abs()`` for ``u, v`` and not for strain; both eyes masked by hexagons 15 px beyond the eye
  landmarks; the brow band (landmarks 17-26, 12 px margins, down to the lower lids) and the mouth
  box each resized to 42 x 21 and stacked: ``(T - k, 42, 42, 3)`` (u, v, strain). Landmarks come
  from the first crop dlib finds a face in.
- Network (:class:`SoftNetModel`): three streams (u, v, strain), 5 x 5 convolutions with 3, 5 and
  8 channels, 3 x 3 max-pools, concatenated, 2 x 2 max-pool, flattened channels-last as Keras does,
  dense 400, dense 1. :func:`load_released` reads its released Keras weight files (HDF5) with h5py.
- Input scaling (:func:`softnet_normalise`): per frame and channel, min-max to [0, 1].
- Labels (:func:`softnet_pseudo_labels`) and ``k`` (:func:`softnet_k`): its pseudo-labeling and
  its ``cal_k`` (half the mean expression length).
- Spotting (:func:`softnet_peaks`): scores averaged over ``2k`` frames, threshold
  ``mean + p * (max - mean)`` with ``p = 0.55``, ``scipy.signal.find_peaks(height=threshold,
  distance=k)``. SOFTNet reports the interval ``[peak - k, peak + k]`` in a numbering shifted by
  ``k``; :func:`peak_intervals` gives the same interval as 0-based frame positions,
  ``[peak, peak + 2k]`` (add ``k`` to both ends), which always lies inside the video.

Intervals here are 0-based frame positions, inclusive, as SOFTNet's ``[onset - 1, offset - 1]``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

log = logging.getLogger(__name__)

CROP_SIZE = 128  # face crop side
INPUT_SIZE = 42  # network input side; each of the two regions is INPUT_SIZE x INPUT_SIZE / 2
STREAMS = ("u", "v", "strain")
STREAM_CHANNELS = (3, 5, 8)
HIDDEN = 400
RELEASED_LAYERS = ("conv2d", "conv2d_1", "conv2d_2", "dense", "dense_1")
DEFAULT_P = 0.55  # its threshold fraction ("0.55 achieved the highest F1-Score")
EYE_MARGIN = 15  # pixels the eye hexagons reach beyond the eye landmarks
ROI_MARGIN = 12  # pixels around the brow and mouth landmarks
NOSE_LANDMARK = 28
NOSE_HALF = 5  # the head-motion box is nose +- 5 px (11 x 11)


# ----------------------------------------------------------------------------- faces


class SoftNetDlib:
    """dlib's HOG face detector and 68-point shape predictor, called as SOFTNet calls them."""

    def __init__(self, predictor: str | Path | None = None):
        import dlib

        from mesynth.faces.landmarks import predictor_path

        self.predictor_file = Path(predictor) if predictor is not None else predictor_path()
        self._dlib = dlib
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(self.predictor_file))

    def __getstate__(self) -> dict:
        return {"predictor_file": self.predictor_file}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["predictor_file"])

    def faces(self, image: np.ndarray) -> list[tuple[int, int, int, int]]:
        """``(left, top, right, bottom)`` of every face, detector upsampled once."""
        return [
            (r.left(), r.top(), r.right(), r.bottom())
            for r in self.detector(np.ascontiguousarray(image), 1)
        ]

    def landmarks(self, image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """(68, 2) int64 landmark pixels (x, y) of the face in ``box``."""
        shape = self.predictor(np.ascontiguousarray(image), self._dlib.rectangle(*box))
        return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.int64)


def _bgr(frame: np.ndarray) -> np.ndarray:
    """An RGB (or grey) frame as the BGR image OpenCV's JPEG writer expects."""
    if frame.ndim == 3 and frame.shape[2] == 3:
        return cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
    return frame


def face_box(frame: np.ndarray, dlib_models: SoftNetDlib, name: str = "video") -> tuple:
    """The HOG face box ``(left, top, right, bottom)`` of a frame (the last one dlib lists)."""
    boxes = dlib_models.faces(frame)
    if not boxes:
        raise ValueError(
            f"{name}: dlib's HOG detector finds no face in the first frame, which SOFTNet crops "
            f"every frame by (frame of {frame.shape[1]}x{frame.shape[0]} px); use a video whose "
            "first frame shows the face, or drop the video"
        )
    return boxes[-1]


def crop_face(frame: np.ndarray, box: tuple) -> np.ndarray:
    """One frame (RGB or grey) -> the (128, 128) uint8 greyscale crop SOFTNet reads back."""
    left, top, right, bottom = box
    face = cv2.resize(_bgr(frame)[top:bottom, left:right], (CROP_SIZE, CROP_SIZE))
    ok, encoded = cv2.imencode(".jpg", face)
    if not ok:
        raise RuntimeError("OpenCV could not encode a face crop as JPEG")
    return cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)


def softnet_faces(
    frames: Iterable[np.ndarray], dlib_models: SoftNetDlib | None = None, name: str = "video"
) -> np.ndarray:
    """(T, 128, 128) uint8: every frame cropped to the first frame's HOG face box, resized,
    JPEG round trip, greyscale."""
    dlib_models = dlib_models or SoftNetDlib()
    crops, box = [], None
    for frame in frames:
        if box is None:
            box = face_box(frame, dlib_models, name)
        crops.append(crop_face(frame, box))
    if not crops:
        raise ValueError(f"{name} has no frames")
    return np.stack(crops)


# ----------------------------------------------------------------------------- features


def face_landmarks(crops: np.ndarray, dlib_models: SoftNetDlib, name: str = "video") -> np.ndarray:
    """(68, 2) landmarks of the first crop dlib finds a face in (the first face listed)."""
    for crop in crops:
        boxes = dlib_models.faces(crop)
        if boxes:
            return dlib_models.landmarks(crop, boxes[0])
    raise ValueError(
        f"{name}: dlib finds no face in any of its {len(crops)} 128 px SOFTNet crops; SOFTNet "
        "needs landmarks on one of them (check the face crop of the first frame)"
    )


class SoftNetRegions:
    """Where SOFTNet looks in a 128 px crop, from its 68 landmarks (integer pixels)."""

    def __init__(self, landmarks: np.ndarray):
        def x(i):
            return int(landmarks[i][0])

        def y(i):
            return int(landmarks[i][1])

        near, far, size = 0, CROP_SIZE, CROP_SIZE
        m = EYE_MARGIN
        self.eyes = [
            np.array(
                [
                    (max(x(a) - m, near), y(a)),
                    (x(a + 1), max(y(a + 1) - m, near)),
                    (x(a + 2), max(y(a + 2) - m, near)),
                    (min(x(a + 3) + m, far), y(a + 3)),
                    (x(a + 4), min(y(a + 4) + m, far)),
                    (x(a + 5), min(y(a + 5) + m, far)),
                ],
                dtype=np.int32,
            )
            for a in (36, 42)
        ]
        r = ROI_MARGIN
        top = min(max(y(19) - r, 0), max(y(24) - r, 0))
        bottom = max(min(y(41) + r, size), min(y(46) + r, size))
        self.brows = (slice(top, bottom), slice(max(x(17) - r, 0), min(x(26) + r, size)))
        self.mouth = (
            slice(max(y(50) - r, 0), min(y(57) + r, size)),
            slice(max(x(60) - r, 0), min(x(64) + r, size)),
        )
        cx, cy, h = x(NOSE_LANDMARK), y(NOSE_LANDMARK), NOSE_HALF
        self.nose = (slice(cy - h, cy + h + 1), slice(cx - h, cx + h + 1))


def tvl1_flow(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """(H, W, 2) float32 TV-L1 flow, a fresh solver with OpenCV's defaults (as SOFTNet)."""
    return cv2.optflow.DualTVL1OpticalFlow_create().calc(first, second, None)


def dis_flow(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """(H, W, 2) float32 DIS flow (OpenCV's medium preset): ``flow=fast``, for quick looks,
    NOT SOFTNet's features (about 70x faster than TV-L1)."""
    solver = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return solver.calc(np.ascontiguousarray(first), np.ascontiguousarray(second), None)


def polar_round_trip(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``u, v`` through magnitude and angle and back (float32, as SOFTNet's ``pol2cart``)."""
    magnitude, angle = cv2.cartToPolar(flow[..., 0], flow[..., 1])
    return magnitude * np.cos(angle), magnitude * np.sin(angle)


def optical_strain(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Optical strain magnitude from forward differences; the last column repeats the one
    before it, then the last row the one before it."""

    def ahead(values: np.ndarray, axis: int) -> np.ndarray:
        difference = np.full_like(values, np.nan)
        if axis == 1:
            difference[:, :-1] = values[:, :-1] - values[:, 1:]
        else:
            difference[:-1] = values[:-1] - values[1:]
        return difference

    u_x, v_y, u_y, v_x = ahead(u, 1), ahead(v, 0), ahead(u, 0), ahead(v, 1)
    strain = np.sqrt(u_x**2 + v_y**2 + np.float32(0.5) * (u_y + v_x) ** 2)
    strain[:, -1] = strain[:, -2]
    strain[-1] = strain[-2]
    return strain


def pair_features(
    first: np.ndarray, second: np.ndarray, regions: SoftNetRegions, flow=tvl1_flow
) -> np.ndarray:
    """(42, 42, 3) float64 features (u, v, strain) of one pair of 128 px crops."""
    u, v = polar_round_trip(flow(first, second))
    stack = np.zeros((CROP_SIZE, CROP_SIZE, 3))
    stack[:, :, 0], stack[:, :, 1], stack[:, :, 2] = u, v, optical_strain(u, v)
    head = stack[regions.nose].reshape(-1, 3).mean(axis=0)
    stack[:, :, :2] = np.abs(stack[:, :, :2] - head[:2])
    stack[:, :, 2] -= head[2]
    for eye in regions.eyes:
        cv2.fillPoly(stack, [eye], 0)
    half = INPUT_SIZE // 2
    features = np.zeros((INPUT_SIZE, INPUT_SIZE, 3))
    features[:half] = cv2.resize(stack[regions.brows], (INPUT_SIZE, half))
    features[half:] = cv2.resize(stack[regions.mouth], (INPUT_SIZE, half))
    return features


def softnet_features(
    frames: np.ndarray,
    k: int,
    dlib_models: SoftNetDlib | None = None,
    flow=tvl1_flow,
    name: str = "video",
    on_pair=None,
) -> np.ndarray:
    """(T - k, 42, 42, 3) float32 features (u, v, strain) of frames ``i`` and ``i + k`` of the
    (T, 128, 128) uint8 crops, before normalisation. ``on_pair()`` is called after every pair."""
    frames = np.asarray(frames)
    if frames.ndim != 3 or frames.shape[1:] != (CROP_SIZE, CROP_SIZE) or frames.dtype != np.uint8:
        raise ValueError(
            f"{name}: SOFTNet features need (T, 128, 128) uint8 greyscale crops, got "
            f"{frames.shape} {frames.dtype}; make them with softnet_faces"
        )
    if k < 1:
        raise ValueError(f"{name}: k={k} must be >= 1")
    count = len(frames) - k
    features = np.zeros((max(count, 0), INPUT_SIZE, INPUT_SIZE, 3), np.float32)
    if count <= 0:
        return features
    regions = SoftNetRegions(face_landmarks(frames, dlib_models or SoftNetDlib(), name))
    for index in range(count):
        features[index] = pair_features(frames[index], frames[index + k], regions, flow)
        if on_pair is not None:
            on_pair()
    return features


def softnet_normalise(features: np.ndarray) -> np.ndarray:
    """Per frame and channel min-max to [0, 1] (OpenCV's NORM_MINMAX: a constant channel
    becomes 0), as (N, 3, 42, 42) float32 network input."""
    values = np.asarray(features, dtype=np.float64)
    low = values.min(axis=(1, 2), keepdims=True)
    span = values.max(axis=(1, 2), keepdims=True) - low
    scale = np.where(span > np.finfo(np.float64).eps, 1.0 / np.where(span > 0, span, 1.0), 0.0)
    scaled = values * scale - low * scale
    return np.ascontiguousarray(scaled.transpose(0, 3, 1, 2), dtype=np.float32)


# ----------------------------------------------------------------------------- labels and peaks


def _pairs(intervals: Iterable) -> list[tuple[int, int]]:
    pairs = []
    for interval in intervals:
        if hasattr(interval, "onset"):
            pairs.append((int(interval.onset), int(interval.offset)))
        else:
            onset, offset = interval
            pairs.append((int(onset), int(offset)))
    return pairs


def softnet_k(intervals: Iterable) -> int:
    """Its ``cal_k``: ``int((N + 1) / 2)``, N the mean of ``offset - onset`` over all intervals."""
    pairs = _pairs(intervals)
    if not pairs:
        raise ValueError("SOFTNet's k needs at least one annotated expression of the type")
    mean = sum(offset - onset for onset, offset in pairs) / len(pairs)
    return int((mean + 1) / 2)


def softnet_pseudo_labels(n_frames: int, k: int, intervals: Iterable) -> np.ndarray:
    """(n_frames - k,) int labels: 1 where the window ``[i, i + k)`` overlaps an expression
    (its frames ``onset + 1 .. offset`` of the 0-based ``[onset, offset]``), else 0."""
    labels = np.zeros(max(int(n_frames) - int(k), 0), dtype=np.int64)
    index = np.arange(len(labels))
    for onset, offset in _pairs(intervals):
        if offset >= onset + 1:
            labels[(index <= offset) & (index + k - 1 >= onset + 1)] = 1
    return labels


def aggregate_scores(scores: np.ndarray, k: int) -> np.ndarray:
    """Its score aggregation: value ``j`` is the mean of scores ``j .. j + 2k - 1``
    (length ``len(scores) - 2k``; the dtype of the scores is kept)."""
    scores = np.asarray(scores)
    if scores.ndim == 2:
        scores = scores[:, 0]
    if len(scores) <= 2 * k:
        return scores[:0]
    windows = np.lib.stride_tricks.sliding_window_view(scores, 2 * k)[: len(scores) - 2 * k]
    return windows.mean(axis=1)


def softnet_peaks(scores: np.ndarray, k: int, p: float = DEFAULT_P) -> tuple[float, np.ndarray]:
    """``(threshold, peaks)`` of one video's per-pair scores (``(T - k,)`` or ``(T - k, 1)``):
    peaks of the ``2k`` mean above ``mean + p * (max - mean)``, at least ``k`` apart, as indices
    into the aggregated curve (SOFTNet's shifted numbering). Too short a video: ``(nan, [])``."""
    from scipy.signal import find_peaks

    curve = aggregate_scores(scores, k)
    if len(curve) == 0:
        return math.nan, np.zeros(0, dtype=np.int64)
    mean = curve.mean()
    threshold = mean + curve.dtype.type(p) * (curve.max() - mean)
    peaks, _ = find_peaks(curve, height=threshold, distance=k)
    return float(threshold), peaks.astype(np.int64)


def peak_intervals(peaks: np.ndarray, k: int) -> list[tuple[int, int]]:
    """SOFTNet's ``[peak - k, peak + k]`` (shifted numbering) as 0-based frame positions."""
    return [(int(peak), int(peak) + 2 * k) for peak in peaks]


# ----------------------------------------------------------------------------- network


class SoftNetModel(nn.Module):
    """SOFTNet's three-stream network: (N, 3, 42, 42) float32 (u, v, strain) -> (N, 1);
    freshly made it has PyTorch's default initialisation."""

    def __init__(self) -> None:
        super().__init__()
        self.streams = nn.ModuleList(
            nn.Conv2d(1, count, kernel_size=5, padding=2) for count in STREAM_CHANNELS
        )
        side = INPUT_SIZE // 3 // 2
        self.dense = nn.Linear(sum(STREAM_CHANNELS) * side * side, HIDDEN)
        self.output = nn.Linear(HIDDEN, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = [
            torch.max_pool2d(torch.relu(conv(x[:, i : i + 1])), 3, 3)
            for i, conv in enumerate(self.streams)
        ]
        merged = torch.max_pool2d(torch.cat(parts, dim=1), 2, 2)
        flat = merged.permute(0, 2, 3, 1).flatten(1)  # Keras flattens channels-last
        return self.output(torch.relu(self.dense(flat)))


def _released_problem(path: Path, expected: str, found: str) -> ValueError:
    return ValueError(
        f"{path} is not a SOFTNet weight file: expected {expected}, found {found}; fetch the "
        "released weights again with `mesynth download softnet`"
    )


def _weight_group(handle, path: Path):
    group = handle["model_weights"] if "model_weights" in handle else handle
    if "layer_names" not in group.attrs:
        raise _released_problem(path, "a Keras weight file (attribute layer_names)", "none")
    return group


def _file_layers(group, path: Path) -> list[list[np.ndarray]]:
    """The arrays of every layer that has weights, in the file's layer order."""
    layers = []
    for raw in group.attrs["layer_names"]:
        name = raw.decode() if isinstance(raw, bytes) else str(raw)
        names = group[name].attrs.get("weight_names", [])
        if len(names) == 0:
            continue
        layers.append(
            [np.asarray(group[name][w.decode() if isinstance(w, bytes) else w]) for w in names]
        )
    if len(layers) != len(RELEASED_LAYERS):
        raise _released_problem(
            path, f"{len(RELEASED_LAYERS)} layers with weights {RELEASED_LAYERS}", str(len(layers))
        )
    return layers


def load_released(path: str | Path):
    """SOFTNet's network with the weights of a Keras HDF5 file (its ``save_weights`` layout or a
    whole saved model), in eval mode on the CPU."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"SOFTNet weight file {path} not found; fetch them with `mesynth download softnet`"
        )
    try:
        with h5py.File(path, "r") as handle:
            layers = _file_layers(_weight_group(handle, path), path)
    except OSError as error:
        raise _released_problem(path, "an HDF5 file", f"unreadable ({error})") from error
    model = SoftNetModel()
    targets = [*model.streams, model.dense, model.output]
    for position, (module, arrays) in enumerate(zip(targets, layers, strict=True)):
        if len(arrays) != 2:
            raise _released_problem(
                path, f"kernel and bias in {RELEASED_LAYERS[position]}", f"{len(arrays)} arrays"
            )
        kernel, bias = arrays
        if kernel.ndim == 4:
            kernel = kernel.transpose(3, 2, 0, 1)  # HWIO -> OIHW
        else:
            kernel = kernel.T  # (in, out) -> (out, in)
        if tuple(kernel.shape) != tuple(module.weight.shape) or bias.shape != (
            module.bias.numel(),
        ):
            raise _released_problem(
                path,
                f"{RELEASED_LAYERS[position]} of shape {tuple(module.weight.shape)} (PyTorch "
                "layout)",
                f"{kernel.shape}",
            )
        with torch.no_grad():
            module.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel, dtype=np.float32)))
            module.bias.copy_(torch.from_numpy(np.asarray(bias, dtype=np.float32)))
    return model.eval()


def save_keras_weights(model, path: str | Path) -> Path:
    """Write a SOFTNet network in the Keras weight-file layout :func:`load_released` reads
    (HWIO kernels, channels-last flatten), atomically."""
    import h5py

    from mesynth.atomic import write_atomically

    targets = [*model.streams, model.dense, model.output]
    arrays = []
    for module in targets:
        kernel = module.weight.detach().cpu().numpy()
        kernel = kernel.transpose(2, 3, 1, 0) if kernel.ndim == 4 else kernel.T
        arrays.append((kernel, module.bias.detach().cpu().numpy()))
    names = ["input_1", "input_2", "input_3", *RELEASED_LAYERS[:3], "flatten", *RELEASED_LAYERS[3:]]

    def write(partial: Path) -> None:
        with h5py.File(partial, "w") as handle:
            handle.attrs["layer_names"] = np.array([n.encode() for n in names])
            handle.attrs["backend"] = b"tensorflow"
            handle.attrs["keras_version"] = b"2.2.4-tf"
            for name in names:
                group = handle.create_group(name)
                if name not in RELEASED_LAYERS:
                    group.attrs["weight_names"] = np.array([], dtype=np.float64)
                    continue
                kernel, bias = arrays[RELEASED_LAYERS.index(name)]
                group.attrs["weight_names"] = np.array(
                    [f"{name}/kernel:0".encode(), f"{name}/bias:0".encode()]
                )
                inner = group.create_group(name)
                inner["kernel:0"] = kernel.astype(np.float32)
                inner["bias:0"] = bias.astype(np.float32)

    return write_atomically(path, write)


def predict_scores(model, features: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """(N,) float32 scores of (N, 42, 42, 3) features (normalised here, batch by batch)."""

    device = next(model.parameters()).device
    scores = []
    with torch.no_grad():
        for start in range(0, len(features), batch_size):
            batch = torch.from_numpy(softnet_normalise(features[start : start + batch_size]))
            scores.append(model(batch.to(device)).cpu().numpy()[:, 0])
    if not scores:
        return np.zeros(0, np.float32)
    return np.concatenate(scores).astype(np.float32)


# ----------------------------------------------------------------------------- released folds

RELEASED_SETS = ("SAMMLV", "CASME_sq")
TYPE_FOLDERS = {"micro": "micro-expression", "macro": "macro-expression"}
# Spellings of the two datasets the released folds were trained on.
DATASET_NAMES = {
    "sammlv": "SAMMLV",
    "samm_lv": "SAMMLV",
    "samm-lv": "SAMMLV",
    "samm": "SAMMLV",
    "casme_sq": "CASME_sq",
    "casme2": "CASME_sq",
    "cas(me)^2": "CASME_sq",
    "casme_2": "CASME_sq",
}


def released_set_name(value: object) -> str | None:
    """``SAMMLV`` / ``CASME_sq`` for any spelling of the two datasets; None for null/other."""
    if value is None or str(value).strip().lower() in ("", "none", "null", "other"):
        return None
    name = DATASET_NAMES.get(str(value).strip().lower())
    if name is None:
        raise ValueError(
            f"spotter.dataset={value!r} is neither SAMM-LV nor CAS(ME)^2; write one of "
            f"{sorted(DATASET_NAMES)} or null for any other dataset"
        )
    return name


def released_files(root: str | Path, dataset: str, kind: str) -> list[Path]:
    """``root/<dataset>/<kind>-expression/s1.hdf5, s2.hdf5, ...`` in fold order (s1 first)."""
    folder = Path(root) / dataset / TYPE_FOLDERS[kind]
    files = [p for p in folder.glob("s*.hdf5") if p.stem[1:].isdigit()]
    return sorted(files, key=lambda p: int(p.stem[1:]))


def softnet_subject_order(events_by_participant: Mapping[str, Sequence], kind: str) -> list[str]:
    """SOFTNet's fold order for one type: the participants with at least one expression of the
    type, in natural order (its natsorted folders); fold ``sN`` held out the N-th."""
    from natsort import natsorted

    return natsorted(
        participant
        for participant, events in events_by_participant.items()
        if any(getattr(event, "kind", kind) == kind for event in events)
    )


def released_fold_mapping(
    events_by_participant: Mapping[str, Sequence], kind: str, files: Sequence[Path], dataset: str
) -> dict[str, Path]:
    """Participant -> the released fold file that held them out; refuses when the dataset's
    participants with expressions of the type do not match the released folds in number."""
    order = softnet_subject_order(events_by_participant, kind)
    if len(order) != len(files):
        raise ValueError(
            f"released SOFTNet {dataset} {kind}-expression folds: {len(files)} files "
            f"({files[0].parent if files else 'none'}) but {len(order)} participants with "
            f"{kind}-expressions here ({order[:6]}{' ...' if len(order) > 6 else ''}); the folds "
            "fit only the full dataset as SOFTNet read it: use every participant and SOFTNet's "
            "annotations, or spotter.dataset=null (mean of all folds) or spotter.weights=train"
        )
    mapping = dict(zip(order, files, strict=True))
    log.info(
        "SOFTNet %s %s folds: %s",
        dataset,
        kind,
        ", ".join(f"{path.stem}={participant}" for participant, path in mapping.items()),
    )
    return mapping
