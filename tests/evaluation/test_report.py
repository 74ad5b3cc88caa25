"""report.md: markdown tables with readable numbers, figures with captions, the untrained banner."""

from __future__ import annotations

import pandas as pd

from mesynth.evaluation.report import figure_markdown, markdown_table, render


def test_a_table_prints_small_numbers_readably_and_says_what_it_left_out():
    table = pd.DataFrame(
        {"video": ["a|b", "c", "d"], "r": [0.51234, 0.0012, float("nan")], "n": [3, 0, 1]}
    )
    assert markdown_table(table, max_rows=2) == "\n".join(
        [
            "| video | r | n |",
            "|---|---|---|",
            "| a\\|b | 0.512 | 3 |",
            "| c | 1.20e-03 | 0 |",
            "",
            "(1 more rows in the CSV)",
        ]
    )
    assert markdown_table(table).splitlines()[-1] == "| d | – | 1 |"


def test_a_figure_is_linked_relative_to_the_output_or_left_out(tmp_path):
    figures = {"flow": tmp_path / "figures" / "event_flow.png"}
    assert figure_markdown(figures, "flow", "Fig. 6", tmp_path) == (
        "![Fig. 6](figures/event_flow.png)\n\n*Fig. 6*\n"
    )
    assert figure_markdown(figures, "curves", "AU curves", tmp_path) == ""


def test_the_report_puts_sections_in_order_then_notes_and_warns_when_untrained():
    text = render(["## A\n", "", "## B\n"], ["one note"], untrained=False)
    assert text == "# Evaluation report\n\n## A\n\n## B\n\n## Notes\n\n- one note\n"
    assert "UNTRAINED NETWORKS" in render([], [], untrained=True)
    assert "UNTRAINED" not in text
