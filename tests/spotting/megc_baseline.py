"""The MEGC2020 baseline's published files in mesynth's formats, to check the scorer against.

The baseline (github HeyingGithub/Baseline-project-for-MEGC2020_spotting) publishes, under
``MDMD_results/``: per video and type its predicted clips (``results_API/<dataset>_<type>_txtClips
/p<p>/<video>.txt``, lines ``onset offset score``), the ground truth it scores against
(``dataset_new/data/<sets>/all_Info.txt``, lines ``subject video type onset apex offset``), the
videos (``<dataset>_all.txt``) and its counts (``eval_res_txt/MEGC2020_results.txt``). Its
``evaluation_all_p.py`` keeps, before scoring, only clips whose length (frames, both ends) lies
in the ranges below. Nothing of that repository is stored here: point
``MESYNTH_MEGC_BASELINE_DIR`` at an extracted copy.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from mesynth.spotting.scoring import MEGC_TYPE_NAMES, Prediction, write_predictions

BASELINE_ENV = "MESYNTH_MEGC_BASELINE_DIR"
# dataset -> (folder of its video sets, its name in MEGC2020_results.txt)
DATASETS = {"SAMM_MEGC": ("SAMM_MEGC_Sets", "SAMM_MEGC"), "ME2": ("CAS(ME)^2_Sets", "ME2")}
# evaluation_all_p.py: (shortest, longest) clip length kept per dataset and type; None: no limit.
LENGTHS = {
    ("ME2", "micro"): (7, 16),
    ("ME2", "macro"): (17, None),
    ("SAMM_MEGC", "micro"): (47, 105),
    ("SAMM_MEGC", "macro"): (106, None),
}
P = 1  # the threshold setting whose clips MEGC2020_results.txt reports


def results_dir(root: Path) -> Path:
    """``MDMD_results`` of an extracted copy (the copy itself or its parent)."""
    for candidate in (root / "MDMD_results", root):
        if (candidate / "eval_res_txt" / "MEGC2020_results.txt").is_file():
            return candidate
    raise FileNotFoundError(
        f"{root} holds no MDMD_results/eval_res_txt/MEGC2020_results.txt; point {BASELINE_ENV} "
        "at an extracted copy of HeyingGithub/Baseline-project-for-MEGC2020_spotting"
    )


def videos_of(results: Path, dataset: str) -> list[str]:
    sets = results / "dataset_new" / "data" / DATASETS[dataset][0]
    lines = (sets / f"{dataset}_all.txt").read_text().split("\n")
    return sorted("_".join(line.split()) for line in lines if line.strip())


def predictions_of(results: Path, dataset: str) -> list[Prediction]:
    """The p=1 clips of every video, length-filtered as evaluation_all_p.py does."""
    predictions = []
    for kind in MEGC_TYPE_NAMES:
        shortest, longest = LENGTHS[(dataset, kind)]
        folder = results / "results_API" / f"{dataset}_{kind}_txtClips" / f"p{P}"
        for video in videos_of(results, dataset):
            for line in (folder / f"{video}.txt").read_text().split("\n"):
                if not line.strip():
                    continue
                onset, offset, score = line.split()
                length = int(offset) - int(onset) + 1
                if length >= shortest and (longest is None or length <= longest):
                    predictions.append(Prediction(video, int(onset), int(offset), kind, score))
    return predictions


def annotations_of(results: Path, dataset: str) -> pd.DataFrame:
    """all_Info.txt as a mesynth annotation table."""
    sets = results / "dataset_new" / "data" / DATASETS[dataset][0]
    rows = []
    for line in (sets / "all_Info.txt").read_text().split("\n"):
        if not line.strip():
            continue
        subject, video, kind, onset, apex, offset = line.split()
        rows.append(
            {
                "video": f"{subject}_{video}",
                "subject": subject,
                "onset": int(float(onset)),
                "apex": int(round(float(apex))),
                "offset": int(float(offset)),
                "type": kind,
                "action_units": "",
            }
        )
    return pd.DataFrame(rows)


def write_inputs(results: Path, dataset: str, out: Path) -> tuple[Path, Path]:
    """The dataset's predictions as a MEGC CSV and its ground truth as a mesynth CSV."""
    out.mkdir(parents=True, exist_ok=True)
    predictions = write_predictions(predictions_of(results, dataset), out / f"{dataset}_pred.csv")
    annotations = out / f"{dataset}_annotations.csv"
    annotations_of(results, dataset).to_csv(annotations, index=False)
    return predictions, annotations


def published_counts(results: Path) -> dict[str, dict[str, dict[str, float]]]:
    """MEGC2020_results.txt: dataset -> micro/macro/overall -> counts and ratios as printed."""
    text = (results / "eval_res_txt" / "MEGC2020_results.txt").read_text()
    published: dict[str, dict[str, dict[str, float]]] = {}
    blocks = re.split(r"^(\w+) \(number of videos: (\d+)\)-*$", text, flags=re.MULTILINE)
    for name, n_videos, body in zip(blocks[1::3], blocks[2::3], blocks[3::3], strict=True):
        rows = {"n_videos": {"n": int(n_videos)}}
        for label, key in (
            ("micro-expression", "micro"),
            ("macro-expression", "macro"),
            ("total", "overall"),
        ):
            match = re.search(
                rf"{label}:\s+predict:\s*(\d+)\s+true_predict:\s*(\d+)\s+labels:\s*(\d+)\s+"
                r"recall:\s*([\d.e-]+)\s+precision:\s*([\d.e-]+)\s+F1-Score:\s*([\d.e-]+)",
                body,
            )
            if match is None:
                raise ValueError(f"MEGC2020_results.txt: no {label} line for {name}")
            n_pred, n_tp, n_gt = (int(v) for v in match.groups()[:3])
            recall, precision, f1 = (float(v) for v in match.groups()[3:])
            rows[key] = {
                "n_pred": n_pred, "n_tp": n_tp, "n_gt": n_gt,
                "recall": recall, "precision": precision, "f1": f1,
            }  # fmt: skip
        published[name] = rows
    return published
