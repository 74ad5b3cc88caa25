"""The statistics analysis: smoothing before correlating, subsets left out and compared."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from mesynth.evaluation import run
from tests.evaluation.helpers import evaluation_config


def test_smoothing_and_subsets_change_what_they_should(csv_dataset, tmp_path):
    root, tables = csv_dataset
    config = evaluation_config(
        [
            "au=openface_csv",
            f"original_dir={root / 'original'}",
            f"synthetic_dir={root / 'synthetic'}",
            f"output_dir={tmp_path}",
            "smooth.window=5",
            "smooth.polyorder=2",
            "subsets.glasses=[011,20]",
            "logger=none",
        ]
    )
    run(config)
    per_video = pd.read_csv(tmp_path / "per_video.csv", dtype={"video": str})
    from scipy.signal import savgol_filter

    original, synthetic = tables["006_1"]
    keep = (original["success"] == 1).to_numpy()
    # Failed frames are filled by linear interpolation before smoothing.
    positions = np.arange(len(keep))
    filled = np.interp(positions, positions[keep], original["AU12_r"].to_numpy()[keep])
    expected = sps.pearsonr(
        savgol_filter(filled, 5, 2)[keep],
        savgol_filter(synthetic["AU12_r"], 5, 2)[keep],
    )[0]
    row = per_video[(per_video.video == "006_1") & (per_video.au == "AU12")].iloc[0]
    assert row["pearson"] == pytest.approx(expected, abs=1e-5)

    subset = pd.read_csv(tmp_path / "subset_glasses_by_au.csv")
    only_006 = per_video[per_video.video.str.startswith("006_")]
    for au_row in subset.itertuples():
        values = only_006[only_006.au == au_row.au]["pearson"]
        assert au_row.pearson_without == pytest.approx(np.tanh(np.arctanh(values).mean()), abs=1e-5)
        assert au_row.n_videos_without == 2 and au_row.n_videos_all == 5
    assert (tmp_path / "figures" / "subset_glasses.png").is_file()
    assert "Subset `glasses`" in (tmp_path / "report.md").read_text()
