"""Raw CelebA folders: domains by attribute, split by identity or by CelebA's partition."""

from __future__ import annotations

import hydra

from mesynth.__main__ import main
from mesynth.prepare.report import read_csv
from mesynth.training.finetune import resolve_domain_sources
from tests.prepare.conftest import _error_of
from tests.training.conftest import compose_train


def test_a_raw_celeba_folder_by_attribute_split_by_identity(celeba_folder, tmp_path):
    out = tmp_path / "out"
    status = main(
        [
            "prepare-data",
            str(celeba_folder),
            str(out),
            "--attribute",
            "Eyeglasses",
            "--val",
            "0.3",
            "--size",
            "64",
            "--workers",
            "1",
            "--no-progress",
        ]
    )
    assert status == 0
    rows = read_csv(out / "prepared.csv")
    assert len(rows) == 8 and all(row["status"] == "kept" for row in rows)
    domains = {row["file"]: row["domain"] for row in rows}
    assert (
        domains["img_celeba/000001.jpg"] == "glasses"
        and domains["img_celeba/000002.jpg"] == "no_glasses"
    )
    assert sorted(p.name for p in (out / "train").iterdir()) == ["glasses", "no_glasses"]
    sides: dict[str, set[str]] = {}
    for row in rows:
        sides.setdefault(row["identity"], set()).add(row["split"])
    assert all(len(splits) == 1 for splits in sides.values()) and len(sides) == 4
    partitioned = tmp_path / "partitioned"
    main(
        [
            "prepare-data",
            str(celeba_folder),
            str(partitioned),
            "--attribute",
            "Eyeglasses",
            "--celeba-partition",
            "--size",
            "64",
            "--workers",
            "1",
            "--no-progress",
        ]
    )
    splits = {row["file"][-10:]: row["split"] for row in read_csv(partitioned / "prepared.csv")}
    assert (
        splits["000004.jpg"] == "val"
        and splits["000006.jpg"] == "test"
        and splits["000001.jpg"] == "train"
    )
    assert (partitioned / "test" / "no_glasses" / "000006.png").is_file()


def test_an_unknown_celeba_attribute_names_the_list_and_the_choices(
    celeba_folder, tmp_path, capsys
):
    error = _error_of([str(celeba_folder), str(tmp_path / "out"), "--attribute", "Glasses"], capsys)
    assert (
        "list_attr_celeba.txt has no attribute Glasses" in error
        and "Eyeglasses, Male, Smiling" in error
    )
    assert not (tmp_path / "out").exists()


def test_several_celeba_attributes_give_the_domains_finetune_glasses_continues(
    glasses_prepared, tmp_path
):
    out = glasses_prepared
    rows = {row["file"][-10:]: row for row in read_csv(out / "prepared.csv")}
    assert [rows[f"00000{i}.jpg"]["domain"] for i in range(1, 5)] == [
        "female_glasses",
        "female",
        "male_glasses",
        "male",
    ]
    # On disk the folders sort female, female_glasses, male, male_glasses.
    assert sorted(p.name for p in (out / "train").iterdir())[1] == "female_glasses"
    # The README's command: the experiment as written, given only where the data is.
    cfg = compose_train(
        ["experiment=finetune_glasses", "data=folder", f"data.root={out / 'train'}"]
        + [f"data.val_root={out / 'val'}", f"paths.output_dir={tmp_path}"]
    )
    datamodule = hydra.utils.instantiate(cfg.data, img_size=64)
    # Label order female, male, then the new two, as the official model and gender_matched.
    assert datamodule.domains == ["female", "male", "female_glasses", "male_glasses"]
    assert datamodule.index("train").counts() == [1, 1, 1, 1]
    assert datamodule.val_images().counts() == [1, 1, 1, 1]
    # No person is on both sides.
    people = {
        split: {r["identity"] for r in rows.values() if r["split"] == split}
        for split in ("train", "val")
    }
    assert len(people["train"]) == len(people["val"]) == 2 and not people["train"] & people["val"]
    finetune = cfg.finetune
    sources = resolve_domain_sources(
        datamodule.domains,
        finetune.checkpoint_domains,
        2,
        finetune.domain_map,
        finetune.new_domains,
    )
    assert sources == [0, 1, 0, 1]  # glasses domains start from the female and male heads
