"""The AU statistics against independent scipy/numpy computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from scipy.signal import savgol_filter

from mesynth.evaluation import stats
from mesynth.evaluation.common import EvaluationInputError, participant_of
from tests.evaluation.helpers import au_table, correlated


@pytest.mark.parametrize("rho", [-0.8, -0.2, 0.0, 0.5, 0.9])
def test_coefficients_match_scipy_and_the_generating_correlation(rho):
    rng = np.random.default_rng(int(10 * rho) + 50)
    x, y = correlated(rng, 4000, rho)
    assert stats.pearson(x, y) == pytest.approx(sps.pearsonr(x, y)[0], abs=1e-12)
    assert stats.spearman(x, y) == pytest.approx(sps.spearmanr(x, y)[0], abs=1e-12)
    assert stats.pearson(x, y) == pytest.approx(rho, abs=0.05)


def test_spearman_with_ties_matches_scipy():
    x = np.array([1, 2, 2, 3, 3, 3, 4, 5, 5, 6], dtype=float)
    y = np.array([2, 1, 4, 3, 3, 5, 6, 5, 7, 9], dtype=float)
    assert stats.spearman(x, y) == pytest.approx(sps.spearmanr(x, y)[0], abs=1e-12)


def test_fisher_mean_clips_and_back_transforms():
    r = np.array([0.2, 0.5, 1.0, np.nan])
    clipped = np.clip([0.2, 0.5, 1.0], -0.9999999, 0.9999999)
    assert stats.fisher_mean(r) == pytest.approx(np.tanh(np.mean(np.arctanh(clipped))), abs=1e-12)
    assert np.isnan(stats.fisher_mean([np.nan]))


def _pair(n=200, seed=0, rho=0.7):
    rng = np.random.default_rng(seed)
    x12, y12 = correlated(rng, n, rho)
    x04, y04 = correlated(rng, n, -0.3)
    return {"AU12": x12, "AU04": x04}, {"AU12": y12, "AU04": y04}


def test_only_frames_that_succeed_on_both_sides_with_enough_confidence_count():
    original, synthetic = _pair()
    n = 200
    success_o = np.ones(n, dtype=int)
    success_o[[3, 50, 51]] = 0
    success_s = np.ones(n, dtype=int)
    success_s[[10, 199]] = 0
    confidence_s = np.full(n, 0.95)
    confidence_s[[20, 21, 22, 23]] = 0.4
    table_o = au_table(original, success=success_o)
    table_s = au_table(synthetic, success=success_s, confidence=confidence_s)
    settings = stats.StatsSettings(min_confidence=0.5)
    rows, excluded = stats.compare_video("011_2", table_o, table_s, ["AU12", "AU04"], settings)

    keep = (success_o == 1) & (success_s == 1) & (confidence_s >= 0.5)
    assert keep.sum() == n - 9
    for row, au in zip(rows, ["AU12", "AU04"], strict=True):
        assert row["n_frames"] == keep.sum()
        assert row["pearson"] == pytest.approx(
            sps.pearsonr(original[au][keep], synthetic[au][keep])[0], abs=1e-12
        )
        assert row["spearman"] == pytest.approx(
            sps.spearmanr(original[au][keep], synthetic[au][keep])[0], abs=1e-12
        )
    assert excluded == []


def test_savitzky_golay_smoothing_is_applied_before_correlating():
    original, synthetic = _pair(seed=3)
    success = np.ones(200, dtype=int)
    success[[5, 6, 7]] = 0
    settings = stats.StatsSettings(smooth_window=9, smooth_polyorder=3)
    rows, _ = stats.compare_video(
        "v", au_table(original, success=success), au_table(synthetic), ["AU12"], settings
    )
    keep = success == 1
    # Frames 5-7 failed: filled on the line from frame 4 to frame 8, then smoothed.
    filled = original["AU12"].copy()
    filled[5:8] = np.interp([5, 6, 7], [4, 8], original["AU12"][[4, 8]])
    expected = sps.pearsonr(
        savgol_filter(filled, 9, 3)[keep], savgol_filter(synthetic["AU12"], 9, 3)[keep]
    )[0]
    unsmoothed = sps.pearsonr(original["AU12"][keep], synthetic["AU12"][keep])[0]
    assert rows[0]["pearson"] == pytest.approx(expected, abs=1e-9)
    assert rows[0]["n_frames"] == 197
    assert abs(expected - unsmoothed) > 1e-3  # smoothing really changed the answer


def test_fill_failed_interpolates_inside_and_holds_the_ends():
    np.testing.assert_allclose(
        stats.fill_failed([1.0, 0.0, 0.0, 4.0, 5.0], [True, False, False, True, True]),
        [1.0, 2.0, 3.0, 4.0, 5.0],
    )
    np.testing.assert_allclose(
        stats.fill_failed([0.0, 2.0, 3.0, 0.0], [False, True, True, False]), [2.0, 2.0, 3.0, 3.0]
    )
    # Nothing usable: nothing to interpolate from, the series is returned as it is.
    np.testing.assert_allclose(stats.fill_failed([0.0, 0.0], [False, False]), [0.0, 0.0])


def test_failed_frames_zeros_do_not_leak_into_smoothed_neighbours():
    """OpenFace writes 0 on failed frames; smoothing must not pull their neighbours down."""
    n, window = 200, 15
    signal = 2.0 + np.sin(np.linspace(0, 4 * np.pi, n))
    with_zeros = signal.copy()
    with_zeros[90:95] = 0.0
    success = np.ones(n, dtype=int)
    success[90:95] = 0
    settings = stats.StatsSettings(smooth_window=window, smooth_polyorder=2)
    series = stats.aligned_series(
        au_table({"AU12": with_zeros}, success=success),
        au_table({"AU12": signal}),
        "AU12",
        settings,
    )
    neighbours = np.r_[83:90, 95:102]
    truth = savgol_filter(signal, window, 2)
    smoothed_zeros = savgol_filter(with_zeros, window, 2)
    # Filled then smoothed: the neighbours keep their value; smoothing the zeros would not.
    assert np.abs(series.original_all[neighbours] - truth[neighbours]).max() < 0.01
    assert np.abs(smoothed_zeros[neighbours] - truth[neighbours]).max() > 0.3
    assert not series.valid[90:95].any() and series.valid.sum() == n - 5
    rows, excluded = stats.compare_video(
        "v", au_table({"AU12": with_zeros}, success=success), au_table({"AU12": signal}),
        ["AU12"], settings,
    )  # fmt: skip
    leaky = sps.pearsonr(smoothed_zeros[success == 1], truth[success == 1])[0]
    assert rows[0]["pearson"] > 0.9999 and leaky < 0.995  # measured: 0.99999, 0.9905
    assert rows[0]["n_frames"] == n - 5 and excluded == []


def test_truncation_is_logged_with_the_number_of_frames_cut(caplog):
    rng = np.random.default_rng(4)
    tables = {
        "006_1": (au_table({"AU12": rng.random(100)}), au_table({"AU12": rng.random(90)})),
        "006_2": (au_table({"AU12": rng.random(50)}), au_table({"AU12": rng.random(50)})),
    }
    assert stats.truncation_notes(tables, stats.StatsSettings()) == []  # align=error: no cut
    with caplog.at_level("INFO", logger="mesynth.evaluation.stats"):
        notes = stats.truncation_notes(tables, stats.StatsSettings(align="truncate"))
    expected = (
        "006_1: align=truncate compared the first 90 AU rows and cut the last 10 of the "
        "original side (100 original, 90 synthetic)"
    )
    assert notes == [expected + "."]
    assert [record.getMessage() for record in caplog.records] == [expected]
    assert "cut the last 3 of the synthetic side" in stats.truncation_message("v", 7, 10)


@pytest.mark.parametrize(
    ("window", "polyorder", "message"),
    [(4, 2, "must be odd"), (5, 5, "smaller than"), (-1, 2, ">= 0")],
)
def test_bad_smoothing_settings_name_the_setting(window, polyorder, message):
    with pytest.raises(EvaluationInputError, match=message):
        stats.StatsSettings(smooth_window=window, smooth_polyorder=polyorder)


def test_constant_series_are_excluded_and_counted():
    n = 50
    rng = np.random.default_rng(1)
    original = {"AU01": np.full(n, 0.3), "AU12": rng.random(n), "AU45": rng.random(n)}
    synthetic = {"AU01": rng.random(n), "AU12": np.full(n, 1.0), "AU45": rng.random(n)}
    rows, excluded = stats.compare_video(
        "006_1",
        au_table(original),
        au_table(synthetic),
        ["AU01", "AU12", "AU45"],
        stats.StatsSettings(),
    )
    assert [row["au"] for row in excluded] == ["AU01", "AU12"]
    assert [row["reason"] for row in excluded] == ["constant original", "constant synthetic"]
    assert np.isnan(rows[0]["pearson"]) and np.isnan(rows[1]["spearman"])
    assert np.isfinite(rows[2]["pearson"])


def test_a_series_constant_only_over_the_valid_frames_is_excluded():
    n = 30
    original = np.full(n, 0.5)
    original[:3] = [2.0, 3.0, 4.0]  # varies only on frames that failed
    success = np.ones(n, dtype=int)
    success[:3] = 0
    rows, excluded = stats.compare_video(
        "v",
        au_table({"AU12": original}, success=success),
        au_table({"AU12": np.arange(n, dtype=float)}),
        ["AU12"],
        stats.StatsSettings(),
    )
    assert excluded[0]["reason"] == "constant original"
    assert rows[0]["n_frames"] == n - 3


def test_too_few_valid_frames_are_excluded():
    success = np.zeros(20, dtype=int)
    success[:2] = 1
    _, excluded = stats.compare_video(
        "v",
        au_table({"AU12": np.arange(20.0)}, success=success),
        au_table({"AU12": np.arange(20.0) ** 2}),
        ["AU12"],
        stats.StatsSettings(),
    )
    assert excluded[0]["reason"] == "fewer than 3 valid frames (usable: original 2, synthetic 20)"


def test_different_frame_counts_are_an_error_unless_truncating():
    rng = np.random.default_rng(2)
    original = au_table({"AU12": rng.random(100)})
    synthetic = au_table({"AU12": rng.random(90)})
    with pytest.raises(EvaluationInputError, match=r"100 rows.*90.*align=truncate"):
        stats.compare_video(
            "v", original, synthetic, ["AU12"], stats.StatsSettings(), ("a.csv", "b.csv")
        )
    rows, _ = stats.compare_video(
        "v", original, synthetic, ["AU12"], stats.StatsSettings(align="truncate")
    )
    expected = sps.pearsonr(original["AU12_r"][:90], synthetic["AU12_r"])[0]
    assert rows[0]["n_frames"] == 90
    assert rows[0]["pearson"] == pytest.approx(expected, abs=1e-12)


def _per_video_table() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    rows = []
    for video in ["006_1", "006_2", "011_1", "020_3", "020_4", "020_5"]:
        for au in ["AU01", "AU04", "AU12"]:
            r = rng.uniform(-0.5, 0.99)
            rows.append(
                {"video": video, "au": au, "pearson": r, "spearman": r * 0.9, "n_frames": 100}
            )
    rows[4]["pearson"] = rows[4]["spearman"] = np.nan  # an excluded pair (006_2, AU04)
    rows[5]["pearson"] = 1.0  # clipped before atanh
    rows[5]["spearman"] = 1.0
    return pd.DataFrame(rows)


def test_aggregation_by_au_participant_and_overall_matches_a_direct_computation():
    per_video = _per_video_table()
    regex = "^([^_]+)"

    def z(values):
        return np.arctanh(np.clip(np.asarray(values, dtype=float), -0.9999999, 0.9999999))

    by_au = stats.by_au(per_video)
    assert list(by_au.columns) == ["au", "pearson", "spearman", "n_videos"]
    for au in ["AU01", "AU04", "AU12"]:
        chosen = per_video[(per_video.au == au) & per_video.pearson.notna()]
        row = by_au.set_index("au").loc[au]
        assert row["pearson"] == pytest.approx(np.tanh(z(chosen.pearson).mean()), abs=1e-12)
        assert row["spearman"] == pytest.approx(np.tanh(z(chosen.spearman).mean()), abs=1e-12)
        assert row["n_videos"] == len(chosen)
    assert by_au.set_index("au").loc["AU04", "n_videos"] == 5

    by_participant = stats.by_participant(per_video, regex)
    assert list(by_participant.columns) == ["participant", "pearson", "spearman", "n_pairs"]
    assert list(by_participant.participant) == ["006", "011", "020"]
    participant_z = {}
    for participant in ["006", "011", "020"]:
        chosen = per_video[
            per_video.video.str.startswith(participant + "_") & per_video.pearson.notna()
        ]
        participant_z[participant] = (z(chosen.pearson).mean(), z(chosen.spearman).mean())
        row = by_participant.set_index("participant").loc[participant]
        assert row["pearson"] == pytest.approx(np.tanh(participant_z[participant][0]), abs=1e-12)
        assert row["n_pairs"] == len(chosen)
    assert by_participant.set_index("participant").loc["006", "n_pairs"] == 5

    overall = stats.overall(per_video, regex)
    z_pearson = np.array([v[0] for v in participant_z.values()])
    z_spearman = np.array([v[1] for v in participant_z.values()])
    assert overall["pearson_mean"] == pytest.approx(np.tanh(z_pearson.mean()), abs=1e-12)
    assert overall["pearson_sd"] == pytest.approx(np.tanh(z_pearson.std(ddof=0)), abs=1e-12)
    assert overall["spearman_mean"] == pytest.approx(np.tanh(z_spearman.mean()), abs=1e-12)
    assert overall["spearman_sd"] == pytest.approx(np.tanh(z_spearman.std(ddof=0)), abs=1e-12)
    assert overall["n_participants"] == 3


def test_summary_counts_videos_and_exclusions():
    per_video = _per_video_table()
    excluded = pd.DataFrame(
        [{"video": "006_2", "au": "AU04", "reason": "constant original", "n_frames": 100}]
    )
    summary = stats.summarise(per_video, excluded, "^([^_]+)")
    assert summary["n_videos"] == 6
    assert summary["n_excluded"] == 1
    assert summary["n_pairs"] == 17
    assert summary["excluded_by_reason"] == {"constant original": 1}


def test_participant_regex_is_configurable():
    assert participant_of("006_1", "^([^_]+)") == "006"
    assert participant_of("s15_0401", r"^s(\d+)") == "15"
    with pytest.raises(EvaluationInputError, match="participant_regex"):
        participant_of("abc", r"^\d+")


def test_subset_comparison_leaves_the_subset_out():
    per_video = _per_video_table()
    comparison = stats.subset_comparison(per_video, [20, "011"], "^([^_]+)")  # 20 matches "020"
    everyone = stats.by_au(per_video)
    without = stats.by_au(per_video[per_video.video.str.startswith("006_")])
    assert list(comparison.au) == ["AU01", "AU04", "AU12"]
    np.testing.assert_allclose(comparison.pearson_all, everyone.pearson)
    np.testing.assert_allclose(comparison.pearson_without, without.pearson)
    np.testing.assert_array_equal(comparison.n_videos_without, [2, 1, 2])
    with pytest.raises(EvaluationInputError, match="matches no participant"):
        stats.subset_comparison(per_video, ["999"], "^([^_]+)")


def test_an_au_missing_from_some_csvs_is_named_and_kept_for_the_others(tmp_path, caplog):
    rng = np.random.default_rng(5)
    tables, files = {}, {}
    for video in ("006_1", "011_1"):
        x, y = correlated(rng, 80, 0.6)
        u, v = correlated(rng, 80, 0.4)
        tables[video] = (au_table({"AU04": u, "AU12": x}), au_table({"AU04": v, "AU12": y}))
        files[video] = (tmp_path / "o" / f"{video}.csv", tmp_path / "s" / f"{video}.csv")
    tables["011_1"] = (tables["011_1"][0], tables["011_1"][1].drop(columns=["AU04_r"]))
    with caplog.at_level("WARNING", logger="mesynth.evaluation.stats"):
        aus, missing = stats.compared_aus(tables, files)
    assert aus == ["AU04", "AU12"]
    assert missing == {"AU04": [str(tmp_path / "s" / "011_1.csv")]}
    (warning,) = [record.getMessage() for record in caplog.records]
    assert "no AU04_r column in 1 of 4 CSVs" in warning and "011_1.csv" in warning
    assert "aus=[...]" in warning

    per_video, excluded = stats.correlate_tables(tables, aus, stats.StatsSettings(), files)
    assert excluded.to_dict("records") == [
        {
            "video": "011_1",
            "au": "AU04",
            "reason": "no AU column in the synthetic CSV",
            "n_frames": 0,
        }
    ]
    original, synthetic = tables["006_1"]
    kept = per_video[(per_video.video == "006_1") & (per_video.au == "AU04")].iloc[0]
    assert kept["pearson"] == pytest.approx(
        sps.pearsonr(original["AU04_r"], synthetic["AU04_r"])[0], abs=1e-12
    )
    assert stats.by_au(per_video).set_index("au")["n_videos"].to_dict() == {"AU04": 1, "AU12": 2}
    summary = stats.summarise(per_video, excluded, "^([^_]+)", missing)
    assert summary["missing_au_columns"] == missing and summary["n_pairs"] == 3
    (note,) = stats.missing_au_notes(missing)
    assert note.startswith("AU04 is missing from 1 CSV(s) (") and "011_1.csv" in note


def test_no_au_column_anywhere_is_an_error(tmp_path):
    table = au_table({"AU12": np.arange(5.0)}).drop(columns=["AU12_r"])
    files = {"v": (tmp_path / "a.csv", tmp_path / "b.csv")}
    with pytest.raises(EvaluationInputError, match=r"no CSV has an AU intensity column.*a\.csv"):
        stats.compared_aus({"v": (table, table)}, files)
