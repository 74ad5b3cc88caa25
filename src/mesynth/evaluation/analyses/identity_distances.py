"""Identity: does the synthetic face still look like the participant, or the reference?"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from tqdm import tqdm

from mesynth.evaluation.context import Context
from mesynth.evaluation.registry import Analysis, AnalysisResult, register
from mesynth.evaluation.report import markdown_table


@register
class Identity(Analysis):
    """dlib face-descriptor distances: original <-> synthetic, synthetic <-> reference."""

    name = "identity"
    rank = 50
    outputs = ("identity.csv",)
    switch = "identity.enabled"
    key = "identity"

    def missing(self, ctx: Context) -> str | None:
        return ctx.no_frames()

    def run(self, ctx: Context) -> AnalysisResult:
        from mesynth.evaluation.identity import (
            IDENTITY_COLUMNS,
            identity_distances,
            read_references,
        )

        settings = ctx.cfg.identity
        # An explicit file wins; otherwise each video's reference as the manifest records it.
        references = {}
        if settings.references is not None:
            references = read_references(Path(str(settings.references)))
        rows = [
            identity_distances(
                pair,
                int(settings.frames_per_video),
                float(settings.threshold),
                references.get(pair.video_id, pair.reference),
                ctx.detector,
            )
            for pair in tqdm(ctx.analysed_pairs, desc="identity", unit="video")
        ]
        table = pd.DataFrame(rows, columns=IDENTITY_COLUMNS)
        hidden = table["hidden"].dropna()
        summary = {
            "distance_original_synthetic": float(table["distance_original_synthetic"].mean()),
            "distance_synthetic_reference": float(table["distance_synthetic_reference"].mean()),
            "fraction_hidden": float(hidden.astype(float).mean()) if len(hidden) else float("nan"),
        }
        threshold = float(settings.threshold)
        result = AnalysisResult({"identity": table}, summary)
        result.section = lambda figures, out: "\n".join(
            [
                "## Identity\n",
                "Distances between dlib face descriptors (same person below about "
                f"{threshold}). `hidden`: the synthetic face is farther than that from the "
                "participant.\n",
                markdown_table(table, max_rows=60) + "\n",
            ]
        )
        return result
