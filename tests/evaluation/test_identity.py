"""Identity: reference lists read from CSV, unreadable references named, distances."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mesynth.evaluation.common import EvaluationInputError
from mesynth.evaluation.identity import _distance, read_references, reference_image


def test_references_are_read_relative_to_their_csv(tmp_path):
    (tmp_path / "refs").mkdir()
    (tmp_path / "refs" / "woman.png").write_bytes(b"")
    path = tmp_path / "refs" / "references.csv"
    path.write_text(" video, reference\n006_1,woman.png\n006_2,skimage:astronaut\n011_1,\n")
    assert read_references(path) == {
        "006_1": str(tmp_path / "refs" / "woman.png"),
        "006_2": "skimage:astronaut",
    }
    path.write_text("clip,image\n006_1,woman.png\n")
    with pytest.raises(EvaluationInputError, match="needs a `video` column"):
        read_references(path)


def test_an_unreadable_reference_names_the_video_and_the_way_out(tmp_path):
    assert reference_image("skimage:astronaut", "006_1").shape == (512, 512, 3)
    with pytest.raises(EvaluationInputError, match="of video 006_1 cannot be read.*identity"):
        reference_image(str(tmp_path / "gone.png"), "006_1")


def test_a_distance_needs_both_descriptors():
    assert _distance(np.zeros(3), np.array([3.0, 4.0, 0.0])) == 5.0
    assert math.isnan(_distance(None, np.zeros(3)))
