"""From 98 landmark heatmaps to the generator's two high-pass masks.

Steps (all on 256x256 heatmaps): drop weak responses, min-max normalise each heatmap, move and
sharpen some face parts (eyebrows and eyes move down so the mask covers the eye region, lips move
towards the mouth centre, ...), discard the face-outline extremes, sum the heatmaps into one mask;
the second mask leaves out face outline, eyebrows and mouth. Landmark indices follow the 98-point
WFLW layout.
"""

from __future__ import annotations

import torch

TRUNCATE_BELOW = 0.1
NORMALISE_EPS = 1e-6

# Face parts as [start, end) channel ranges of the 98 heatmaps.
CHIN = (8, 25)  # face outline without its upper ends
OUTLINE_END = 33
EYEBROWS = (33, 51)
EYEBROW_EDGES = (33, 46)
NOSE = (51, 55)
NOSTRILS = (55, 60)
EYES = (60, 76)
LIP_EDGES = (76, 82)
LIP_UPPER = (77, 82)
LIP_LOWER = (83, 88)
LIP_INNER = (88, 96)

# (part, vertical shift in pixels at 256 px - positive moves up, exponent) applied in order.
PART_OPERATIONS = (
    (CHIN, 0, 3),
    (EYEBROWS, -7, 2),
    (NOSTRILS, 8, 4),
    (LIP_UPPER, -8, 4),
    (LIP_LOWER, 8, 4),
    (LIP_INNER, -2, 3),
)
NOSE_SHIFT = 4
EYE_SHIFTS = (-8, -24)  # not scaled with resolution
EYE_EXPONENT = 3


def shift_up(x: torch.Tensor, pixels: int) -> torch.Tensor:
    """Move heatmaps up by ``pixels`` rows (down if negative), wrapping around."""
    return torch.roll(x, shifts=-pixels, dims=2)


def min_max_normalise(x: torch.Tensor) -> torch.Tensor:
    flat = x.flatten(2)
    low = flat.min(dim=2, keepdim=True).values
    high = flat.max(dim=2, keepdim=True).values
    return ((flat - low) / (high - low + NORMALISE_EPS)).view_as(x)


def heatmaps_to_masks(heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Masks (N, 1, H, W) in [0, 1] from landmark heatmaps (N, 98, H, W)."""
    x = torch.where(heatmaps < TRUNCATE_BELOW, torch.zeros_like(heatmaps), heatmaps)
    x = min_max_normalise(x)
    scale = x.size(2) // 256

    for (start, end), shift, exponent in PART_OPERATIONS:
        x[:, start:end] = shift_up(x[:, start:end], shift * scale) ** exponent

    dropped = list(range(0, CHIN[0])) + list(range(CHIN[1], OUTLINE_END))
    dropped += [EYEBROW_EDGES[0], EYEBROW_EDGES[1], LIP_EDGES[0], LIP_EDGES[1]]
    x[:, dropped] = 0

    x[:, NOSE[0] + 1 : NOSE[1]] = shift_up(x[:, NOSE[0] + 1 : NOSE[1]], NOSE_SHIFT * scale)

    eyes = x[:, EYES[0] : EYES[1]]
    x[:, EYES[0] : EYES[1]] = shift_up(eyes, EYE_SHIFTS[0]) ** EYE_EXPONENT + shift_up(
        eyes, EYE_SHIFTS[1]
    )

    inner = x.clone()
    inner[:, CHIN[0] : CHIN[1]] = 0
    inner[:, LIP_EDGES[0] : LIP_INNER[1]] = 0
    inner[:, EYEBROWS[0] : EYEBROWS[1]] = 0

    masks = []
    for part in (x, inner):
        summed = part.sum(dim=1, keepdim=True)
        summed = torch.nan_to_num(summed, nan=0.0)
        masks.append(summed.clamp(0, 1))
    return masks[0], masks[1]
