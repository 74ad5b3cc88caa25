"""Face images grouped by domain, for StarGAN v2 training.

Three layouts: ``celeba_hq`` (``root/{train,val}/<domain>/*.jpg``, the reference's), ``celeba``
(the original CelebA files, domains defined by attribute rules) and ``folder`` (any
``root/<domain>/`` tree). As in the reference, batches are class-balanced, every source image comes
with two reference images of one (independently drawn) domain, and images get a random resized
crop with probability ``randcrop_prob``, a horizontal flip and normalisation to [-1, 1]. Unlike the
reference, the draws come from streams seeded by (seed, rank, iteration) (see
:mod:`mesynth.training.seeding`): every process gets its own batches, and a resumed run gets
exactly the batches an uninterrupted one would have.

Unreadable or too small images are found up front (``verify``) or when loaded; they are reported
by path and skipped, or stop the run when ``strict``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Sampler
from torchvision import transforms
from torchvision.transforms import functional as TF
from tqdm import tqdm

from mesynth.config import check_choice, resolve_num_workers, to_plain
from mesynth.training.seeding import PAIRS, stream

log = logging.getLogger(__name__)

LAYOUTS = ("celeba_hq", "celeba", "folder")
VERIFY_MODES = ("none", "header", "decode")
CELEBA_IMAGES = "img_align_celeba"
CELEBA_ATTRIBUTES = "list_attr_celeba.txt"
CELEBA_PARTITIONS = "list_eval_partition.txt"
CELEBA_SPLITS = {"train": 0, "val": 1, "test": 2}
MAX_LISTED = 10  # bad files listed in one log message; the rest are counted


class DataError(ValueError):
    """A dataset problem; the message names the file or folder, what was expected and the fix."""


@dataclass
class DomainImages:
    """Image paths with their domain labels (indices into ``domains``)."""

    domains: list[str]
    paths: list[Path] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.paths)

    def counts(self) -> list[int]:
        return [self.labels.count(label) for label in range(len(self.domains))]

    def indices_of(self, label: int) -> list[int]:
        return [index for index, value in enumerate(self.labels) if value == label]

    def without(self, bad: set[Path]) -> DomainImages:
        kept = [(p, y) for p, y in zip(self.paths, self.labels, strict=True) if p not in bad]
        return DomainImages(self.domains, [p for p, _ in kept], [y for _, y in kept])


def _list_images(folder: Path, extensions: Sequence[str]) -> list[Path]:
    suffixes = {"." + ext.lower().lstrip(".") for ext in extensions}
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)


def scan_folder(
    root: str | Path,
    domains: Sequence[str] | None,
    extensions: Sequence[str],
    fix: str | None = None,
) -> DomainImages:
    """Images of ``root/<domain>/``; domains default to the sorted sub-folder names. ``fix``
    replaces the generic advice when a named domain has no sub-folder."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(
            f"image folder {root} does not exist; expected {root}/<domain>/*.jpg. Set data.root "
            "to the folder that holds one sub-folder per domain"
        )
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    names = list(domains) if domains else found
    if not names:
        raise DataError(
            f"{root} has no sub-folders; expected one sub-folder of images per domain, "
            "e.g. {root}/female and {root}/male"
        )
    missing = [name for name in names if name not in found]
    if missing:
        raise DataError(
            f"{root} has no sub-folder for domain(s) {missing} (found {found}); "
            + (fix or "create them or fix data.domains")
        )
    images = DomainImages(names)
    for label, name in enumerate(names):
        paths = _list_images(root / name, extensions)
        if not paths:
            raise DataError(
                f"domain folder {root / name} holds no images with extensions "
                f"{list(extensions)}; add images or remove the domain from data.domains"
            )
        images.paths += paths
        images.labels += [label] * len(paths)
    return images


def read_celeba_table(path: Path) -> tuple[list[str], dict[str, list[int]]]:
    """Column names and rows (file name -> values) of a CelebA attribute or partition file."""
    if not path.is_file():
        raise DataError(
            f"CelebA file {path} not found; data.root must hold {CELEBA_IMAGES}/, "
            f"{CELEBA_ATTRIBUTES} and {CELEBA_PARTITIONS} as in the official release"
        )
    lines = path.read_text().splitlines()
    rows: dict[str, list[int]] = {}
    header: list[str] = []
    if path.name == CELEBA_ATTRIBUTES:
        header = lines[1].split()
        lines = lines[2:]
    for number, line in enumerate(lines, start=1):
        parts = line.split()
        if not parts:
            continue
        try:
            rows[parts[0]] = [int(value) for value in parts[1:]]
        except ValueError as error:
            raise DataError(f"{path} line {number}: cannot parse {line!r} ({error})") from error
    return header, rows


def scan_celeba(
    root: str | Path, rules: Mapping[str, Mapping[str, int]], split: str
) -> DomainImages:
    """CelebA images of ``split`` assigned to domains by attribute rules."""
    root = Path(root)
    rules = to_plain(rules)
    if not isinstance(rules, Mapping) or not rules:
        raise DataError(
            "data.domains must map domain names to attribute rules for layout=celeba, e.g. "
            "{female: {Male: -1}, male: {Male: 1}}; found " + repr(rules)
        )
    header, attributes = read_celeba_table(root / CELEBA_ATTRIBUTES)
    _, partitions = read_celeba_table(root / CELEBA_PARTITIONS)
    column = {name: index for index, name in enumerate(header)}
    for domain, rule in rules.items():
        for attribute, value in rule.items():
            if attribute not in column:
                raise DataError(
                    f"domain {domain!r}: CelebA has no attribute {attribute!r} "
                    f"(in {root / CELEBA_ATTRIBUTES}: {', '.join(header)})"
                )
            if value not in (1, -1):
                raise DataError(
                    f"domain {domain!r}: rule {attribute}: {value} must be 1 (present) or "
                    "-1 (absent)"
                )
    image_dir = root / CELEBA_IMAGES
    if not image_dir.is_dir():
        raise DataError(f"CelebA image folder {image_dir} not found; unpack img_align_celeba.zip")
    names = list(rules)
    images = DomainImages(names)
    ambiguous = 0
    for file_name, values in attributes.items():
        if partitions.get(file_name, [None])[0] != CELEBA_SPLITS[split]:
            continue
        matches = [
            label
            for label, rule in enumerate(rules.values())
            if all(values[column[a]] == v for a, v in rule.items())
        ]
        if len(matches) > 1:
            ambiguous += 1
        elif matches:
            images.paths.append(image_dir / file_name)
            images.labels.append(matches[0])
    if ambiguous:
        log.warning(
            "CelebA %s: %d images match more than one domain rule and are left out; make the "
            "rules exclusive (e.g. add Eyeglasses: -1) to use them",
            split,
            ambiguous,
        )
    for label, count in enumerate(images.counts()):
        if count == 0 and split == "train":
            raise DataError(
                f"no CelebA {split} image matches the rules of domain {names[label]!r} "
                f"({rules[names[label]]}); loosen the rules in data.domains"
            )
    return images


def image_problem(path: Path, min_size: int, decode: bool) -> str | None:
    """Why ``path`` cannot be used (unreadable, too small), or None."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            if decode:
                image.load()
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        return f"unreadable ({type(error).__name__}: {error})"
    if min(width, height) < min_size:
        return f"too small ({width}x{height}, data.min_size={min_size})"
    return None


def report_bad(bad: Mapping[Path, str], total: int, strict: bool, what: str) -> None:
    if not bad:
        return
    listed = "\n".join(f"  {path}: {reason}" for path, reason in list(bad.items())[:MAX_LISTED])
    more = f"\n  ... and {len(bad) - MAX_LISTED} more" if len(bad) > MAX_LISTED else ""
    if strict:
        raise DataError(
            f"{len(bad)} of {total} {what} images cannot be used:\n{listed}{more}\n"
            "Remove or replace them, or set data.strict=false to skip them"
        )
    log.warning("skipping %d of %d %s images:\n%s%s", len(bad), total, what, listed, more)


def verify_images(
    images: DomainImages, min_size: int, mode: str, strict: bool, what: str, workers: int = 8
) -> DomainImages:
    """Check every image up front; returns the usable ones (or raises when ``strict``)."""
    check_choice("data.verify", mode, VERIFY_MODES, DataError)
    if mode == "none" or not len(images):
        return images
    decode = mode == "decode"
    with ThreadPoolExecutor(max_workers=workers) as pool:
        problems = list(
            tqdm(
                pool.map(lambda p: image_problem(p, min_size, decode), images.paths),
                total=len(images),
                desc=f"checking {what} images",
                unit="img",
                leave=False,
                mininterval=1.0,
            )
        )
    bad = {p: reason for p, reason in zip(images.paths, problems, strict=True) if reason}
    report_bad(bad, len(images), strict, what)
    kept = images.without(set(bad))
    for label, count in enumerate(kept.counts()):
        if count == 0:
            raise DataError(
                f"domain {images.domains[label]!r} has no usable {what} images left after "
                "skipping unreadable/tiny ones; see the messages above"
            )
    return kept


def load_image(path: Path, center_crop: int | None = None) -> Image.Image:
    with Image.open(path) as image:
        image = image.convert("RGB")
    if center_crop:
        image = TF.center_crop(image, [center_crop, center_crop])
    return image


class TrainTransform:
    """The reference's training augmentation: maybe a random resized crop, resize, flip, [-1, 1]."""

    def __init__(
        self,
        img_size: int,
        randcrop_prob: float = 0.5,
        crop_scale: Sequence[float] = (0.8, 1.0),
        crop_ratio: Sequence[float] = (0.9, 1.1),
        hflip: bool = True,
    ) -> None:
        self.randcrop_prob = randcrop_prob
        self.crop = transforms.RandomResizedCrop(
            img_size, scale=tuple(crop_scale), ratio=tuple(crop_ratio)
        )
        steps: list = [transforms.Resize([img_size, img_size])]
        if hflip:
            steps.append(transforms.RandomHorizontalFlip())
        steps += [transforms.ToTensor(), transforms.Normalize([0.5] * 3, [0.5] * 3)]
        self.rest = transforms.Compose(steps)

    def __call__(self, image: Image.Image) -> torch.Tensor:
        if torch.rand(()).item() < self.randcrop_prob:
            image = self.crop(image)
        return self.rest(image)


def eval_transform(img_size: int) -> transforms.Compose:
    return transforms.Compose(
        [
            transforms.Resize([img_size, img_size]),
            transforms.ToTensor(),
            transforms.Normalize([0.5] * 3, [0.5] * 3),
        ]
    )


class DomainImageDataset(Dataset):
    """Loads images by index; a file that fails to load is reported and replaced by another image
    of the same domain (or raises when ``strict``).

    Items are ``(source, reference, sample_seed)``: the second reference image and every random
    augmentation are drawn from ``sample_seed`` alone, so an item is the same in any worker
    process and in a resumed run."""

    def __init__(self, images: DomainImages, transform, center_crop=None, strict=False) -> None:
        self.images = images
        self.transform = transform
        self.center_crop = center_crop
        self.strict = strict
        self.by_domain = [images.indices_of(label) for label in range(len(images.domains))]
        self.bad: set[int] = set()

    def __len__(self) -> int:
        return len(self.images)

    def load(self, index: int) -> tuple[torch.Tensor, int]:
        label = self.images.labels[index]
        candidates = self.by_domain[label]
        start = candidates.index(index)
        for offset in range(len(candidates)):
            current = candidates[(start + offset) % len(candidates)]
            if current in self.bad:
                continue
            path = self.images.paths[current]
            try:
                return self.transform(load_image(path, self.center_crop)), label
            except (OSError, ValueError, Image.DecompressionBombError) as error:
                if self.strict:
                    raise DataError(
                        f"cannot read training image {path} ({type(error).__name__}: {error}); "
                        "remove or replace it, or set data.strict=false to skip such images"
                    ) from error
                self.bad.add(current)
                log.warning(
                    "skipping unreadable image %s (%s); %d skipped so far in this loader",
                    path,
                    error,
                    len(self.bad),
                )
        raise DataError(
            f"every image of domain {self.images.domains[label]!r} failed to load; see the "
            "messages above"
        )

    def random_of_domain(self, label: int) -> int:
        candidates = self.by_domain[label]
        return candidates[int(torch.randint(len(candidates), ()).item())]

    def __getitem__(self, item: tuple[int, int, int]) -> dict[str, torch.Tensor | int]:
        source_index, reference_index, sample_seed = item
        # torchvision's random transforms draw from the global RNG: seed it for this item only.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(sample_seed)
            x_src, y_src = self.load(source_index)
            x_ref, y_ref = self.load(reference_index)
            x_ref2, _ = self.load(self.random_of_domain(y_ref))
        return {"x_src": x_src, "y_src": y_src, "x_ref": x_ref, "x_ref2": x_ref2, "y_ref": y_ref}


def balanced_weights(labels: Sequence[int], num_domains: int) -> torch.Tensor:
    """Per-image sampling weights that make every domain equally likely."""
    labels_tensor = torch.as_tensor(labels)
    counts = torch.bincount(labels_tensor, minlength=num_domains).double()
    return (1.0 / counts)[labels_tensor]


class BalancedBatchSampler(Sampler[list[tuple[int, int, int]]]):
    """The batches of iterations ``start``, ``start + 1``, ... of one process, without end.

    A batch is ``batch_size`` items ``(source, reference, sample_seed)``; sources and references
    are drawn class-balanced with replacement. Batch ``i`` of rank ``r`` depends only on
    (seed, r, i), so processes draw different batches, a resumed run continues with the batch it
    would have had, and no epoch boundary exists (training stops after its iterations).
    """

    def __init__(
        self,
        labels: Sequence[int],
        num_domains: int,
        batch_size: int,
        seed: int = 0,
        rank: int = 0,
        start: int = 0,
    ) -> None:
        if batch_size < 1:
            raise DataError(f"data.batch_size={batch_size} must be at least 1")
        self.weights = balanced_weights(labels, num_domains)
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.start = start

    def batch(self, iteration: int) -> list[tuple[int, int, int]]:
        generator = stream(self.seed, self.rank, iteration, PAIRS)
        sources = torch.multinomial(self.weights, self.batch_size, True, generator=generator)
        references = torch.multinomial(self.weights, self.batch_size, True, generator=generator)
        sample_seeds = torch.randint(0, 2**62, (self.batch_size,), generator=generator)
        return list(zip(sources.tolist(), references.tolist(), sample_seeds.tolist(), strict=True))

    def __iter__(self) -> Iterator[list[tuple[int, int, int]]]:
        iteration = self.start
        while True:
            yield self.batch(iteration)
            iteration += 1


class FaceDomainDataModule(L.LightningDataModule):
    """Training batches ``{x_src, y_src, x_ref, x_ref2, y_ref}`` and fixed images for samples."""

    def __init__(
        self,
        layout: str = "celeba_hq",
        root: str = "data/celeba_hq",
        domains=None,
        val_root: str | None = None,
        img_size: int = 256,
        batch_size: int = 8,
        num_workers: int | str = "auto",
        pin_memory: bool | str = "auto",
        persistent_workers: bool = True,
        prefetch_factor: int | None = 2,
        verify_workers: int = 8,
        domains_fix: str | None = None,
        randcrop_prob: float = 0.5,
        crop_scale: Sequence[float] = (0.8, 1.0),
        crop_ratio: Sequence[float] = (0.9, 1.1),
        hflip: bool = True,
        center_crop: int | None = None,
        min_size: int = 64,
        verify: str = "header",
        strict: bool = False,
        extensions: Sequence[str] = ("jpg", "jpeg", "png"),
        seed: int = 0,
    ) -> None:
        super().__init__()
        check_choice("data.layout", layout, LAYOUTS, DataError)
        check_choice("data.verify", verify, VERIFY_MODES, DataError)
        self.layout = layout
        self.root = Path(root)
        self.domain_spec = to_plain(domains)
        self.domains_fix = domains_fix
        self.val_root = Path(val_root) if val_root else None
        self.img_size = img_size
        self.batch_size = int(batch_size)
        self.num_workers = resolve_num_workers(num_workers, "data.num_workers")
        if not (pin_memory == "auto" or isinstance(pin_memory, bool)):
            raise DataError(f"data.pin_memory={pin_memory!r}; expected true, false or auto")
        self.pin_memory = pin_memory
        self.persistent_workers = bool(persistent_workers)
        self.prefetch_factor = prefetch_factor
        if int(verify_workers) < 1:
            raise DataError(f"data.verify_workers={verify_workers} must be at least 1")
        self.verify_workers = int(verify_workers)
        self.transform = TrainTransform(img_size, randcrop_prob, crop_scale, crop_ratio, hflip)
        self.center_crop = center_crop
        self.min_size = min_size
        self.verify = verify
        self.strict = strict
        self.extensions = list(to_plain(extensions))
        self.seed = seed
        self._indices: dict[str, DomainImages | None] = {}
        self.train_images: DomainImages | None = None

    # -- indices ---------------------------------------------------------------------------

    def index(self, split: str) -> DomainImages | None:
        """All images of ``split`` (train or val); None when the layout has no such split."""
        if split not in self._indices:
            self._indices[split] = self._scan(split)
        return self._indices[split]

    def _scan(self, split: str) -> DomainImages | None:
        if self.layout == "celeba":
            return scan_celeba(self.root, self.domain_spec, split)
        names = self.domain_spec
        if names is not None and not isinstance(names, list):
            raise DataError(
                f"data.domains for layout={self.layout} is a list of sub-folder names or null; "
                f"found {names!r}"
            )
        if self.layout == "celeba_hq":
            folder = self.root / split
            if split == "val" and not folder.is_dir():
                return None
            if split == "train" and not folder.is_dir():
                raise DataError(
                    f"{folder} does not exist; layout=celeba_hq expects {self.root}/train/<domain>/ "
                    "and optionally val/ (`mesynth download celeba-hq-dataset`), or use "
                    "data=folder for a plain <root>/<domain>/ tree"
                )
            # Validation folders must use the training domains, in the training order.
            return scan_folder(
                folder, names or self._train_names(split), self.extensions, self.domains_fix
            )
        if split == "train":
            return scan_folder(self.root, names, self.extensions, self.domains_fix)
        if self.val_root is None:
            return None
        return scan_folder(self.val_root, names or self.domains, self.extensions, self.domains_fix)

    def _train_names(self, split: str) -> list[str] | None:
        return None if split == "train" else self.domains

    @property
    def domains(self) -> list[str]:
        """Domain names in label order."""
        if self.layout == "celeba":
            if not isinstance(self.domain_spec, Mapping):
                raise DataError("layout=celeba needs data.domains as {name: {Attribute: 1|-1}}")
            return list(self.domain_spec)
        return self.index("train").domains

    # -- Lightning hooks -----------------------------------------------------------------

    def setup(self, stage: str | None = None) -> None:
        if self.train_images is None:
            images = self.index("train")
            self.train_images = verify_images(
                images, self.min_size, self.verify, self.strict, "training", self.verify_workers
            )
            counts = ", ".join(
                f"{name}: {count}"
                for name, count in zip(self.domains, self.train_images.counts(), strict=True)
            )
            log.info("training images per domain: %s", counts)
            if len(self.domains) == 1:
                warn_one_domain(self.domains[0], self.root)

    def train_dataloader(self) -> DataLoader:
        """Endless batches for this process, from the module's iteration on (0, or where a
        resumed run stopped)."""
        rank, start, on_gpu = 0, 0, None
        if self.trainer is not None:
            rank = self.trainer.global_rank
            start = int(getattr(self.trainer.lightning_module, "iteration", 0))
            on_gpu = self.trainer.strategy.root_device.type == "cuda"
        return self.loader(rank, start, on_gpu)

    def loader(self, rank: int = 0, start: int = 0, on_gpu: bool | None = None) -> DataLoader:
        """The batches of process ``rank`` for iterations ``start``, ``start + 1``, ..."""
        self.setup("fit")
        images = self.train_images
        dataset = DomainImageDataset(images, self.transform, self.center_crop, self.strict)
        sampler = BalancedBatchSampler(
            images.labels, len(images.domains), self.batch_size, self.seed, rank, start
        )
        if on_gpu is None:
            on_gpu = torch.cuda.is_available()
        workers = self.num_workers
        log.info("data loading: %d worker processes per training process", workers)
        return DataLoader(
            dataset,
            batch_sampler=sampler,
            num_workers=workers,
            pin_memory=on_gpu if self.pin_memory == "auto" else self.pin_memory,
            persistent_workers=self.persistent_workers and workers > 0,
            prefetch_factor=self.prefetch_factor if workers > 0 else None,
            # Items carry their own seeds; this only keeps the loader off the global RNG.
            generator=torch.Generator().manual_seed(self.seed),
        )

    # -- fixed images for sample grids and metrics ---------------------------------------

    def sample_batch(self, num_sources: int) -> dict[str, torch.Tensor]:
        """Fixed source and reference images (validation split when there is one), spread
        evenly over the domains: ``{x_src, y_src, x_ref, y_ref}``."""
        images = self.index("val") or self.index("train")
        if images.domains != self.domains:
            raise DataError(
                f"validation domains {images.domains} differ from training domains "
                f"{self.domains}; give both splits the same domain folders"
            )
        chosen = _round_robin(images, 2 * num_sources)
        dataset = DomainImageDataset(
            images, eval_transform(self.img_size), self.center_crop, self.strict
        )
        loaded = [dataset.load(index) for index in chosen]
        # Sources and references are different images when there are enough of them.
        sources = loaded[:num_sources]
        references = loaded[num_sources:] or sources
        return {
            "x_src": torch.stack([x for x, _ in sources]),
            "y_src": torch.tensor([y for _, y in sources]),
            "x_ref": torch.stack([x for x, _ in references]),
            "y_ref": torch.tensor([y for _, y in references]),
        }

    def val_images(self) -> DomainImages | None:
        return self.index("val")


def warn_one_domain(domain: str, root: Path) -> None:
    """StarGAN v2 translates between domains; with one there is nothing to translate to."""
    line = "!" * 100
    log.warning(line)
    log.warning(
        "the training data has ONE domain (%r, in %s). StarGAN v2 learns to translate between "
        "domains: with one, every target is the source's own domain, so the run learns at most "
        "a style transfer within that domain. Put each domain in its own sub-folder "
        "(<root>/<domain>/), or set data.domains to at least two of them.",
        domain,
        root,
    )
    log.warning(line)


def _round_robin(images: DomainImages, count: int) -> list[int]:
    """Up to ``count`` indices taking one image of each domain in turn (sorted by path)."""
    per_domain = [
        sorted(images.indices_of(label), key=lambda i: images.paths[i])
        for label in range(len(images.domains))
    ]
    chosen: list[int] = []
    for position in range(max(len(indices) for indices in per_domain)):
        for indices in per_domain:
            if position < len(indices) and len(chosen) < count:
                chosen.append(indices[position])
    return chosen
