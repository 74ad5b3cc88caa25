"""Temporal consistency: does the synthetic video flicker more than the original?

For sampled consecutive frame pairs (t, t+1) the Farneback flow of the *original* is used to
warp frame t+1 back onto frame t, on both sides. The original's warping error is what a faithful
video scores (flow and noise residue); the synthetic's, with the same flow, adds whatever the
synthetic frames change that the original motion does not explain: flicker, texture crawl.
``warp_error_ratio`` = synthetic / original; 1 means no extra flicker.
"""

from __future__ import annotations

import numpy as np

from mesynth.evaluation.flow import warping_error
from mesynth.evaluation.frames import VideoPair
from mesynth.imaging import FarnebackParams, farneback, to_grey

TEMPORAL_COLUMNS = [
    "video", "n_pairs", "warp_error_original", "warp_error_synthetic", "warp_error_ratio",
    "frame_difference_original", "frame_difference_synthetic",
]  # fmt: skip


def sample_starts(n_frames: int, max_pairs: int) -> np.ndarray:
    """Up to ``max_pairs`` evenly spread first frames t of pairs (t, t+1)."""
    if n_frames < 2 or max_pairs < 1:
        return np.zeros(0, dtype=int)
    starts = np.arange(n_frames - 1)
    if len(starts) <= max_pairs:
        return starts
    return np.unique(np.round(np.linspace(0, n_frames - 2, max_pairs)).astype(int))


def _mean_abs_difference(first: np.ndarray, second: np.ndarray) -> float:
    return float(
        np.abs(to_grey(first).astype(np.float32) - to_grey(second).astype(np.float32)).mean() / 255
    )


def temporal_consistency(pair: VideoPair, max_pairs: int, params: FarnebackParams) -> dict:
    """Mean warping errors and frame differences of both sides of one video."""
    errors_original, errors_synthetic, diff_original, diff_synthetic = [], [], [], []
    for start in sample_starts(len(pair), max_pairs):
        original_t, original_next = pair.original_frame(start), pair.original_frame(start + 1)
        synthetic_t, synthetic_next = pair.synthetic_frame(start), pair.synthetic_frame(start + 1)
        flow = farneback(original_t, original_next, params)
        errors_original.append(warping_error(original_t, original_next, flow))
        errors_synthetic.append(warping_error(synthetic_t, synthetic_next, flow))
        diff_original.append(_mean_abs_difference(original_t, original_next))
        diff_synthetic.append(_mean_abs_difference(synthetic_t, synthetic_next))
    original = float(np.nanmean(errors_original)) if errors_original else float("nan")
    synthetic = float(np.nanmean(errors_synthetic)) if errors_synthetic else float("nan")
    return {
        "video": pair.video_id,
        "n_pairs": len(errors_original),
        "warp_error_original": original,
        "warp_error_synthetic": synthetic,
        "warp_error_ratio": synthetic / original if original > 0 else float("nan"),
        "frame_difference_original": float(np.mean(diff_original))
        if diff_original
        else float("nan"),
        "frame_difference_synthetic": float(np.mean(diff_synthetic))
        if diff_synthetic
        else float("nan"),
    }
