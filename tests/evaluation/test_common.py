"""Names and choices shared by the evaluation modules."""

from __future__ import annotations

import pytest

from mesynth.evaluation.common import EvaluationInputError, choose_videos, normalise_au


def test_choose_videos_takes_the_configured_ones_else_the_first_in_natural_order():
    known = ["010_1", "006_10", "006_2"]
    assert choose_videos("x.videos", None, known, 2, "the videos") == ["006_2", "006_10"]
    assert choose_videos("x.videos", ["010_1"], known, 1, "the videos") == ["010_1"]
    # The default may come from a subset (e.g. the videos that have events).
    assert choose_videos("x.videos", [], known, 5, "the videos", default=["010_1"]) == ["010_1"]
    with pytest.raises(EvaluationInputError) as error:
        choose_videos("figures.curves.videos", [6.1, "006_2"], known, 2, "the evaluated videos")
    assert str(error.value) == (
        "figures.curves.videos names ['6.1'], not among the evaluated videos (e.g. ['006_2', "
        "'006_10', '010_1']); quote ids Hydra reads as numbers: videos=['006_1']"
    )


def test_normalise_au_reads_every_spelling():
    assert [normalise_au(a) for a in (12, "12", "au12", "AU12_r", " AU4 ")] == [
        "AU12", "AU12", "AU12", "AU12", "AU04",
    ]  # fmt: skip
    with pytest.raises(EvaluationInputError, match="'smile' is not an action unit"):
        normalise_au("smile")
