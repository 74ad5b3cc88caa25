"""AU correlation statistics, exactly as the SAMM-SYNTH paper aggregated them.

Per video and AU: Pearson and Spearman correlation between the original and the synthetic
intensity series, over the frames where both sides have ``success == 1`` and
``confidence >= min_confidence``. Each side's series is prepared in this order:

1. frames where that side failed (``success == 0`` or ``confidence < min_confidence``; OpenFace
   writes 0 there) are filled by linear interpolation between the nearest usable frames (the
   nearest usable value at either end), so that
2. the optional Savitzky-Golay smoothing (``smooth.window > 0``, in frame order) does not spread
   the failed frames' zeros into their neighbours;
3. only the frames usable on both sides enter the correlation: filled frames never count.

A series that is constant over those frames on either side has no correlation: the pair is left
out of every mean and counted as excluded, as is a pair with fewer than ``min_frames`` valid
frames, and a pair whose AU column is missing from one of its CSVs.

Aggregation uses Fisher's z: ``z = atanh(r)`` with r clipped to +-0.9999999, mean of z, back
with ``tanh``. By AU over videos (Table 1), by participant over all of the participant's
(video, AU) pairs (Table 2), and overall as the mean over participants, with SD = tanh of the
population standard deviation of the participants' mean z values (Table 2's SD row).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from natsort import natsorted
from scipy.signal import savgol_filter
from scipy.stats import rankdata

from mesynth.config import check_choice
from mesynth.evaluation.common import (
    INTENSITY_AUS,
    EvaluationInputError,
    intensity_column,
    participant_of,
)

log = logging.getLogger(__name__)

R_CLIP = 0.9999999
ALIGN_MODES = ("error", "truncate")
PER_VIDEO_COLUMNS = ["video", "au", "pearson", "spearman", "n_frames"]
BY_AU_COLUMNS = ["au", "pearson", "spearman", "n_videos"]
BY_PARTICIPANT_COLUMNS = ["participant", "pearson", "spearman", "n_pairs"]
EXCLUDED_COLUMNS = ["video", "au", "reason", "n_frames"]
MISSING_COLUMN_REASONS = {
    "original": "no AU column in the original CSV",
    "synthetic": "no AU column in the synthetic CSV",
    "both": "no AU column in either CSV",
}


@dataclass(frozen=True)
class StatsSettings:
    """How series are filtered, aligned and smoothed before correlating."""

    min_confidence: float = 0.0
    min_frames: int = 3
    align: str = "error"
    smooth_window: int = 0
    smooth_polyorder: int = 2

    def __post_init__(self) -> None:
        check_choice("align", self.align, ALIGN_MODES, EvaluationInputError)
        if self.smooth_window < 0:
            raise EvaluationInputError(f"smooth.window={self.smooth_window} must be >= 0 (0: off)")
        if self.smooth_window:
            if self.smooth_window % 2 == 0:
                raise EvaluationInputError(
                    f"smooth.window={self.smooth_window} must be odd (e.g. {self.smooth_window + 1})"
                )
            if self.smooth_polyorder >= self.smooth_window:
                raise EvaluationInputError(
                    f"smooth.polyorder={self.smooth_polyorder} must be smaller than "
                    f"smooth.window={self.smooth_window}"
                )
        if self.min_frames < 2:
            raise EvaluationInputError(f"min_frames={self.min_frames} must be at least 2")


def fisher_z(r: np.ndarray | float) -> np.ndarray:
    """Fisher's z of correlation coefficients, clipped to +-0.9999999 first."""
    return np.arctanh(np.clip(np.asarray(r, dtype=np.float64), -R_CLIP, R_CLIP))


def fisher_mean(r: np.ndarray | list[float]) -> float:
    """tanh of the mean Fisher z of the finite coefficients; NaN if there are none."""
    r = np.asarray(r, dtype=np.float64)
    r = r[np.isfinite(r)]
    return float(np.tanh(fisher_z(r).mean())) if r.size else float("nan")


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's r (NaN if either series is constant)."""
    x = np.asarray(x, dtype=np.float64) - np.mean(x)
    y = np.asarray(y, dtype=np.float64) - np.mean(y)
    denominator = np.sqrt(np.dot(x, x) * np.dot(y, y))
    if denominator == 0:
        return float("nan")
    return float(np.clip(np.dot(x, y) / denominator, -1.0, 1.0))


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho: Pearson's r of the ranks (ties get their average rank)."""
    return pearson(rankdata(x), rankdata(y))


def is_constant(series: np.ndarray) -> bool:
    """True when a series does not vary (up to float rounding, e.g. after smoothing)."""
    series = np.asarray(series, dtype=np.float64)
    if series.size == 0:
        return True
    scale = max(1.0, float(np.max(np.abs(series))))
    return float(np.ptp(series)) <= 1e-12 * scale


def fill_failed(series: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """``series`` with its unusable frames linearly interpolated from the usable ones.

    Before the first and after the last usable frame the nearest usable value is held. A series
    with no usable frame (or no failed one) is returned unchanged.
    """
    series = np.asarray(series, dtype=np.float64)
    usable = np.asarray(usable, dtype=bool)
    if usable.all() or not usable.any():
        return series.copy()
    positions = np.arange(series.size)
    filled = series.copy()
    filled[~usable] = np.interp(positions[~usable], positions[usable], series[usable])
    return filled


def smooth(series: np.ndarray, window: int, polyorder: int) -> np.ndarray:
    """Savitzky-Golay smoothing of a whole series; ``window == 0`` returns it unchanged."""
    series = np.asarray(series, dtype=np.float64)
    if not window:
        return series
    return savgol_filter(series, window, polyorder)


@dataclass
class AlignedSeries:
    """One AU of one video on both sides, after alignment, filling, smoothing and filtering."""

    frames: np.ndarray  # frame numbers (the CSV's ``frame`` column) of the valid frames
    original: np.ndarray
    synthetic: np.ndarray
    all_frames: np.ndarray  # every aligned frame, for plotting
    original_all: np.ndarray  # filled and smoothed series over every aligned frame
    synthetic_all: np.ndarray
    valid: np.ndarray
    usable_original: np.ndarray  # success and confidence on this side alone
    usable_synthetic: np.ndarray
    absent: str = ""  # "original", "synthetic" or "both" when the AU column is missing there


def _usable(table: pd.DataFrame, min_confidence: float) -> np.ndarray:
    return (table["success"].to_numpy() == 1) & (table["confidence"].to_numpy() >= min_confidence)


def truncation_message(
    video: str, n_original: int, n_synthetic: int, what: str = "AU rows"
) -> str | None:
    """What ``align=truncate`` cut from one video (None when both sides are equally long)."""
    if n_original == n_synthetic:
        return None
    kept = min(n_original, n_synthetic)
    longer, cut = (
        ("original", n_original - kept)
        if n_original > n_synthetic
        else ("synthetic", n_synthetic - kept)
    )
    return (
        f"{video}: align=truncate compared the first {kept} {what} and cut the last {cut} of "
        f"the {longer} side ({n_original} original, {n_synthetic} synthetic)"
    )


def align_tables(
    original: pd.DataFrame,
    synthetic: pd.DataFrame,
    settings: StatsSettings,
    names: tuple[str, str] = ("original", "synthetic"),
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Bring both tables to the same length and return the mask of comparable frames."""
    if len(original) != len(synthetic):
        if settings.align != "truncate":
            raise EvaluationInputError(
                f"frame counts differ: {names[0]} has {len(original)} rows, {names[1]} has "
                f"{len(synthetic)}; re-extract the shorter one, or compare the common leading "
                "frames with align=truncate"
            )
        length = min(len(original), len(synthetic))
        original, synthetic = original.iloc[:length], synthetic.iloc[:length]
    valid = _usable(original, settings.min_confidence) & _usable(synthetic, settings.min_confidence)
    return original, synthetic, valid


def _prepared(
    table: pd.DataFrame, column: str, usable: np.ndarray, settings: StatsSettings
) -> np.ndarray:
    if column not in table.columns:
        return np.full(len(table), np.nan)
    filled = fill_failed(table[column].to_numpy(), usable)
    return smooth(filled, settings.smooth_window, settings.smooth_polyorder)


def aligned_series(
    original: pd.DataFrame,
    synthetic: pd.DataFrame,
    au: str,
    settings: StatsSettings,
    names: tuple[str, str] = ("original", "synthetic"),
) -> AlignedSeries:
    """The two intensity series of ``au`` ready to correlate (see the module docstring).

    An AU whose column one side lacks gives NaN series, no valid frame and ``absent`` set.
    """
    original, synthetic, valid = align_tables(original, synthetic, settings, names)
    column = intensity_column(au)
    if settings.smooth_window and settings.smooth_window > len(original):
        raise EvaluationInputError(
            f"smooth.window={settings.smooth_window} is longer than {names[0]} ({len(original)} "
            "frames); lower smooth.window or turn smoothing off with smooth.window=0"
        )
    usable_original = _usable(original, settings.min_confidence)
    usable_synthetic = _usable(synthetic, settings.min_confidence)
    lacking = [
        side
        for side, table in (("original", original), ("synthetic", synthetic))
        if column not in table.columns
    ]
    absent = "both" if len(lacking) == 2 else (lacking[0] if lacking else "")
    if absent:
        valid = np.zeros(len(original), dtype=bool)
    original_all = _prepared(original, column, usable_original, settings)
    synthetic_all = _prepared(synthetic, column, usable_synthetic, settings)
    all_frames = original["frame"].to_numpy()
    return AlignedSeries(
        frames=all_frames[valid],
        original=original_all[valid],
        synthetic=synthetic_all[valid],
        all_frames=all_frames,
        original_all=original_all,
        synthetic_all=synthetic_all,
        valid=valid,
        usable_original=usable_original,
        usable_synthetic=usable_synthetic,
        absent=absent,
    )


def compare_video(
    video: str,
    original: pd.DataFrame,
    synthetic: pd.DataFrame,
    aus: list[str],
    settings: StatsSettings,
    names: tuple[str, str] = ("original", "synthetic"),
) -> tuple[list[dict], list[dict]]:
    """Per-AU correlations of one video: (rows of per_video.csv, rows of excluded pairs)."""
    rows, excluded = [], []
    for au in aus:
        series = aligned_series(original, synthetic, au, settings, names)
        n_frames = int(series.valid.sum())
        reason = None
        if series.absent:
            reason = MISSING_COLUMN_REASONS[series.absent]
        elif n_frames < settings.min_frames:
            reason = (
                f"fewer than {settings.min_frames} valid frames (usable: original "
                f"{int(series.usable_original.sum())}, synthetic {int(series.usable_synthetic.sum())})"
            )
        else:
            constant_original = is_constant(series.original)
            constant_synthetic = is_constant(series.synthetic)
            if constant_original and constant_synthetic:
                reason = "constant on both sides"
            elif constant_original:
                reason = "constant original"
            elif constant_synthetic:
                reason = "constant synthetic"
        if reason is None:
            r_pearson = pearson(series.original, series.synthetic)
            r_spearman = spearman(series.original, series.synthetic)
        else:
            r_pearson = r_spearman = float("nan")
            excluded.append({"video": video, "au": au, "reason": reason, "n_frames": n_frames})
        rows.append(
            {
                "video": video,
                "au": au,
                "pearson": r_pearson,
                "spearman": r_spearman,
                "n_frames": n_frames,
            }
        )
    return rows, excluded


def compared_aus(
    tables: dict[str, tuple[pd.DataFrame, pd.DataFrame]], files: dict[str, tuple[Path, Path]]
) -> tuple[list[str], dict[str, list[str]]]:
    """The intensity AUs to compare (in OpenFace order) and the CSVs that lack some of them.

    Every AU that any CSV has is compared; where a CSV lacks it, that video's pair is excluded
    (``excluded.csv`` says why) instead of the AU vanishing for every video. Returns
    ``(aus, missing)`` with ``missing`` mapping an AU to the CSV files without its column; each
    such AU is named in a warning.
    """
    aus = [
        au
        for au in INTENSITY_AUS
        if any(intensity_column(au) in table.columns for pair in tables.values() for table in pair)
    ]
    if not aus:
        first = next(iter(files.values()))
        raise EvaluationInputError(
            f"no CSV has an AU intensity column (e.g. {first[0]} and {first[1]}); re-extract "
            "them with the same AU backend"
        )
    missing: dict[str, list[str]] = {}
    for au in aus:
        lacking = [
            str(path)
            for video, pair in tables.items()
            for table, path in zip(pair, files[video], strict=True)
            if intensity_column(au) not in table.columns
        ]
        if lacking:
            missing[au] = lacking
            log.warning(
                "%s: no %s column in %d of %d CSVs (%s); those videos' %s pairs are excluded. "
                "Name the AUs to compare with aus=[...] to stop on such files instead",
                au, intensity_column(au), len(lacking), 2 * len(tables),
                _some(lacking), au,
            )  # fmt: skip
    return aus, missing


def _some(items: list[str], shown: int = 3) -> str:
    text = ", ".join(items[:shown])
    return text + (f" and {len(items) - shown} more" if len(items) > shown else "")


def missing_au_notes(missing: dict[str, list[str]]) -> list[str]:
    """One report line per AU whose column some CSVs lack."""
    return [
        f"{au} is missing from {len(files)} CSV(s) ({_some(files)}); those videos' {au} pairs "
        "are excluded (see `excluded.csv`), the other videos still count. The full list is in "
        "`summary.json` (`missing_au_columns`)."
        for au, files in missing.items()
    ]


def truncation_notes(
    tables: dict[str, tuple[pd.DataFrame, pd.DataFrame]], settings: StatsSettings
) -> list[str]:
    """Log and describe what ``align=truncate`` cut from the AU tables of each video."""
    if settings.align != "truncate":
        return []
    notes = []
    for video, (original, synthetic) in tables.items():
        message = truncation_message(video, len(original), len(synthetic))
        if message:
            log.info(message)
            notes.append(message + ".")
    return notes


def _valid(per_video: pd.DataFrame) -> pd.DataFrame:
    return per_video[np.isfinite(per_video["pearson"]) & np.isfinite(per_video["spearman"])]


def by_au(per_video: pd.DataFrame) -> pd.DataFrame:
    """Fisher-z mean over videos per AU (paper Table 1); ``n_videos`` counts included videos."""
    valid = _valid(per_video)
    rows = []
    for au in dict.fromkeys(per_video["au"]):
        subset = valid[valid["au"] == au]
        rows.append(
            {
                "au": au,
                "pearson": fisher_mean(subset["pearson"]),
                "spearman": fisher_mean(subset["spearman"]),
                "n_videos": int(subset["video"].nunique()),
            }
        )
    return pd.DataFrame(rows, columns=BY_AU_COLUMNS)


def participant_z(per_video: pd.DataFrame, participant_regex: str) -> pd.DataFrame:
    """Mean Fisher z per participant over all of its included (video, AU) pairs."""
    participants = per_video["video"].map(
        lambda video: participant_of(str(video), participant_regex)
    )
    valid_mask = np.isfinite(per_video["pearson"]) & np.isfinite(per_video["spearman"])
    rows = []
    for participant in natsorted(participants.unique()):
        chosen = (participants == participant) & valid_mask
        z_pearson = fisher_z(per_video.loc[chosen, "pearson"].to_numpy())
        z_spearman = fisher_z(per_video.loc[chosen, "spearman"].to_numpy())
        rows.append(
            {
                "participant": participant,
                "z_pearson": float(z_pearson.mean()) if z_pearson.size else float("nan"),
                "z_spearman": float(z_spearman.mean()) if z_spearman.size else float("nan"),
                "n_pairs": int(chosen.sum()),
            }
        )
    return pd.DataFrame(rows, columns=["participant", "z_pearson", "z_spearman", "n_pairs"])


def by_participant(per_video: pd.DataFrame, participant_regex: str) -> pd.DataFrame:
    """Fisher-z mean per participant over all its (video, AU) pairs (paper Table 2)."""
    z = participant_z(per_video, participant_regex)
    return pd.DataFrame(
        {
            "participant": z["participant"],
            "pearson": np.tanh(z["z_pearson"]),
            "spearman": np.tanh(z["z_spearman"]),
            "n_pairs": z["n_pairs"],
        },
        columns=BY_PARTICIPANT_COLUMNS,
    )


def overall(per_video: pd.DataFrame, participant_regex: str) -> dict:
    """Mean over participants (tanh of the mean of their z) and SD (tanh of the population SD)."""
    z = participant_z(per_video, participant_regex)
    z = z[z["n_pairs"] > 0]
    result: dict = {"n_participants": int(len(z))}
    for name in ("pearson", "spearman"):
        values = z[f"z_{name}"].to_numpy()
        result[f"{name}_mean"] = float(np.tanh(values.mean())) if values.size else float("nan")
        result[f"{name}_sd"] = float(np.tanh(values.std(ddof=0))) if values.size else float("nan")
    return result


def correlate_tables(
    tables: dict[str, tuple[pd.DataFrame, pd.DataFrame]],
    aus: list[str],
    settings: StatsSettings,
    files: dict[str, tuple[Path, Path]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """per_video and excluded tables over all videos."""
    rows, excluded = [], []
    for video, (original, synthetic) in tables.items():
        names = (
            tuple(str(path) for path in files[video])
            if files
            else (f"{video} original", f"{video} synthetic")
        )
        video_rows, video_excluded = compare_video(video, original, synthetic, aus, settings, names)
        rows += video_rows
        excluded += video_excluded
    per_video = pd.DataFrame(rows, columns=PER_VIDEO_COLUMNS)
    return per_video, pd.DataFrame(excluded, columns=EXCLUDED_COLUMNS)


def summarise(
    per_video: pd.DataFrame,
    excluded: pd.DataFrame,
    participant_regex: str,
    missing_columns: dict[str, list[str]] | None = None,
) -> dict:
    """The headline numbers of ``summary.json``; ``missing_columns`` as from :func:`compared_aus`."""
    summary = overall(per_video, participant_regex)
    summary = {
        "pearson_mean": summary["pearson_mean"],
        "pearson_sd": summary["pearson_sd"],
        "spearman_mean": summary["spearman_mean"],
        "spearman_sd": summary["spearman_sd"],
        "n_videos": int(per_video["video"].nunique()),
        "n_excluded": int(len(excluded)),
        "n_participants": summary["n_participants"],
        "n_pairs": int(len(_valid(per_video))),
        "excluded_by_reason": {
            str(k): int(v) for k, v in excluded["reason"].value_counts().items()
        },
        "missing_au_columns": dict(missing_columns or {}),
    }
    return summary


def in_subset(participant: str, members: list) -> bool:
    """Whether a participant id is one of ``members``; ``10`` matches ``"010"`` (numbers that
    lost their leading zeros on the command line)."""
    for member in members:
        text = str(member).strip()
        if text == participant:
            return True
        if text.isdigit() and participant.isdigit() and int(text) == int(participant):
            return True
    return False


def subset_comparison(
    per_video: pd.DataFrame, members: list, participant_regex: str
) -> pd.DataFrame:
    """By-AU Fisher-z means over all participants vs. without the ``members`` (paper Fig. 5)."""
    participants = per_video["video"].map(
        lambda video: participant_of(str(video), participant_regex)
    )
    inside = participants.map(lambda participant: in_subset(participant, members))
    if not inside.any():
        raise EvaluationInputError(
            f"subset {members} matches no participant (have {natsorted(participants.unique())[:12]}); "
            "fix the subset's ids or participant_regex"
        )
    if inside.all():
        raise EvaluationInputError(
            f"subset {members} holds every participant; nothing is left to compare without it"
        )
    everyone, without = by_au(per_video), by_au(per_video[~inside])
    return pd.DataFrame(
        {
            "au": everyone["au"],
            "pearson_all": everyone["pearson"],
            "pearson_without": without["pearson"].to_numpy(),
            "spearman_all": everyone["spearman"],
            "spearman_without": without["spearman"].to_numpy(),
            "n_videos_all": everyone["n_videos"],
            "n_videos_without": without["n_videos"].to_numpy(),
        }
    )
