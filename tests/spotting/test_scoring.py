"""The MEGC scorer: hand-made cases with known answers, files, the command line, and (when a
copy is at hand) the MEGC2020 baseline's published numbers."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import Workbook

from mesynth.__main__ import main
from mesynth.spotting.scoring import (
    Counts,
    SpottingInputError,
    distractor_hits,
    false_positives,
    ground_truth_from_annotations,
    iou,
    match_counts,
    read_ground_truth,
    read_predictions,
    score_predictions,
    video_counts,
    write_predictions,
)
from mesynth.spotting.types import Interval, Prediction
from mesynth.video.annotations import write_samm_xlsx
from tests.spotting import megc_baseline

REPO = Path(__file__).resolve().parents[2]


def micro(onset: int, offset: int) -> Interval:
    return Interval(onset, offset, "micro")


def test_iou_counts_frames_with_both_ends_included():
    assert iou(micro(1, 10), micro(1, 5)) == 0.5  # 5 common frames of 10
    assert iou(micro(1, 10), micro(6, 15)) == 5 / 15
    assert iou(micro(1, 10), micro(10, 19)) == 1 / 19  # touching: one shared frame
    assert iou(micro(1, 10), micro(11, 20)) == 0.0  # adjacent, no shared frame
    assert iou(micro(1, 10), micro(40, 50)) == 0.0
    # An interval with offset <= onset has IoU 0, even with itself (MEGC2020 baseline).
    assert iou(micro(5, 5), micro(5, 5)) == 0.0
    assert iou(micro(8, 3), micro(1, 10)) == 0.0


def test_iou_exactly_at_the_threshold_counts_and_just_below_does_not():
    truth = [micro(1, 10)]
    assert match_counts([micro(1, 5)], truth) == Counts(1, 1, 1)  # IoU 0.5
    assert match_counts([micro(1, 4)], truth) == Counts(1, 0, 1)  # IoU 0.4
    assert match_counts([micro(1, 4)], truth, iou_threshold=0.4) == Counts(1, 1, 1)
    assert match_counts([micro(10, 19)], truth) == Counts(1, 0, 1)  # touching only


def test_one_prediction_over_two_intervals_megc_finds_both_one_to_one_only_one():
    truths = [micro(1, 5), micro(6, 10)]
    spanning = [micro(1, 10)]  # IoU exactly 0.5 with each
    megc = match_counts(spanning, truths, matching="megc")
    assert megc == Counts(n_pred=1, n_tp=2, n_gt=2)
    assert (megc.precision, megc.recall) == (2.0, 1.0)  # the baseline's "small" precision
    assert megc.f1 == pytest.approx(2 * 2.0 * 1.0 / 3.0)
    one = match_counts(spanning, truths, matching="one_to_one")
    assert one == Counts(1, 1, 2)
    assert (one.precision, one.recall, one.f1) == (1.0, 0.5, pytest.approx(2 / 3))


def test_two_predictions_on_one_interval_find_it_once():
    truths = [micro(1, 10)]
    predictions = [micro(1, 9), micro(2, 10)]
    assert match_counts(predictions, truths, matching="megc") == Counts(2, 1, 1)
    assert match_counts(predictions, truths, matching="one_to_one") == Counts(2, 1, 1)


def test_one_to_one_matches_greedily_by_iou():
    # The first prediction overlaps both intervals; the better overlap decides its partner,
    # leaving the other interval to the second prediction.
    truths = [micro(1, 10), micro(9, 20)]
    predictions = [micro(2, 11), micro(8, 16)]
    assert iou(predictions[0], truths[0]) > iou(predictions[0], truths[1])
    assert match_counts(predictions, truths, matching="one_to_one") == Counts(2, 2, 2)


def test_no_predictions_give_zero_scores_and_keep_the_ground_truth():
    score = score_predictions([], {"006_1": [micro(1, 10), Interval(50, 90, "macro")]})
    assert score.counts["micro"] == Counts(0, 0, 1)
    assert score.counts["macro"] == Counts(0, 0, 1)
    assert score.counts["overall"] == Counts(0, 0, 2)
    assert score.to_dict()["overall"] == {
        "n_pred": 0, "n_tp": 0, "n_gt": 2, "precision": 0.0, "recall": 0.0, "f1": 0.0,
    }  # fmt: skip


def test_predictions_are_scored_per_type():
    truth = {"006_1": [micro(1, 10)]}
    wrong_type = [Prediction("006_1", 1, 10, "macro")]
    score = score_predictions(wrong_type, truth)
    assert score.counts["micro"] == Counts(0, 0, 1)
    assert score.counts["macro"] == Counts(1, 0, 0)  # a false positive of its own type


def test_counts_are_pooled_over_videos_not_averaged():
    truth = {"006_1": [micro(1, 10)], "006_2": [micro(1, 10)]}
    predictions = [Prediction("006_1", 1, 10, "me")] + [
        Prediction("006_2", 100 + 20 * n, 110 + 20 * n, "me") for n in range(9)
    ]
    score = score_predictions(predictions, truth)
    assert score.counts["micro"] == Counts(10, 1, 2)
    assert score.counts["micro"].precision == 0.1  # a per-video mean would say 0.5
    assert score.counts["micro"].f1 == pytest.approx(2 * 0.1 * 0.5 / 0.6)
    assert score.n_videos == 2


def test_a_video_without_events_and_a_video_nobody_mentions(caplog):
    truth = {"006_1": [micro(1, 10), Interval(100, 300, "macro")]}
    predictions = [
        Prediction("006_1", 1, 10, "me"),
        Prediction("006_1", 100, 300, "mae"),
        Prediction("006_2", 5, 15, "me"),  # known video without events
        Prediction("06_1", 1, 10, "me"),  # an id that lost its leading zero
        Prediction("06_1", 30, 40, "me"),
    ]
    with caplog.at_level(logging.WARNING):
        score = score_predictions(predictions, truth, videos=["006_1", "006_2"])
    assert score.counts["micro"] == Counts(4, 1, 1)  # all three others are false positives
    assert score.counts["macro"] == Counts(1, 1, 1)
    assert score.counts["overall"] == Counts(5, 2, 2)
    assert score.unknown_videos == ["06_1"]
    assert "2 prediction(s) for 1 video(s) the ground truth never mentions" in caplog.text
    assert "06_1 (ground truth has 006_1)" in caplog.text
    assert "006_2" not in caplog.text  # declared known: its predictions are plain FPs

    table = video_counts(predictions, truth, videos=["006_1", "006_2"])
    assert table["video"].unique().tolist() == ["006_1", "006_2", "06_1"]
    row = table[(table["video"] == "006_2") & (table["type"] == "micro")].iloc[0]
    assert (row["n_pred"], row["n_tp"], row["n_gt"]) == (1, 0, 0)


def test_bad_settings_are_refused():
    with pytest.raises(SpottingInputError, match="one_to_one"):
        match_counts([], [], matching="greedy")
    with pytest.raises(SpottingInputError, match=r"outside \(0, 1\]"):
        match_counts([], [], iou_threshold=1.5)


def test_prediction_files_keep_ids_and_accept_every_type_spelling(tmp_path):
    path = tmp_path / "pred.csv"
    path.write_text(
        "vid,pred_onset,pred_offset,type\n"
        "006_1,10,20,me\n"
        "006_1, 30 ,40,MaE\n"
        "s15_0401,5,9,Micro-expression\n"
        "020_3,7.0,12,macro\n"
    )
    predictions = read_predictions(path)
    assert [p.video for p in predictions] == ["006_1", "006_1", "s15_0401", "020_3"]
    assert [p.kind for p in predictions] == ["micro", "macro", "micro", "macro"]
    assert [(p.onset, p.offset) for p in predictions][:2] == [(10, 20), (30, 40)]
    assert predictions[3].onset == 7

    written = write_predictions(predictions, tmp_path / "again.csv")
    assert written.read_text().splitlines()[:2] == [
        "vid,pred_onset,pred_offset,type",
        "006_1,10,20,me",
    ]
    assert read_predictions(written) == predictions


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("video_name,start,end,kind\n006_1,1,2,me\n", "no 'vid' column"),
        ("vid,pred_onset,pred_offset,type\n006_1,ten,20,me\n", r"line 2: pred_onset='ten'"),
        ("vid,pred_onset,pred_offset,type\n006_1,1,20,me\n006_1,5,8.5,me\n", "line 3"),
        ("vid,pred_onset,pred_offset,type\n006_1,1,20,blink\n", "line 2: .*neither micro"),
    ],
)
def test_bad_prediction_files_are_explained(tmp_path, text, message):
    path = tmp_path / "pred.csv"
    path.write_text(text)
    with pytest.raises(SpottingInputError, match=message) as error:
        read_predictions(path)
    assert str(path) in str(error.value)


def test_ground_truth_from_annotation_quirks():
    table = pd.DataFrame(
        {
            "video": ["s15_0401", "s15_0401", "006_1", "006_1"],
            "onset": [700, 10, -1, 5],
            "apex": [705, 12, 30, 8],
            "offset": [-1, 20, 40, 9],
            "type": ["micro", "macro", "micro", "other"],
        }
    )
    truth = ground_truth_from_annotations(table)
    # CAS(ME)^2 leaves offsets uncoded: the baseline ends such events at the apex.
    assert truth["s15_0401"] == [Interval(700, 705, "micro"), Interval(10, 20, "macro")]
    # No onset: still ground truth (it counts as missed), but never found.
    assert truth["006_1"] == [Interval(-1, -1, "micro")]


def _samm_annotations(path: Path) -> Path:
    table = pd.DataFrame(
        {
            "video": ["006_1", "006_1", "011_2"],
            "subject": ["006", "006", "011"],
            "onset": [100, 500, 40],
            "apex": [120, 600, 50],
            "offset": [160, 900, 80],
            "type": ["micro", "macro", "micro"],
            "action_units": ["4", "12", "45"],
        }
    )
    return write_samm_xlsx(table, path)


def test_command_line_prints_the_table_and_writes_the_json(tmp_path, capsys):
    annotations = _samm_annotations(tmp_path / "SAMM_LongVideos_V3_Release.xlsx")
    predictions = tmp_path / "pred.csv"
    predictions.write_text(
        "vid,pred_onset,pred_offset,type\n"
        "006_1,100,150,me\n"  # IoU 51/61 with 100-160: found
        "006_1,1000,1100,me\n"
        "006_1,450,900,mae\n"  # IoU 401/451: found
        "011_2,10,30,me\n"
    )
    out = tmp_path / "scores.json"
    status = main(
        ["score-spotting", "--predictions", str(predictions), "--annotations", str(annotations),
         "--json", str(out)]
    )  # fmt: skip
    assert status == 0
    printed = capsys.readouterr().out
    assert "matching megc, IoU >= 0.5, 2 videos" in printed
    assert "micro          3      1      2     0.3333   0.5000   0.4000" in printed
    scores = json.loads(out.read_text())
    assert list(scores) == ["micro", "macro", "overall", "matching", "iou"]
    assert scores["matching"] == "megc" and scores["iou"] == 0.5
    assert scores["micro"] == {
        "n_pred": 3, "n_tp": 1, "n_gt": 2, "precision": 1 / 3, "recall": 0.5, "f1": 0.4,
    }  # fmt: skip
    assert scores["macro"] == {
        "n_pred": 1, "n_tp": 1, "n_gt": 1, "precision": 1.0, "recall": 1.0, "f1": 1.0,
    }  # fmt: skip
    assert scores["overall"]["n_pred"] == 4 and scores["overall"]["n_tp"] == 2
    assert scores["overall"]["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))

    status = main(
        ["score-spotting", "--predictions", str(predictions), "--annotations", str(annotations),
         "--iou", "0.9", "--matching", "one_to_one", "--json", str(out)]
    )  # fmt: skip
    assert status == 0
    scores = json.loads(out.read_text())
    assert (scores["matching"], scores["iou"]) == ("one_to_one", 0.9)
    assert scores["micro"]["n_tp"] == 0 and scores["macro"]["n_tp"] == 0


def test_command_line_reads_a_casme2_code_sheet(tmp_path, capsys):
    workbook = Workbook()
    codes = workbook.active
    codes.title = "CASFEcode_final"
    codes.append([1, "disgust1_1", 557, 572, 608, "4+10", "negative", "macro-expression", "x"])
    codes.append([1, "disgust1_2", 700, 705, 0, "4", "negative", "micro-expression", "x"])
    workbook.create_sheet("naming rule1").append([15, "s15", 1])
    workbook.create_sheet("naming rule2").append(["0401", "disgust1"])
    annotations = tmp_path / "CAS(ME)^2code_final.xlsx"
    workbook.save(annotations)
    predictions = tmp_path / "pred.csv"
    predictions.write_text("vid,pred_onset,pred_offset,type\ns15_0401,699,705,me\n")
    assert read_ground_truth(annotations)["s15_0401"][1] == Interval(700, 705, "micro")
    assert main(["score-spotting", "--predictions", str(predictions),
                 "--annotations", str(annotations)]) == 0  # fmt: skip
    assert "micro          1      1      1" in capsys.readouterr().out


def test_command_line_errors_name_the_file(tmp_path, caplog):
    annotations = _samm_annotations(tmp_path / "samm.xlsx")
    with caplog.at_level(logging.ERROR):
        status = main(["score-spotting", "--predictions", str(tmp_path / "missing.csv"),
                       "--annotations", str(annotations)])  # fmt: skip
    assert status == 2
    assert "missing.csv not found" in caplog.text


@pytest.mark.slow
def test_python_dash_m_runs_the_command(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mesynth", "score-spotting", "--help"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "--matching {megc,one_to_one,softnet}" in result.stdout


@pytest.mark.skipif(
    not os.environ.get(megc_baseline.BASELINE_ENV),
    reason=f"set {megc_baseline.BASELINE_ENV} to an extracted copy of the MEGC2020 baseline",
)
@pytest.mark.parametrize("dataset", sorted(megc_baseline.DATASETS))
def test_reproduces_the_published_megc2020_baseline_counts(dataset, tmp_path):
    results = megc_baseline.results_dir(Path(os.environ[megc_baseline.BASELINE_ENV]))
    published = megc_baseline.published_counts(results)[dataset]
    predictions, annotations = megc_baseline.write_inputs(results, dataset, tmp_path)
    out = tmp_path / "scores.json"
    status = main(["score-spotting", "--predictions", str(predictions),
                   "--annotations", str(annotations), "--json", str(out)])  # fmt: skip
    assert status == 0
    scores = json.loads(out.read_text())
    for kind in ("micro", "macro", "overall"):
        expected = published[kind]
        got = scores[kind]
        assert (got["n_pred"], got["n_tp"], got["n_gt"]) == (
            expected["n_pred"], expected["n_tp"], expected["n_gt"],
        ), kind  # fmt: skip
        for ratio in ("precision", "recall", "f1"):
            assert got[ratio] == pytest.approx(expected[ratio], rel=1e-12), (kind, ratio)
    # Every video of the baseline's list is scored, as in its log.
    table = video_counts(
        read_predictions(predictions),
        read_ground_truth(annotations),
        videos=megc_baseline.videos_of(results, dataset),
    )
    assert table["video"].nunique() == published["n_videos"]["n"]


def test_distractor_hits_count_the_false_positives_on_blinks_and_head_turns():
    truth = {"v1": [micro(10, 20), Interval(100, 200, "macro")], "v2": []}
    predictions = [
        Prediction("v1", 11, 20, "micro"),  # finds the micro-expression (IoU 10/11)
        Prediction("v1", 12, 19, "macro"),  # wrong type: a false positive, over blink 1
        Prediction("v1", 40, 50, "micro"),  # over blink 2 and head turn 1
        Prediction("v1", 100, 200, "macro"),  # finds the macro-expression over blink 3
        Prediction("v2", 5, 9, "micro"),  # over head turn 2 of the other video
    ]
    distractors = pd.DataFrame(
        [
            ("v1", "blink", 15, 18),
            ("v1", "blink", 48, 55),
            ("v1", "blink", 150, 155),
            ("v1", "blink", 300, 305),
            ("v1", "head_turn", 30, 41),
            ("v2", "head_turn", 1, 5),
            ("v2", "head_turn", 10, 30),
            ("v1", "head_drift", 1, 400),
        ],
        columns=["video", "kind", "onset", "offset"],
    )
    wrong = false_positives(predictions, truth)
    assert wrong == [predictions[1], predictions[2], predictions[4]]
    hits = distractor_hits(predictions, truth, distractors)
    assert hits == {
        "blink": {"n": 4, "marked": 2, "share": 0.5, "false_positives": 2},
        "head_turn": {"n": 3, "marked": 2, "share": 2 / 3, "false_positives": 2},
    }
    assert distractor_hits([], truth, distractors)["blink"]["marked"] == 0
