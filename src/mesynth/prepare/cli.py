"""``mesynth prepare-data SOURCE OUT``: the command line (defaults in ``conf/prepare.yaml``)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from mesynth.config import conf_dir, resolve_num_workers, to_plain
from mesynth.console import user_error_exit

DESCRIPTION = (
    "Turn raw face photos (a folder tree, or a raw CelebA folder) into a training set: faces "
    "aligned as synthesis aligns them (crop=fixed), filtered (no face, several faces, too small, "
    "blurred, near-duplicates, unreadable), split into OUT/train/<domain>/ and OUT/val/<domain>/, "
    "with OUT/prepared.csv, OUT/report.md and contact sheets. Re-running the same command resumes. "
    "Train on it with: python train.py data=folder data.root=OUT/train data.val_root=OUT/val"
)


def load_defaults() -> dict:
    from omegaconf import OmegaConf

    return dict(to_plain(OmegaConf.load(conf_dir() / "prepare.yaml")))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", metavar="SOURCE", help="folder of photos, or a raw CelebA folder")
    parser.add_argument("out", metavar="OUT", help="output folder (new, empty, or the same run's)")
    domains = parser.add_mutually_exclusive_group()
    domains.add_argument("--domains", metavar="CSV", help="CSV with rows file,domain")
    domains.add_argument(
        "--attribute",
        metavar="NAME",
        help="CelebA attribute(s) naming the domains: Eyeglasses -> glasses/, no_glasses/; "
        "Male,Eyeglasses -> female/, male/, female_glasses/, male_glasses/ (the domains of "
        "experiment=finetune_glasses)",
    )
    domains.add_argument(
        "--by-folder",
        action="store_true",
        help="domain = the photo's sub-folder of SOURCE (the default when SOURCE has sub-folders)",
    )
    parser.add_argument("--size", type=int, help="side of the aligned faces in px (default 256)")
    parser.add_argument("--val", type=float, help="share of faces for OUT/val (default 0.1)")
    parser.add_argument("--seed", type=int, help="seed of the split and contact sheets (default 0)")
    parser.add_argument(
        "--identities",
        metavar="CSV",
        help="CSV with rows file,identity: no identity is put in both train and val",
    )
    parser.add_argument("--workers", help="processes (default auto: one per free CPU core)")
    parser.add_argument(
        "--one-face-only",
        action="store_true",
        default=None,
        help="leave out photos with several faces (default: keep the largest face)",
    )
    parser.add_argument(
        "--celeba-partition",
        action="store_true",
        help="use CelebA's own train/val/test partition (list_eval_partition.txt)",
    )
    parser.add_argument("--min-face", type=float, help="smallest face square in source px")
    parser.add_argument("--min-sharpness", type=float, help="smallest variance of the Laplacian")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def settings_from(args: argparse.Namespace):
    from mesynth.prepare.run import PrepareSettings

    defaults = load_defaults()

    def pick(name: str):
        value = getattr(args, name, None)
        return defaults[name] if value is None else value

    def path(value: str | None) -> Path | None:
        return None if value is None else Path(value)

    return PrepareSettings(
        source=Path(args.source),
        out=Path(args.out),
        domains_csv=path(args.domains),
        attribute=args.attribute,
        by_folder=bool(args.by_folder),
        size=int(pick("size")),
        val=float(pick("val")),
        seed=int(pick("seed")),
        identities_csv=path(args.identities),
        workers=resolve_num_workers(pick("workers"), "--workers"),
        one_face_only=bool(pick("one_face_only")),
        celeba_partition=bool(args.celeba_partition),
        min_face=float(pick("min_face")),
        min_sharpness=float(pick("min_sharpness")),
        duplicate_bits=int(defaults["duplicate_bits"]),
        attribute_names=dict(defaults["attribute_names"]),
        contact_sheet=dict(defaults["contact_sheet"]),
        progress=not args.no_progress,
    )


def run_cli(args: argparse.Namespace) -> int:
    """Carry out a parsed ``prepare-data`` command; 0 when done, 2 for input to fix."""
    from tqdm.contrib.logging import logging_redirect_tqdm

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        from mesynth.prepare.run import prepare

        with logging_redirect_tqdm():
            summary = prepare(settings_from(args))
    except BaseException as error:
        user_error_exit(error)
        raise
    out = summary["out"]
    print(
        f"prepare-data: {summary['kept']} of {summary['photos']} photos kept "
        f"({summary['left_out']} left out, reasons in {out / 'report.md'}).\n"
        f"Train on them: python train.py data=folder data.root={out / 'train'} "
        f"data.val_root={out / 'val'}"
    )
    return 0
