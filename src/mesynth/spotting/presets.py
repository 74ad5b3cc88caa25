"""Dataset presets of the spotting experiment (``spotting.preset=samm_lv|casme2``).

A preset fills in what the published protocols fix for SAMM-LV and CAS(ME)^2 (values in the
``spotting.presets`` block of ``conf/evaluate.yaml``): the feature windows ``k`` (SOFTNet's or
the MEGC2020 baseline's, ``spotting.preset_k``), the MEGC2020 baseline's interval length filters
(predictions outside them are dropped, as its ``evaluation_all_p.py`` does), eye masking (the
spotter ignores the eye regions, so blinks are not expressions) and the dataset's known event
totals, which the report prints next to the ``n_gt`` of the run. The ``k`` and the regions are
filled only where left null (a value set on the command line wins); the spotter types intervals
by the preset's longest micro-expression.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from omegaconf import DictConfig, OmegaConf, open_dict

from mesynth.config import check_choice
from mesynth.evaluation.common import EvaluationInputError
from mesynth.spotting.roi import ROI_NAMES
from mesynth.spotting.types import EXPRESSION_TYPES, Prediction

log = logging.getLogger(__name__)

K_SOURCES = ("softnet", "megc")
EYE_REGIONS = ("eye_left", "eye_right")


@dataclass(frozen=True)
class Preset:
    """One dataset's protocol values."""

    name: str
    dataset: str
    fps: float
    k: dict[str, dict[str, int]]  # source (softnet | megc) -> type -> k in source frames
    lengths: dict[str, tuple[int, int | None]]  # type -> (shortest, longest) frames kept
    mask_eyes: bool
    known_totals: dict[str, int]  # type -> events, as MEGC2020 counts them


def read_preset(cfg: DictConfig) -> Preset | None:
    """The chosen preset (``spotting.preset``), or None."""
    spotting = cfg.spotting
    name = spotting.get("preset")
    if name is None:
        return None
    presets = OmegaConf.to_container(spotting.get("presets") or {}, resolve=True)
    hint = "choose spotting.preset=samm_lv or spotting.preset=casme2, or null for none"
    check_choice("spotting.preset", str(name), sorted(presets), EvaluationInputError, hint)
    values = presets[str(name)]
    lengths = {
        kind: (int(values["lengths"][kind][0]), _optional_int(values["lengths"][kind][1]))
        for kind in EXPRESSION_TYPES
    }
    return Preset(
        str(name),
        str(values["dataset"]),
        float(values["fps"]),
        {source: {k: int(v) for k, v in ks.items()} for source, ks in values["k"].items()},
        lengths,
        bool(values["mask_eyes"]),
        {kind: int(values["known_totals"][kind]) for kind in EXPRESSION_TYPES},
    )


def _optional_int(value) -> int | None:
    return None if value is None else int(value)


def apply_preset(cfg: DictConfig) -> Preset | None:
    """Fill the null settings the chosen preset fixes (in place) and return the preset."""
    preset = read_preset(cfg)
    if preset is None:
        return None
    source = str(cfg.spotting.get("preset_k", "softnet"))
    hint = "the source whose k the preset uses"
    check_choice("spotting.preset_k", source, K_SOURCES, EvaluationInputError, hint)
    filled = []
    features = cfg.spotting.features
    with open_dict(cfg):
        for key, kind in (("k", "micro"), ("k_macro", "macro")):
            if features.get(key) is None:
                features[key] = preset.k[source][kind]
                filled.append(f"spotting.features.{key}={features[key]}")
        spotter = cfg.get("spotter")
        if spotter is not None and "rois" in spotter and spotter.rois is None and preset.mask_eyes:
            spotter.rois = [name for name in ROI_NAMES if name not in EYE_REGIONS]
            filled.append(f"spotter.rois={list(spotter.rois)}")
        peaks = spotter.get("peaks") if spotter is not None else None
        if peaks is not None and "micro_max_seconds" in peaks:
            longest = preset.lengths["micro"][1]
            peaks.micro_max_seconds = round(longest / preset.fps, 6)
            filled.append(f"spotter.peaks.micro_max_seconds={peaks.micro_max_seconds}")
    log.info(
        "spotting.preset=%s (%s, k from %s): %s; interval lengths kept %s",
        preset.name,
        preset.dataset,
        source,
        ", ".join(filled) or "nothing left null to fill",
        preset.lengths,
    )
    return preset


def within_lengths(
    predictions: list[Prediction], lengths: dict[str, tuple[int, int | None]] | None
) -> list[Prediction]:
    """The predictions whose length (frames, both ends) lies in their type's range."""
    if not lengths:
        return predictions
    kept = []
    for prediction in predictions:
        shortest, longest = lengths[prediction.kind]
        length = prediction.offset - prediction.onset + 1
        if length >= shortest and (longest is None or length <= longest):
            kept.append(prediction)
    return kept
