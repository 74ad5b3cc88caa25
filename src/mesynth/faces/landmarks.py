"""Face detection (dlib's HOG detector) and dlib's 68-point landmarks.

The 68-point model is the one shipped by ``face_recognition_models``; nothing is downloaded.
Landmark indices follow the iBUG 300-W convention: 0-16 jaw, 17-21 and 22-26 brows, 27-35 nose,
36-41 and 42-47 eyes (the image-left eye first), 48-67 mouth.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import cv2
import numpy as np

from mesynth.config import check_choice
from mesynth.imaging import to_grey

log = logging.getLogger(__name__)

PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"
NUM_LANDMARKS = 68

# Index groups used by alignment and by the demo warps.
JAW = list(range(0, 17))
BROWS = list(range(17, 27))
NOSE = list(range(27, 36))
EYE_LEFT = list(range(36, 42))  # image left
EYE_RIGHT = list(range(42, 48))
MOUTH = list(range(48, 68))
# Points that move little with expressions (eye corners, nose): used to track the head.
STABLE = [36, 39, 42, 45, 27, 28, 29, 30, 31, 33, 35]


def model_file(filename: str) -> Path:
    """Path of a dlib model file shipped by ``face_recognition_models``.

    The file is located through the package's import spec rather than its
    ``*_model_location()`` helpers, because importing the package needs ``pkg_resources``,
    which recent setuptools no longer ship.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the package face_recognition_models is not installed; it ships dlib's landmark and "
            "face descriptor models: pip install face-recognition-models"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / filename
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing from face_recognition_models; reinstall it: "
            "pip install --force-reinstall face-recognition-models"
        )
    return path


def predictor_path() -> Path:
    """Path of the 68-point shape predictor shipped by ``face_recognition_models``."""
    return model_file(PREDICTOR_FILE)


FACE_CHOICES = ("largest", "confident")


def choose_face(faces: list[tuple[np.ndarray, float]], rule: str) -> np.ndarray:
    """The box of the face to follow among ``(box, score)`` detections: the ``largest`` box or
    the most ``confident`` detection (one rule for synthesis and evaluation alike)."""
    check_choice("faces.choose", rule, FACE_CHOICES)
    if rule == "largest":
        return max(faces, key=lambda face: (face[0][2] - face[0][0]) * (face[0][3] - face[0][1]))[0]
    return max(faces, key=lambda face: face[1])[0]


class LandmarkDetector:
    """dlib HOG face detector + 68-point shape predictor.

    ``detect_size``: frames larger than this (longest side, pixels) are scaled down for the
    detector only (HOG cost grows with the area; SAMM-LV frames are 2040x1088); landmarks are
    always fitted at full resolution. ``upsample``: detector upsampling steps; by default 1 when
    the detector image is small (finds faces down to ~40 px), else 0. ``choose``: which face
    to take when a frame shows several (:func:`choose_face`).

    Not thread-safe: use one detector per thread or process (it pickles by configuration).
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        detect_size: int = 640,
        upsample: int | None = None,
        choose: str = "largest",
    ):
        self.model_path = Path(model_path) if model_path is not None else predictor_path()
        if not self.model_path.is_file():
            raise FileNotFoundError(f"landmark model {self.model_path} not found")
        check_choice("faces.choose", choose, FACE_CHOICES)
        self.detect_size = int(detect_size)
        self.upsample = upsample
        self.choose = choose
        self._load()

    def _load(self) -> None:
        import dlib

        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(self.model_path))

    def __getstate__(self) -> dict:
        return {k: self.__dict__[k] for k in ("model_path", "detect_size", "upsample", "choose")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._load()

    def detect_faces(self, frame: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """Face boxes ``[left, top, right, bottom]`` (full-resolution pixels) with scores."""
        grey = to_grey(frame)
        height, width = grey.shape
        scale = min(1.0, self.detect_size / max(height, width))
        small = grey
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            small = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
        upsample = self.upsample
        if upsample is None:
            upsample = 1 if max(small.shape) < 480 else 0
        rects, scores, _ = self._detector.run(small, upsample, 0.0)
        faces = []
        for rect, score in zip(rects, scores, strict=True):
            box = np.array([rect.left(), rect.top(), rect.right(), rect.bottom()], dtype=np.float64)
            faces.append((box / scale, float(score)))
        return faces

    def shape_in_box(self, image: np.ndarray, box: np.ndarray):
        """dlib's shape (``full_object_detection``) of the face in ``box`` (left, top, right,
        bottom) of a grey or RGB image, as dlib's descriptor model takes it."""
        left, top, right, bottom = (int(round(v)) for v in box)
        return self._predictor(image, self._dlib.rectangle(left, top, right, bottom))

    def landmarks_in_box(self, frame: np.ndarray, box: np.ndarray) -> np.ndarray:
        """The 68 landmarks ``(68, 2)`` (x, y) of the face in ``box`` (left, top, right, bottom)."""
        shape = self.shape_in_box(to_grey(frame), box)
        return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)

    def detect(self, frame: np.ndarray, near: np.ndarray | None = None) -> np.ndarray | None:
        """Landmarks ``(68, 2)`` of the face in ``frame``, or None when no face is found.

        With several faces, the one nearest to ``near`` (an (x, y) point, e.g. the previous
        frame's face centre) is taken, else the one :func:`choose_face` picks.
        """
        faces = self.detect_faces(frame)
        if not faces:
            return None
        if near is not None:
            near = np.asarray(near, dtype=np.float64)
            box = min(faces, key=lambda f: np.hypot(*((f[0][:2] + f[0][2:]) / 2 - near)))[0]
        else:
            box = choose_face(faces, self.choose)
        return self.landmarks_in_box(frame, box)


class LazyDetector:
    """A :class:`LandmarkDetector` built on first use (dlib's model takes a moment to load),
    so runs that need no landmarks never load it. Same ``detect`` as the detector itself."""

    def __init__(self, **settings: object) -> None:
        self.settings = settings
        self._detector: LandmarkDetector | None = None

    @property
    def detector(self) -> LandmarkDetector:
        if self._detector is None:
            self._detector = LandmarkDetector(**self.settings)
        return self._detector

    @property
    def choose(self) -> str:
        return self.detector.choose

    def detect(self, frame: np.ndarray, near: np.ndarray | None = None) -> np.ndarray | None:
        return self.detector.detect(frame, near=near)

    def detect_faces(self, frame: np.ndarray) -> list[tuple[np.ndarray, float]]:
        return self.detector.detect_faces(frame)

    def landmarks_in_box(self, frame: np.ndarray, box: np.ndarray) -> np.ndarray:
        return self.detector.landmarks_in_box(frame, box)

    def shape_in_box(self, image: np.ndarray, box: np.ndarray):
        return self.detector.shape_in_box(image, box)


def inter_ocular(landmarks: np.ndarray) -> float:
    """Distance between the two eye centres (points 36-41 and 42-47)."""
    return float(np.linalg.norm(landmarks[EYE_RIGHT].mean(0) - landmarks[EYE_LEFT].mean(0)))


def face_mask(landmarks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Boolean (H, W) mask of the landmarks' convex hull (brows to chin)."""
    mask = np.zeros(size, dtype=np.uint8)
    hull = cv2.convexHull(np.round(landmarks).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 1)
    return mask.astype(bool)


def eye_aspect_ratio(landmarks: np.ndarray) -> float:
    """Mean eye opening (lid distance over eye width) of both eyes; drops towards 0 in a blink."""
    ratios = []
    for eye in (EYE_LEFT, EYE_RIGHT):
        p = landmarks[eye]
        vertical = np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4])
        ratios.append(vertical / (2.0 * np.linalg.norm(p[0] - p[3])))
    return float(np.mean(ratios))
