"""Spotters: ``flow_peaks`` (training-free, calibrated) and ``softnet`` (SOFTNet, Liong et al.
2021, with its released weights or trained per fold). Both follow :class:`mesynth.spotting.types.Spotter`: ``fit(videos)`` on training videos
with their ground truth, then ``frame_scores(video)`` (T,) and ``predict(video)``, predictions
in source frame numbers with scores. ``needs_maps`` says whether the spotter reads the features'
flow maps (``FeatureSettings.from_config(node, maps=spotter.needs_maps)``).
"""

from __future__ import annotations

from mesynth.spotting.types import Spotter

SPOTTERS = ("flow_peaks", "softnet")


def build_spotter(node: object, seed: int = 0) -> Spotter:
    """The spotter the Hydra ``spotter`` group node describes (its ``name`` picks the kind)."""
    from mesynth.config import check_choice, to_plain

    values = dict(to_plain(node) or {})
    name = values.get("name")
    check_choice(
        "spotter name", name, SPOTTERS, hint="choose spotter=flow_peaks or spotter=softnet"
    )
    if name == "flow_peaks":
        from mesynth.spotting.spotters.flow_peaks import FlowPeaks, FlowPeaksSettings

        return FlowPeaks(FlowPeaksSettings.from_config(values), seed)
    from mesynth.spotting.spotters.softnet import SoftNet, SoftNetSettings

    return SoftNet(SoftNetSettings.from_config(values), seed)


__all__ = ["SPOTTERS", "build_spotter"]
