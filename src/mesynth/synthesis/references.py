"""Which reference image (and target domain) each video gets.

A strategy maps the videos of a run to :class:`Assignment` rows; the choice is made once per
participant by default (``unit: participant``), so that one synthetic participant keeps one
identity across all of their videos. Strategies are classes chosen by the Hydra group
``reference`` (``conf/reference/<strategy>.yaml``, each with its ``_target_`` and every setting);
every one is deterministic for a given config and dataset.

``per_video: K`` gives every video K different identities (K synthetic videos made from one pass
over its frames): the strategies that draw from a pool draw K images per unit, and ``fixed`` /
``per_participant`` take a list of images. With K = 1 every strategy chooses exactly as it did
with one identity.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np
from natsort import natsorted

from mesynth.atomic import write_atomically
from mesynth.config import check_choice, to_plain
from mesynth.faces.crop import Crop
from mesynth.imaging import to_grey
from mesynth.media import BUILTIN_PREFIX, IMAGE_SUFFIXES, check_image, is_image
from mesynth.media import read_image as read_media_image

log = logging.getLogger(__name__)

REFERENCE_COLUMNS = (
    "video", "participant", "reference", "domain", "strategy", "source_video", "identity",
)  # fmt: skip
UNITS = ("participant", "video")

# (paths, domains) -> style codes (N, style_dim); used by the `diverse` strategy.
StyleEncodeFn = Callable[[Sequence[Path], Sequence[int]], np.ndarray]


@dataclass(frozen=True)
class VideoInfo:
    video: str
    participant: str


@dataclass(frozen=True)
class Assignment:
    video: str  # the source video
    participant: str
    reference: Path
    domain: int
    strategy: str
    identity: int = 0  # which of the video's identities (0 .. per_video - 1)


@dataclass(frozen=True)
class PoolImage:
    path: Path
    domain: int


# --------------------------------------------------------------------------------------------
# Reading reference images


REFERENCE_FIX = "check the `reference.*` settings (path, pool, mapping) or replace the file"


def _exists(path: str | Path) -> None:
    if not str(path).startswith(BUILTIN_PREFIX) and not Path(path).is_file():
        raise FileNotFoundError(f"reference image {path} not found; {REFERENCE_FIX}")


def read_image(path: str | Path) -> np.ndarray:
    """A reference image as uint8 (H, W, 3) RGB (``skimage:<name>`` for scikit-image's images)."""
    _exists(path)
    return read_media_image(path, "reference image", REFERENCE_FIX)


def check_reference(path: str | Path) -> None:
    """Fail now, naming the file, for a reference that cannot be read (without decoding it)."""
    _exists(path)
    check_image(path, "reference image", REFERENCE_FIX)


REFERENCE_CROPS = ("none", "fixed", "tracked")


def prepare_reference(
    path: str | Path, img_size: int, crop: str = "none", detector=None
) -> np.ndarray:
    """A reference image at the network size, uint8 (img_size, img_size, 3).

    ``crop="none"`` scales the whole image (for references that are aligned face crops already,
    like CelebA-HQ); ``fixed`` (and ``tracked``, the same for one image) aligns the face with
    the recipe used for the videos (:mod:`mesynth.faces.align`), so source and reference faces
    sit alike in the frame.
    """
    check_choice("reference_crop", crop, REFERENCE_CROPS)
    image = read_image(path)
    if crop == "none":
        return Crop.full_frame(image.shape[:2], img_size).apply(image)
    from mesynth.faces.align import align_face
    from mesynth.faces.landmarks import LandmarkDetector

    landmarks = (detector or LandmarkDetector()).detect(image)
    if landmarks is None:
        raise ValueError(
            f"no face found in reference image {path}; use a frontal face photo, or "
            "reference_crop=none if it is an aligned face crop already"
        )
    return align_face(image, landmarks, img_size)[0]


# --------------------------------------------------------------------------------------------
# Pools of candidate references


def _images_in(folder: Path) -> list[Path]:
    return natsorted(
        (p for p in folder.iterdir() if p.is_file() and is_image(p)),
        key=lambda p: p.name,
    )


def _domain_of_folder(name: str, domains: Mapping[str, int] | None, pool: Path) -> int:
    if domains and name in domains:
        return int(domains[name])
    if name.isdigit():
        return int(name)
    known = ", ".join(sorted(domains)) if domains else "none configured"
    raise ValueError(
        f"reference pool {pool} has a subfolder {name!r} that names no domain (known: {known}); "
        "name subfolders after domains (e.g. female/ male/ or 0/ 1/) or set `reference.domains`"
    )


def list_pool(
    pool: str | Path | None, domains: Mapping[str, int] | None = None, domain: int | None = None
) -> list[PoolImage]:
    """The candidate references in ``pool``.

    Either the images sit in one subfolder per domain (``pool/female``, ``pool/male`` or
    ``pool/0``, ``pool/1``; subfolder names map to domains via ``domains``), or directly in
    ``pool`` and all get ``domain``.
    """
    if pool is None:
        raise ValueError("this reference strategy needs a pool of images: set `reference.pool=DIR`")
    pool = Path(pool)
    if not pool.is_dir():
        raise FileNotFoundError(
            f"reference pool {pool} is not a folder; set `reference.pool` to a folder of face "
            "images (optionally split into one subfolder per domain)"
        )
    subfolders = natsorted((p for p in pool.iterdir() if p.is_dir()), key=lambda p: p.name)
    images: list[PoolImage] = []
    if subfolders:
        for folder in subfolders:
            folder_domain = _domain_of_folder(folder.name, domains, pool)
            images += [PoolImage(path, folder_domain) for path in _images_in(folder)]
    else:
        if domain is None:
            raise ValueError(
                f"reference pool {pool} has no domain subfolders, so `reference.domain` must say "
                "which domain its images are (e.g. reference.domain=1)"
            )
        images = [PoolImage(path, int(domain)) for path in _images_in(pool)]
    if not images:
        raise ValueError(
            f"reference pool {pool} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}); "
            "put face images there"
        )
    return images


# --------------------------------------------------------------------------------------------
# Helpers shared by the strategies


def normalise_participant(value: object) -> str:
    """Participant ids compare as text, with numeric ids compared as numbers ('006' == '6')."""
    text = str(value).strip()
    if text.endswith(".0") and text[:-2].isdigit():  # spreadsheets turn 6 into 6.0
        text = text[:-2]
    return str(int(text)) if text.isdigit() else text


def _units(videos: Sequence[VideoInfo], unit: str) -> tuple[list[str], dict[str, str]]:
    """The selection units in a stable order, and the unit of each video."""
    check_choice("reference.unit", unit, UNITS)
    unit_of = {v.video: (v.participant if unit == "participant" else v.video) for v in videos}
    return natsorted(set(unit_of.values())), unit_of


def _assign(
    videos: Sequence[VideoInfo],
    unit_of: Mapping[str, str],
    choice: Mapping[str, Sequence[PoolImage]],
    name: str,
) -> list[Assignment]:
    """One Assignment per video and identity, video after video, from each unit's images."""
    return [
        Assignment(v.video, v.participant, image.path, image.domain, name, identity)
        for v in videos
        for identity, image in enumerate(choice[unit_of[v.video]])
    ]


def _in_groups(items: Sequence, size: int) -> list[list]:
    return [list(items[start : start + size]) for start in range(0, len(items), size)]


def identity_count(value: object) -> int:
    """``reference.per_video``: how many identities each video gets (a whole number >= 1)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"reference.per_video={value!r} must be a whole number >= 1 (identities per video)"
        )
    return value


def _enough_images(count: int, per_video: int, where: str) -> None:
    if per_video > count:
        raise ValueError(
            f"{where} holds {count} image(s), fewer than reference.per_video={per_video} "
            "different identities per video; add images or lower reference.per_video"
        )


def _seeded_cycle(items: Sequence[PoolImage], count: int, seed: int) -> list[PoolImage]:
    """``count`` items drawn without replacement in a seeded order (cycling when exhausted)."""
    order = np.random.default_rng(seed).permutation(len(items))
    return [items[order[i % len(items)]] for i in range(count)]


def _check_domain(domain: int, num_domains: int | None, where: str) -> int:
    domain = int(domain)
    if domain < 0 or (num_domains is not None and domain >= num_domains):
        raise ValueError(
            f"{where}: domain {domain} is outside the model's domains 0..{num_domains - 1}; "
            "use a domain the checkpoint was trained with"
        )
    return domain


# --------------------------------------------------------------------------------------------
# Mapping files and participant metadata


def _json_rows(participant: str, value: object) -> list[tuple[object, object, object]]:
    """(participant, reference, domain) rows of one json entry: an image, {reference, domain}
    (reference may be a list) or a list of either."""
    if isinstance(value, list):
        return [row for item in value for row in _json_rows(participant, item)]
    if isinstance(value, dict):
        references = value.get("reference")
        if not isinstance(references, list):
            references = [references]
        return [(participant, reference, value.get("domain")) for reference in references]
    return [(participant, value, None)]


def read_mapping(path: str | Path, default_domain: int | None) -> dict[str, list[PoolImage]]:
    """A participant -> references mapping from csv (participant,reference[,domain]; one row per
    identity) or json ({participant: image, list of images, or {reference, domain}})."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"reference mapping file {path} not found; set `reference.mapping` to a csv with "
            "columns participant,reference[,domain] or a json {participant: image}"
        )
    import pandas as pd

    rows: list[tuple[object, object, object]] = []
    if path.suffix.lower() == ".json":
        data = json.loads(path.read_text())
        if not isinstance(data, dict):
            raise ValueError(f"reference mapping {path} must be a json object {{participant: ...}}")
        for participant, value in data.items():
            rows += _json_rows(participant, value)
    else:
        table = pd.read_csv(path, dtype=str)
        table.columns = [str(c).strip().lower() for c in table.columns]
        missing = {"participant", "reference"} - set(table.columns)
        if missing:
            raise ValueError(
                f"reference mapping {path} lacks column(s) {sorted(missing)}; found "
                f"{list(table.columns)}; expected participant,reference[,domain]"
            )
        for _, row in table.iterrows():
            domain = row.get("domain")
            rows.append((row["participant"], row["reference"], None if pd.isna(domain) else domain))
    mapping: dict[str, list[PoolImage]] = {}
    for participant, reference, domain in rows:
        if reference is None or (isinstance(reference, float) and np.isnan(reference)):
            raise ValueError(f"reference mapping {path}: participant {participant} has no image")
        domain = default_domain if domain is None else domain
        if domain is None:
            raise ValueError(
                f"reference mapping {path}: participant {participant} has no domain and "
                "`reference.domain` is not set; add a domain column or set reference.domain"
            )
        image = Path(str(reference).strip())
        if not image.is_absolute():
            image = path.parent / image
        images = mapping.setdefault(normalise_participant(participant), [])
        images.append(PoolImage(image, int(float(domain))))
    return mapping


def read_genders(
    path: str | Path, participant_column: str, gender_column: str, aliases: Mapping[str, str]
) -> dict[str, str]:
    """participant -> gender label (lower case, aliases applied) from a csv or xlsx sheet."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"participant metadata {path} not found; set `reference.metadata` to a csv/xlsx with "
            f"columns {participant_column!r} and {gender_column!r}"
        )
    import pandas as pd

    if path.suffix.lower() in (".xlsx", ".xls"):
        table = pd.read_excel(path, dtype=str)
    else:
        table = pd.read_csv(path, dtype=str)
    columns = {str(c).strip().lower(): c for c in table.columns}
    for wanted in (participant_column, gender_column):
        if wanted.lower() not in columns:
            raise ValueError(
                f"participant metadata {path} has no column {wanted!r}; found "
                f"{list(table.columns)}; set reference.participant_column / gender_column"
            )
    aliases = {str(k).lower(): str(v).lower() for k, v in (aliases or {}).items()}
    genders = {}
    for _, row in table.iterrows():
        participant = row[columns[participant_column.lower()]]
        gender = row[columns[gender_column.lower()]]
        if pd.isna(participant) or pd.isna(gender):
            continue
        label = str(gender).strip().lower()
        genders[normalise_participant(participant)] = aliases.get(label, label)
    return genders


# --------------------------------------------------------------------------------------------
# Strategies


class ReferenceStrategy:
    """Base of the strategies: ``assign(videos, encode_style)`` -> one Assignment per video.

    ``strategy`` repeats the group option's name (``reference=fixed``), so that an override such
    as ``reference.strategy=random`` on another group is caught instead of silently ignored.
    """

    name: ClassVar[str] = ""

    def __init__(self, strategy: str, per_video: int = 1) -> None:
        if strategy != self.name:
            raise ValueError(
                f"reference.strategy={strategy!r} but the reference group chosen is "
                f"{self.name!r}; choose the strategy with reference={strategy} (its settings "
                f"are in conf/reference/{strategy}.yaml)"
            )
        self.strategy = strategy
        self.per_video = identity_count(per_video)

    def assign(
        self, videos: Sequence[VideoInfo], encode_style: StyleEncodeFn | None = None
    ) -> list[Assignment]:
        raise NotImplementedError


def _listed_count(per_video: int | None, listed: int, where: str) -> int:
    """``per_video`` of a strategy given its images: null takes them all, else it must agree."""
    if per_video is None:
        return listed
    if identity_count(per_video) != listed:
        raise ValueError(
            f"{where} lists {listed} image(s) but reference.per_video={per_video}; list one image "
            "per identity, or set reference.per_video=null to take them all"
        )
    return per_video


class FixedReference(ReferenceStrategy):
    """The same image(s) and domain(s) for every video: one identity per listed image."""

    name = "fixed"

    def __init__(
        self,
        strategy: str,
        path: str | Sequence[str] | None,
        domain: int | Sequence[int] | None,
        per_video: int | None = None,
    ) -> None:
        if path is None:
            raise ValueError("reference strategy 'fixed' needs `reference.path=IMAGE`")
        if domain is None:
            raise ValueError("reference strategy 'fixed' needs `reference.domain=N` (e.g. 0 or 1)")
        paths = to_plain(path)
        paths = [paths] if isinstance(paths, str | Path) else list(paths)
        domains = to_plain(domain)
        domains = list(domains) if isinstance(domains, list) else [domains] * len(paths)
        if len(domains) != len(paths):
            raise ValueError(
                f"reference.domain lists {len(domains)} domain(s) for {len(paths)} image(s) in "
                "reference.path; give one domain, or one per image"
            )
        super().__init__(strategy, _listed_count(per_video, len(paths), "reference.path"))
        self.images = [PoolImage(Path(str(p)), int(d)) for p, d in zip(paths, domains, strict=True)]

    def assign(self, videos, encode_style=None) -> list[Assignment]:
        for image in self.images:  # fail now, naming the file, rather than after the first video
            check_reference(image.path)
        return _assign(videos, {v.video: "all" for v in videos}, {"all": self.images}, self.name)


class PerParticipantReference(ReferenceStrategy):
    """The image (and domain) a mapping file names for each participant."""

    name = "per_participant"

    def __init__(
        self, strategy: str, mapping: str | None, domain: int | None, per_video: int | None = None
    ) -> None:
        super().__init__(strategy, 1 if per_video is None else per_video)
        if mapping is None:
            raise ValueError("reference strategy 'per_participant' needs `reference.mapping=FILE`")
        self.mapping, self.domain, self.listed = Path(str(mapping)), domain, per_video is None

    def assign(self, videos, encode_style=None) -> list[Assignment]:
        mapping = read_mapping(self.mapping, self.domain)
        participants = natsorted({v.participant for v in videos})
        missing = [p for p in participants if normalise_participant(p) not in mapping]
        if missing:
            raise ValueError(
                f"reference mapping {self.mapping} has no entry for participant(s) {missing}; "
                f"it lists {natsorted(mapping)}; add a row per participant"
            )
        chosen = {p: mapping[normalise_participant(p)] for p in participants}
        for participant, images in chosen.items():
            if not self.listed:
                _listed_count(self.per_video, len(images), f"{self.mapping} for {participant}")
            for image in images:
                check_reference(image.path)
        return _assign(videos, {v.video: v.participant for v in videos}, chosen, self.name)


class PoolStrategy(ReferenceStrategy):
    """A strategy that draws from a pool folder (images, or one subfolder per domain)."""

    def __init__(
        self,
        strategy: str,
        pool: str | None,
        domain: int | None,
        domains: Mapping[str, int] | None,
        unit: str,
        per_video: int = 1,
    ) -> None:
        super().__init__(strategy, per_video)
        check_choice("reference.unit", unit, UNITS)
        self.pool, self.domain, self.unit = pool, domain, unit
        self.domains = dict(to_plain(domains) or {})

    def images(self) -> list[PoolImage]:
        images = list_pool(self.pool, self.domains, self.domain)
        _enough_images(len(images), self.per_video, f"reference pool {self.pool}")
        return images


class RandomReference(PoolStrategy):
    """Seeded draws from the pool, without replacement until the pool is used up."""

    name = "random"

    def __init__(self, strategy, pool, domain, domains, unit, seed: int, per_video=1) -> None:
        super().__init__(strategy, pool, domain, domains, unit, per_video)
        self.seed = int(seed)

    def assign(self, videos, encode_style=None) -> list[Assignment]:
        units, unit_of = _units(videos, self.unit)
        drawn = _seeded_cycle(self.images(), len(units) * self.per_video, self.seed)
        choice = dict(zip(units, _in_groups(drawn, self.per_video), strict=True))
        return _assign(videos, unit_of, choice, self.name)


class UniformBackgroundReference(PoolStrategy):
    """The pool's images with the most uniform backgrounds (the paper's choice, to avoid artefacts).

    Images are ranked by :func:`border_nonuniformity`; the ``top_k`` best (at least
    ``per_video``) are handed out to the units in turn (``top_k: 1``: every video gets the single
    most uniform image).
    """

    name = "uniform_background"

    def __init__(
        self, strategy, pool, domain, domains, unit, border: float, top_k: int, per_video=1
    ) -> None:
        super().__init__(strategy, pool, domain, domains, unit, per_video)
        if not 0 < float(border) < 0.5:
            raise ValueError(
                f"reference.border={border} must be a fraction of the side in (0, 0.5)"
            )
        if int(top_k) < 1:
            raise ValueError(f"reference.top_k={top_k} must be at least 1")
        self.border, self.top_k = float(border), int(top_k)

    def assign(self, videos, encode_style=None) -> list[Assignment]:
        pool = self.images()
        scores = [border_nonuniformity(read_image(image.path), self.border) for image in pool]
        order = np.argsort(scores, kind="stable")
        for i in order[: max(5, self.top_k)]:
            log.info("border non-uniformity %.2f: %s", scores[i], pool[i].path)
        best = [pool[i] for i in order[: max(self.top_k, self.per_video)]]
        units, unit_of = _units(videos, self.unit)
        k = self.per_video
        choice = {
            unit: [best[(i * k + j) % len(best)] for j in range(k)] for i, unit in enumerate(units)
        }
        return _assign(videos, unit_of, choice, self.name)


class DiverseReference(PoolStrategy):
    """References spread across the units in style space (greedy farthest-point on style codes)."""

    name = "diverse"

    def assign(self, videos, encode_style=None) -> list[Assignment]:
        if encode_style is None:
            raise ValueError("reference strategy 'diverse' needs the style encoder (encode_style)")
        pool = self.images()
        codes = encode_style([image.path for image in pool], [image.domain for image in pool])
        units, unit_of = _units(videos, self.unit)
        picks = _in_groups(farthest_points(codes, len(units) * self.per_video), self.per_video)
        choice = {u: [pool[i] for i in chosen] for u, chosen in zip(units, picks, strict=True)}
        return _assign(videos, unit_of, choice, self.name)


class GenderMatchedReference(ReferenceStrategy):
    """Each participant gets a reference of their own gender (the paper's choice).

    The participant's gender picks the domain (``reference.domains``, e.g. female: 0, male: 1)
    and the pool subfolder of that name; within it, references are drawn as in ``random``.
    """

    name = "gender_matched"

    def __init__(
        self,
        strategy: str,
        metadata: str | None,
        participant_column: str,
        gender_column: str,
        pool: str | None,
        seed: int,
        domains: Mapping[str, int],
        aliases: Mapping[str, str] | None,
        per_video: int = 1,
    ) -> None:
        super().__init__(strategy, per_video)
        if metadata is None:
            raise ValueError("reference strategy 'gender_matched' needs `reference.metadata=FILE`")
        self.metadata, self.pool, self.seed = metadata, pool, int(seed)
        self.participant_column, self.gender_column = participant_column, gender_column
        self.domains = dict(to_plain(domains) or {})
        self.aliases = dict(to_plain(aliases) or {})

    def assign(self, videos, encode_style=None) -> list[Assignment]:
        genders = read_genders(
            self.metadata, self.participant_column, self.gender_column, self.aliases
        )
        pool = list_pool(self.pool, self.domains, None)
        participants = natsorted({v.participant for v in videos})
        missing = [p for p in participants if normalise_participant(p) not in genders]
        if missing:
            raise ValueError(
                f"participant metadata {self.metadata} has no gender for participant(s) "
                f"{missing}; add them to the sheet"
            )
        choice: dict[str, list[PoolImage]] = {}
        for gender in natsorted({genders[normalise_participant(p)] for p in participants}):
            if gender not in self.domains:
                raise ValueError(
                    f"gender {gender!r} (from {self.metadata}) maps to no domain; "
                    f"reference.domains has {self.domains}; add it or an alias in "
                    "reference.aliases"
                )
            candidates = [image for image in pool if image.domain == int(self.domains[gender])]
            if not candidates:
                raise ValueError(
                    f"reference pool {self.pool} has no images for {gender!r} "
                    f"(domain {self.domains[gender]}); add them under {Path(self.pool) / gender}"
                )
            where = f"reference pool {Path(self.pool) / gender}"
            _enough_images(len(candidates), self.per_video, where)
            members = [p for p in participants if genders[normalise_participant(p)] == gender]
            drawn = _seeded_cycle(candidates, len(members) * self.per_video, self.seed)
            choice.update(zip(members, _in_groups(drawn, self.per_video), strict=True))
        return _assign(videos, {v.video: v.participant for v in videos}, choice, self.name)


def border_nonuniformity(image: np.ndarray, border: float = 0.1, size: int = 256) -> float:
    """How busy the border strip of an image is (0 for a flat background; lower is better).

    The image is scaled to ``size`` and made grey; within the strip of width ``border`` (a
    fraction of the side) along all four edges, the score is the standard deviation of the grey
    levels plus the mean gradient magnitude, both in grey levels.
    """
    grey = to_grey(cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA))
    grey = grey.astype(np.float32)
    width = max(1, int(round(border * size)))
    strip = np.zeros((size, size), dtype=bool)
    strip[:width] = strip[-width:] = True
    strip[:, :width] = strip[:, -width:] = True
    grad_y, grad_x = np.gradient(grey)
    gradient = np.hypot(grad_x, grad_y)
    return float(grey[strip].std() + gradient[strip].mean())


def farthest_points(codes: np.ndarray, count: int) -> list[int]:
    """Greedy farthest-point selection of ``count`` rows of ``codes`` (Euclidean distance).

    Starts with the row farthest from the mean, then repeatedly takes the row farthest from
    everything taken so far. ``count`` larger than the number of rows cycles through the order.
    """
    codes = np.asarray(codes, dtype=np.float64)
    first = int(np.argmax(np.linalg.norm(codes - codes.mean(axis=0), axis=1)))
    order = [first]
    nearest = np.linalg.norm(codes - codes[first], axis=1)
    while len(order) < min(count, len(codes)):
        pick = int(np.argmax(nearest))
        order.append(pick)
        nearest = np.minimum(nearest, np.linalg.norm(codes - codes[pick], axis=1))
    return [order[i % len(order)] for i in range(count)]


def select_references(
    strategy: ReferenceStrategy,
    videos: Sequence[VideoInfo],
    encode_style: StyleEncodeFn | None = None,
    num_domains: int | None = None,
) -> list[Assignment]:
    """Run ``strategy`` (from ``hydra.utils.instantiate(cfg.reference)``) over ``videos``."""
    if not isinstance(strategy, ReferenceStrategy):
        raise ValueError(
            f"the reference config gave {type(strategy).__name__}, not a reference strategy; "
            "choose one with reference=fixed|per_participant|random|gender_matched|"
            "uniform_background|diverse"
        )
    assignments = strategy.assign(videos, encode_style=encode_style)
    for a in assignments:
        _check_domain(a.domain, num_domains, f"reference {a.reference} for video {a.video}")
    return assignments


def write_references_csv(
    assignments: Sequence[Assignment], path: str | Path, names: Sequence[str] | None = None
) -> Path:
    """``references.csv``: which reference and domain each synthetic video got, by which
    strategy, from which source video; ``names`` are the synthetic ids (default: the source's)."""
    names = [a.video for a in assignments] if names is None else list(names)

    def write(partial: Path) -> None:
        with partial.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(REFERENCE_COLUMNS)
            for name, a in zip(names, assignments, strict=True):
                row = [name, a.participant, str(a.reference), a.domain, a.strategy, a.video]
                writer.writerow([*row, a.identity])

    return write_atomically(path, write)
