"""A CSV without an AU column: named in the log, the report and summary.json, never dropped
silently for every video; with aus= naming it, a clear stop."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mesynth.evaluation import run
from mesynth.evaluation.common import EvaluationInputError
from tests.evaluation.helpers import evaluation_config, make_csv_dataset


def test_an_au_column_missing_from_one_csv_is_reported_and_kept_for_the_others(tmp_path, caplog):
    root = tmp_path / "csvs"
    make_csv_dataset(root, {"006_1": 0.8, "011_1": 0.5, "020_1": 0.6}, n_frames=60)
    lacking = root / "synthetic" / "011_1.csv"
    pd.read_csv(lacking).drop(columns=["AU04_r"]).to_csv(lacking, index=False)
    output = tmp_path / "out"
    base = [
        "au=openface_csv",
        f"original_dir={root / 'original'}",
        f"synthetic_dir={root / 'synthetic'}",
        f"output_dir={output}",
        "logger=none",
    ]
    with caplog.at_level("WARNING"):
        summary = run(evaluation_config(base))
    assert any("no AU04_r column in 1 of 6 CSVs" in r.getMessage() for r in caplog.records)
    assert summary["aus"] == ["AU01", "AU04", "AU12", "AU45"]
    saved = json.loads((output / "summary.json").read_text())
    assert saved["missing_au_columns"] == {"AU04": [str(lacking)]}
    excluded = pd.read_csv(output / "excluded.csv", dtype={"video": str})
    assert excluded[["video", "au", "reason"]].values.tolist() == [
        ["011_1", "AU04", "no AU column in the synthetic CSV"]
    ]
    by_au = pd.read_csv(output / "au_correlation_by_au.csv").set_index("au")
    assert by_au.loc["AU04", "n_videos"] == 2 and by_au.loc["AU12", "n_videos"] == 3
    report = (output / "report.md").read_text()
    notes = report[report.index("## Notes") :]
    assert f"AU04 is missing from 1 CSV(s) ({lacking})" in notes
    assert (output / "figures" / "au_curves.png").is_file()  # the 011_1 AU04 panel says n/a

    with pytest.raises(EvaluationInputError) as caught:
        run(evaluation_config([*base, "aus=[AU04,AU12]"]))
    message = str(caught.value)
    assert f"{lacking} has no AU04_r" in message
    assert "drop AU04 from aus= (aus=[AU12])" in message
    assert not (output / "summary.json").exists()  # a refused run leaves no finished marker
