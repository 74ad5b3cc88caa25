"""Face-domain data: the three layouts, bad images, augmentation, balanced pair sampling."""

from __future__ import annotations

import itertools
import logging
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mesynth.training.data import (
    BalancedBatchSampler,
    DataError,
    DomainImageDataset,
    FaceDomainDataModule,
    TrainTransform,
    eval_transform,
    scan_celeba,
    scan_folder,
)
from tests.training.conftest import make_face_folder

EXTENSIONS = ("jpg", "png")


def solid(path: Path, value: int, size=(40, 48)) -> Path:
    """An image of one grey level (domains get distinct levels so batches can be checked)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), value, np.uint8)).save(path)
    return path


def make_folder(root: Path, counts: dict[str, int], values: dict[str, int]) -> Path:
    for domain, count in counts.items():
        for index in range(count):
            solid(root / domain / f"{index:03d}.png", values[domain])
    return root


def test_folder_layout_lists_domains_sorted_with_their_images(tmp_path):
    make_folder(tmp_path, {"male": 2, "female": 3}, {"male": 200, "female": 50})
    (tmp_path / "female" / "notes.txt").write_text("not an image")
    images = scan_folder(tmp_path, None, EXTENSIONS)
    assert images.domains == ["female", "male"]
    assert images.counts() == [3, 2]
    assert all(p.suffix == ".png" for p in images.paths)
    chosen = scan_folder(tmp_path, ["male", "female"], EXTENSIONS)
    assert chosen.domains == ["male", "female"] and chosen.counts() == [2, 3]


def test_folder_layout_errors_name_the_folder(tmp_path):
    with pytest.raises(DataError, match=str(tmp_path / "nowhere")):
        scan_folder(tmp_path / "nowhere", None, EXTENSIONS)
    make_folder(tmp_path, {"a": 1}, {"a": 10})
    with pytest.raises(DataError, match=r"no sub-folder for domain\(s\) \['b'\]"):
        scan_folder(tmp_path, ["a", "b"], EXTENSIONS)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty holds no images"):
        scan_folder(tmp_path, ["a", "empty"], EXTENSIONS)


def write_celeba(root: Path) -> Path:
    """Six CelebA-style entries: attributes Male and Eyeglasses; partitions train/val."""
    rows = [  # name, Male, Eyeglasses, partition
        ("000001.jpg", -1, -1, 0),
        ("000002.jpg", 1, -1, 0),
        ("000003.jpg", 1, 1, 0),
        ("000004.jpg", -1, 1, 0),
        ("000005.jpg", -1, -1, 1),
        ("000006.jpg", 1, -1, 2),
    ]
    lines = [str(len(rows)), "5_o_Clock_Shadow Eyeglasses Male"]
    lines += [f"{name}  -1 {glasses:2d} {male:2d}" for name, male, glasses, _ in rows]
    (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    partitions = "\n".join(f"{name} {part}" for name, *_, part in rows)
    (root / "list_eval_partition.txt").write_text(partitions + "\n")
    for name, male, _, _ in rows:
        solid(root / "img_align_celeba" / name, 200 if male == 1 else 50, size=(178, 218))
    return root


def test_celeba_layout_assigns_domains_by_attribute_rules(tmp_path, caplog):
    root = write_celeba(tmp_path)
    rules = {"female": {"Male": -1}, "male": {"Male": 1}}
    train = scan_celeba(root, rules, "train")
    assert train.domains == ["female", "male"]
    assert [p.name for p in train.paths] == ["000001.jpg", "000002.jpg", "000003.jpg", "000004.jpg"]
    assert train.labels == [0, 1, 1, 0]
    assert [p.name for p in scan_celeba(root, rules, "val").paths] == ["000005.jpg"]

    overlapping = {"plain": {"Eyeglasses": -1}, "glasses": {"Eyeglasses": 1}, "man": {"Male": 1}}
    with caplog.at_level(logging.WARNING), pytest.raises(DataError, match="domain 'man'"):
        # 000002 (man, no glasses) and 000003 (man, glasses) match two rules each: they are
        # left out, which leaves the domain 'man' empty.
        scan_celeba(root, overlapping, "train")
    assert "2 images match more than one domain rule" in caplog.text


def test_celeba_layout_rejects_unknown_attributes_and_bad_values(tmp_path):
    root = write_celeba(tmp_path)
    with pytest.raises(DataError, match="no attribute 'Glasses'.*Eyeglasses"):
        scan_celeba(root, {"a": {"Glasses": 1}}, "train")
    with pytest.raises(DataError, match="must be 1 .* or -1"):
        scan_celeba(root, {"a": {"Male": 0}}, "train")
    with pytest.raises(DataError, match="list_attr_celeba.txt not found"):
        scan_celeba(tmp_path / "missing", {"a": {"Male": 1}}, "train")


def test_celeba_datamodule_center_crops_and_resizes(tmp_path):
    root = write_celeba(tmp_path)
    module = FaceDomainDataModule(
        layout="celeba",
        root=str(root),
        domains={"female": {"Male": -1}, "male": {"Male": 1}},
        img_size=32,
        center_crop=178,
        min_size=32,
        num_workers=0,
        batch_size=2,
    )
    assert module.domains == ["female", "male"]
    samples = module.sample_batch(1)  # from the val split: one female image
    assert samples["x_src"].shape == (1, 3, 32, 32)
    assert samples["y_src"].tolist() == [0]


def test_celeba_hq_layout_uses_train_and_val(tmp_path):
    make_folder(tmp_path / "train", {"female": 2, "male": 2}, {"female": 50, "male": 200})
    make_folder(tmp_path / "val", {"female": 2, "male": 2}, {"female": 60, "male": 210})
    module = FaceDomainDataModule(
        layout="celeba_hq", root=str(tmp_path), img_size=16, min_size=16, num_workers=0
    )
    assert module.domains == ["female", "male"]
    batch = module.sample_batch(2)
    # Fixed images from val/, one of each domain in turn; references differ from sources.
    assert batch["y_src"].tolist() == [0, 1] and batch["y_ref"].tolist() == [0, 1]
    level = (batch["x_src"][:, 0, 0, 0] + 1) / 2 * 255
    assert level.round().tolist() == [60.0, 210.0]
    assert torch.equal(batch["x_src"], module.sample_batch(2)["x_src"])  # deterministic
    with pytest.raises(DataError, match="train does not exist"):
        _ = FaceDomainDataModule(layout="celeba_hq", root=str(tmp_path / "x")).domains


def test_bad_images_are_reported_by_path_and_skipped_or_fatal_when_strict(tmp_path, caplog):
    make_folder(tmp_path, {"a": 3, "b": 3}, {"a": 30, "b": 220})
    corrupt = tmp_path / "a" / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG not really")
    tiny = solid(tmp_path / "b" / "tiny.png", 220, size=(8, 8))
    module = FaceDomainDataModule(
        layout="folder", root=str(tmp_path), img_size=16, min_size=16, num_workers=0
    )
    with caplog.at_level(logging.WARNING):
        module.setup("fit")
    assert "skipping 2 of 8 training images" in caplog.text
    assert str(corrupt) in caplog.text and "unreadable" in caplog.text
    assert str(tiny) in caplog.text and "too small (8x8" in caplog.text
    assert module.train_images.counts() == [3, 3]

    strict = FaceDomainDataModule(
        layout="folder", root=str(tmp_path), img_size=16, min_size=16, strict=True
    )
    with pytest.raises(DataError, match="2 of 8 training images cannot be used") as error:
        strict.setup("fit")
    assert str(corrupt) in str(error.value) and "data.strict=false" in str(error.value)


def test_image_that_fails_at_load_time_is_replaced_by_one_of_its_domain(tmp_path, caplog):
    make_folder(tmp_path, {"a": 2, "b": 2}, {"a": 30, "b": 220})
    images = scan_folder(tmp_path, None, EXTENSIONS)
    broken = images.paths[0]
    broken.write_bytes(b"broken after the scan")
    dataset = DomainImageDataset(images, eval_transform(16))
    with caplog.at_level(logging.WARNING):
        x, label = dataset.load(0)
    assert label == 0
    assert ((x[0, 0, 0] + 1) / 2 * 255).round().item() == 30  # the other image of domain a
    assert str(broken) in caplog.text and "1 skipped so far" in caplog.text
    strict = DomainImageDataset(images, eval_transform(16), strict=True)
    with pytest.raises(DataError, match=f"cannot read training image {broken}"):
        strict.load(0)


def test_train_transform_crops_with_the_given_probability_and_normalises():
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 30, 3), dtype=np.uint8))
    plain = TrainTransform(16, randcrop_prob=0.0, hflip=False)(image)
    assert plain.shape == (3, 16, 16)
    assert torch.equal(plain, eval_transform(16)(image))
    assert plain.min() >= -1 and plain.max() <= 1
    torch.manual_seed(0)
    cropped = TrainTransform(16, randcrop_prob=1.0, hflip=False)(image)
    assert cropped.shape == (3, 16, 16) and not torch.equal(cropped, plain)
    torch.manual_seed(0)
    flips = {torch.equal(TrainTransform(16, 0.0, hflip=True)(image), plain) for _ in range(20)}
    assert flips == {True, False}  # flipped about half of the time


def test_balanced_batch_sampler_equalises_domains_and_gives_each_rank_its_own_stream():
    labels = [0] * 90 + [1] * 10
    sampler = BalancedBatchSampler(labels, 2, batch_size=8, seed=1)
    batches = list(itertools.islice(sampler, 500))
    items = [item for batch in batches for item in batch]
    assert len(items) == 4000 and all(len(batch) == 8 for batch in batches)
    for column in (0, 1):
        shares = Counter(labels[item[column]] for item in items)
        assert abs(shares[1] / 4000 - 0.5) < 0.03
    assert len({item[2] for item in items}) == 4000  # every item its own augmentation seed
    # Batch i depends only on (seed, rank, i): a stream started at i continues the first one.
    assert batches == list(itertools.islice(BalancedBatchSampler(labels, 2, 8, seed=1), 500))
    resumed = BalancedBatchSampler(labels, 2, 8, seed=1, start=200)
    assert list(itertools.islice(resumed, 300)) == batches[200:]
    rank1 = list(itertools.islice(BalancedBatchSampler(labels, 2, 8, seed=1, rank=1), 500))
    assert all(ours != theirs for ours, theirs in zip(batches, rank1, strict=True))
    other_seed = list(itertools.islice(BalancedBatchSampler(labels, 2, 8, seed=2), 500))
    assert all(ours != theirs for ours, theirs in zip(batches, other_seed, strict=True))


def solid_folder_module(tmp_path: Path, **settings) -> FaceDomainDataModule:
    make_folder(tmp_path, {"dark": 3, "light": 5}, {"dark": 20, "light": 235})
    return FaceDomainDataModule(
        layout="folder", root=str(tmp_path), img_size=16, min_size=16, **settings
    )


def test_batches_hold_a_source_and_two_references_of_one_domain(tmp_path):
    module = solid_folder_module(tmp_path, batch_size=4, num_workers=0, randcrop_prob=0.5)
    seen = set()
    for batch in itertools.islice(module.train_dataloader(), 6):
        assert batch["x_src"].shape == (4, 3, 16, 16)
        for key, labels in (("x_src", "y_src"), ("x_ref", "y_ref"), ("x_ref2", "y_ref")):
            # Solid images: the mean grey level tells the domain.
            light = batch[key].mean(dim=(1, 2, 3)) > 0
            assert light.long().tolist() == batch[labels].tolist()
        seen.update(batch["y_ref"].tolist())
    assert seen == {0, 1}


@pytest.mark.slow
def test_batches_are_the_same_with_worker_processes_and_leave_the_global_rng_alone(tmp_path):
    """Every random choice of an item (second reference, crop, flip) comes from its own seed."""
    face_root = make_face_folder(tmp_path / "faces", per_domain=4, size=48)
    settings = dict(layout="folder", root=str(face_root), img_size=32, min_size=32, batch_size=3)
    in_process = FaceDomainDataModule(num_workers=0, **settings)
    torch.manual_seed(0)
    expected_draw = torch.rand(3)
    torch.manual_seed(0)
    batches = list(itertools.islice(in_process.train_dataloader(), 4))
    assert torch.equal(torch.rand(3), expected_draw)  # data loading drew nothing from it
    with_workers = FaceDomainDataModule(num_workers=2, persistent_workers=False, **settings)
    for ours, theirs in zip(
        batches, itertools.islice(with_workers.train_dataloader(), 4), strict=True
    ):
        for key in ours:
            assert torch.equal(ours[key], theirs[key]), key
    # The items differ: augmentation happened (x_src of one batch are not all the same image).
    assert not torch.equal(batches[0]["x_src"][0], batches[1]["x_src"][0])


def test_loader_settings_come_from_the_config(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    module = solid_folder_module(tmp_path, num_workers="auto", prefetch_factor=3)
    assert module.num_workers == 3  # four cores, one left to the training process
    loader = module.train_dataloader()
    assert loader.num_workers == 3 and loader.prefetch_factor == 3
    assert loader.persistent_workers and not loader.pin_memory  # no GPU here: auto is off
    in_process = solid_folder_module(tmp_path, num_workers=0, pin_memory=True)
    loader = in_process.train_dataloader()
    assert loader.num_workers == 0 and loader.pin_memory and not loader.persistent_workers
    with pytest.raises(ValueError, match="data.num_workers='many' must be a whole number"):
        solid_folder_module(tmp_path, num_workers="many")
    with pytest.raises(DataError, match="data.pin_memory='yes'; expected true, false or auto"):
        solid_folder_module(tmp_path, pin_memory="yes")


def test_a_one_domain_dataset_is_warned_about_loudly(tmp_path, caplog):
    make_folder(tmp_path, {"faces": 3}, {"faces": 100})
    module = FaceDomainDataModule(layout="folder", root=str(tmp_path), img_size=16, min_size=16)
    with caplog.at_level(logging.WARNING):
        module.setup("fit")
    assert "the training data has ONE domain ('faces'" in caplog.text
    assert "<root>/<domain>/" in caplog.text
    caplog.clear()
    two = tmp_path / "two"
    make_folder(two, {"a": 1, "b": 1}, {"a": 10, "b": 200})
    with caplog.at_level(logging.WARNING):
        FaceDomainDataModule(layout="folder", root=str(two), img_size=16, min_size=16).setup()
    assert "ONE domain" not in caplog.text
