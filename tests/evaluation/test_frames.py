"""Frame pairs: originals cropped as the synthetic frames were, unfinished synthesis refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mesynth.evaluation.common import EvaluationInputError
from mesynth.evaluation.frames import open_pairs


def test_originals_are_cropped_with_the_saved_crop(demo_dir, demo_synthetic, tmp_path):
    import shutil

    (pair,) = open_pairs(demo_dir / "frames", demo_synthetic)
    assert pair.size == (192, 192) and pair.crop.mode == "fixed"
    for index in (0, 93, 399):
        np.testing.assert_array_equal(pair.original_frame(index), pair.synthetic_frame(index))
    # Without the crop the whole 256 px frame is only scaled to 192 px: a different picture.
    copy = tmp_path / "synthetic"
    shutil.copytree(demo_synthetic, copy, ignore=shutil.ignore_patterns("crops"))
    (uncropped,) = open_pairs(demo_dir / "frames", copy)
    assert uncropped.crop is None
    frame = uncropped.original_frame(93)
    assert frame.shape == (192, 192, 3)
    assert np.abs(frame.astype(int) - pair.original_frame(93)).mean() > 10
    with pytest.raises(EvaluationInputError, match="crops_dir=.*not a directory"):
        open_pairs(demo_dir / "frames", demo_synthetic, crops_dir=tmp_path / "missing")


def test_unfinished_or_mismatched_synthesis_is_refused(demo_dir, demo_synthetic, tmp_path):
    import shutil

    copy = tmp_path / "synthetic"
    shutil.copytree(demo_synthetic, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["videos"]["900_1"]["status"] = "partial"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(EvaluationInputError, match=r"not finished \(e\.g\. 900_1: partial\)"):
        open_pairs(demo_dir / "frames", copy)
    manifest["videos"]["900_1"]["status"] = "done"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    for extra in sorted((copy / "900_1").glob("*.png"))[-10:]:
        extra.unlink()
    with pytest.raises(
        EvaluationInputError, match=r"400 original frames .* 390 synthetic frames.*align=truncate"
    ):
        open_pairs(demo_dir / "frames", copy)
    (pair,) = open_pairs(demo_dir / "frames", copy, align="truncate")
    assert len(pair) == 390
