"""The figures as a reader sees them: legends off the data, n/a where a value is missing, source
frame numbers on curve axes, a flow figure with a colour key and no gaps between its panels."""

from __future__ import annotations

import cv2
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from mesynth.evaluation import figures, stats
from mesynth.evaluation.events import EventFlow
from mesynth.evaluation.flow import flow_to_rgb
from tests.evaluation.helpers import au_table, textured_image


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _by_au() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "au": ["AU01", "AU02", "AU04", "AU12"],
            "pearson": [0.95, 0.99, np.nan, 0.97],  # tall bars where a legend used to sit
            "spearman": [0.9, 0.98, np.nan, -0.2],
            "n_videos": [3, 3, 0, 3],
        }
    )


def _curves(n: int = 60) -> tuple[dict, dict]:
    rng = np.random.default_rng(0)
    original = au_table({"AU12": rng.random(n), "AU04": rng.random(n)})
    synthetic = au_table({"AU12": rng.random(n)})  # AU04 missing on the synthetic side
    settings = stats.StatsSettings()
    curves = {
        ("006_1", au): stats.aligned_series(original, synthetic, au, settings)
        for au in ("AU12", "AU04")
    }
    per_video, excluded = stats.correlate_tables(
        {"006_1": (original, synthetic)}, ["AU12", "AU04"], settings
    )
    return curves, figures.curve_labels(per_video, excluded)


def _data_axes(figure: plt.Figure) -> list:
    return [axis for axis in figure.axes if axis.lines or axis.patches or axis.images]


def _assert_legends_off_the_data(figure: plt.Figure) -> None:
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    legends = list(figure.legends) + [a.get_legend() for a in figure.axes if a.get_legend()]
    assert legends, "the figure has no legend"
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for axis in _data_axes(figure):
            assert not box.overlaps(axis.get_window_extent(renderer)), (legend, axis)


@pytest.mark.parametrize(
    "draw",
    [
        lambda: figures.draw_by_au_bars(_by_au()),
        lambda: figures.draw_subset_comparison(
            _by_au().rename(columns={"pearson": "pearson_all", "spearman": "pearson_without"}),
            "glasses",
        ),
        lambda: figures.draw_au_curves(
            _curves()[0], {"006_1": [(4010, 4020, 4030)]}, {"006_1": range(4001, 4061)}
        ),
    ],
    ids=["by_au", "subset", "curves"],
)
def test_legends_sit_outside_the_data(draw):
    _assert_legends_off_the_data(draw())


def test_an_au_without_a_coefficient_reads_n_a_not_zero():
    figure = figures.draw_by_au_bars(_by_au())
    (axis,) = figure.axes
    marks = [text for text in axis.texts if text.get_text() == "n/a"]
    # AU04 (position 2) has neither coefficient: both of its slots say so.
    assert sorted(text.xy[0] for text in marks) == pytest.approx([1.8, 2.2])
    bar_centres = [patch.get_x() + patch.get_width() / 2 for patch in axis.patches]
    assert len(bar_centres) == 6 and not any(abs(x - 2) < 0.3 for x in bar_centres)
    assert axis.get_ylim()[0] < -0.2  # the negative Spearman of AU12 is in view
    labels = [label.get_text() for label in axis.get_xticklabels()]
    assert labels == ["AU01", "AU02", "AU04", "AU12"]


def test_curves_run_over_source_frame_numbers_and_mark_missing_pairs():
    curves, labels = _curves()
    figure = figures.draw_au_curves(
        curves, {"006_1": [(4010, 4020, 4030)]}, {"006_1": list(range(4001, 4061))}, labels
    )
    au12, au04 = figure.axes
    original_line = au12.lines[-2]
    np.testing.assert_array_equal(original_line.get_xdata(), np.arange(4001, 4061))
    assert au12.get_xlim() == (4001, 4060)
    figure.canvas.draw()
    ticks = [t for t in au12.get_xticks() if 4001 <= t <= 4060]
    assert len(ticks) >= 3 and all(float(t).is_integer() for t in ticks)
    (span,) = au12.patches  # the event, onset to offset
    assert (span.get_x(), span.get_x() + span.get_width()) == (4010, 4030)
    assert any(line.get_xdata()[0] == 4020 for line in au12.lines)  # the apex
    assert au12.get_title(loc="right").startswith("r = ")
    # The AU the synthetic CSV lacks: an n/a panel that says why, not an empty one.
    assert au04.get_title(loc="right") == "n/a: no AU column in the synthetic CSV"
    assert [t.get_text() for t in au04.texts] == ["n/a"]
    assert not au04.lines[2:]  # no curve (only the apex line)
    assert au04.get_xlabel() == "source frame number"

    # No frames: the CSV's frame column, and events cannot be placed on it.
    plain = figures.draw_au_curves(curves, {"006_1": [(4010, 4020, 4030)]})
    axis = plain.axes[0]
    np.testing.assert_array_equal(axis.lines[0].get_xdata(), np.arange(1, 61))
    assert not axis.patches and plain.axes[-1].get_xlabel() == "frame (CSV)"


def test_histograms_stay_within_the_range_of_a_coefficient():
    figure = figures.draw_participant_histograms(
        pd.DataFrame({"participant": ["006"], "pearson": [0.98], "spearman": [np.nan]})
    )
    pearson, spearman = figure.axes
    edges = [patch.get_x() for patch in pearson.patches] + [
        patch.get_x() + patch.get_width() for patch in pearson.patches
    ]
    assert min(edges) >= -1 and max(edges) <= 1
    assert [t.get_text() for t in spearman.texts] == ["n/a: no participant has a coefficient"]


def _event(number: int, shift: tuple[float, float]) -> EventFlow:
    height, width = 40, 56
    onset = textured_image(64, seed=number)[:height, :width]
    apex = np.roll(onset, 2, axis=1)
    flow = np.zeros((height, width, 2), dtype=np.float32)
    flow[10:30, 15:40] = shift
    images = {
        "original_onset": onset,
        "original_apex": apex,
        "synthetic_onset": onset,
        "synthetic_apex": apex,
        "flow_original": flow,
        "flow_synthetic": flow * 0.5,
    }
    row = {"video": "006_1", "event": number, "onset": 100 * number, "apex": 100 * number + 7,
           "cosine": 0.91 if number == 1 else np.nan, "epe": 0.3}  # fmt: skip
    return EventFlow(row, images)


def test_flow_figure_has_onset_apex_flow_a_colour_key_and_no_gaps(tmp_path):
    events = [_event(1, (2.0, 0.0)), _event(2, (0.0, 1.0))]
    figure = figures.draw_event_flows(events)
    by_label = {axis.get_label(): axis for axis in figure.axes if axis.get_label()}
    panels = [axis for axis in figure.axes if axis.get_label() != figures.FLOW_KEY_LABEL]
    assert len(panels) == 2 * 2 * 3
    titles = [axis.get_title() for axis in panels if axis.get_title()]
    assert titles == ["onset", "apex", "flow onset→apex"] * 2
    first_row = panels[:6]
    np.testing.assert_array_equal(
        first_row[0].images[0].get_array(), events[0].images["original_onset"]
    )
    np.testing.assert_array_equal(
        first_row[1].images[0].get_array(), events[0].images["original_apex"]
    )
    # Both flows of an event share one scale: the synthetic's half-length flow is half as bright.
    shown = first_row[5].images[0].get_array()
    np.testing.assert_array_equal(shown, flow_to_rgb(events[0].images["flow_synthetic"], 2.0))
    assert shown[20, 20, 0] == pytest.approx(127, abs=1)
    texts = " ".join(text.get_text() for text in figure.texts)
    assert "onset 100, apex 107" in texts and "cos 0.91" in texts and "cos n/a" in texts

    # No gaps: panels of one side touch but for a hairline, rows too, and each image fills its
    # axes (the axes have the image's aspect, so there is no letterbox).
    figure.canvas.draw()
    boxes = [axis.get_window_extent() for axis in panels]
    for box in boxes:
        assert box.width / box.height == pytest.approx(56 / 40, rel=0.02)
    for left, right in ((0, 1), (1, 2), (3, 4), (4, 5)):
        assert 0 <= boxes[right].x0 - boxes[left].x1 < 0.05 * boxes[left].width
    below = boxes[6]  # second row, original onset
    assert 0 <= boxes[0].y0 - below.y1 < 0.05 * boxes[0].height

    # The key: hue = direction (right red, down hue 90 deg), brightness = length.
    key = by_label[figures.FLOW_KEY_LABEL].images[0].get_array()
    size = key.shape[0]
    middle = size // 2
    assert tuple(key[middle, size - 1, :3]) == (255, 0, 0)
    hsv = cv2.cvtColor(np.ascontiguousarray(key[..., :3]), cv2.COLOR_RGB2HSV)
    assert hsv[size - 1, middle, 0] == 45 and hsv[size - 1, middle, 2] == 255
    assert key[middle, middle, :3].max() == 0 and key[0, 0, 3] == 0  # black centre, clear corner

    path = figures.event_flows(events, tmp_path / "event_flow.png", dpi=80)
    assert cv2.imread(str(path)).shape[1] > cv2.imread(str(path)).shape[0]
