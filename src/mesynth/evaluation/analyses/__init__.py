"""The analyses of ``task=au``, one per module, each registered with
:mod:`mesynth.evaluation.registry` when imported.

Each has its ``rank`` in the task: the figures read the statistics' tables; flow, temporal
consistency and identity read the frame pairs the :class:`mesynth.evaluation.context.Context`
opens once for all of them.
"""

from __future__ import annotations

from mesynth.evaluation.analyses import (  # noqa: F401  (registers each analysis)
    event_flow,
    identity_distances,
    statistics,
    statistics_figures,
    temporal_consistency,
)
