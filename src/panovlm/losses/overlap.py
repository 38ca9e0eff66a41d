"""Overlap-consistency VICReg loss between the views of a panorama.

Shapes: ``B`` batch, ``V`` views of the ViewPlan, ``(H, W)`` token grid, ``D`` feature width. The
model calls :func:`overlap_loss` on ``(B, V, H, W, D)``; the seed's flat ``(B * V, S, D)`` entry
points (``compute_vicreg_overlap_loss`` / ``compute_vicreg_anyres_loss``) live in
:mod:`panovlm.compat.vicreg`.

Departures from the origin (PanoLLaVA):

* Tokens are matched by ray (``mode="ray"``, default): a token of view A against view B's features
  bilinearly sampled where B sees the same ray. The origin's column strips survive as ``mode="strip"``.
* A plan without overlapping views, or a resampler without a token grid, raises ValueError
  instead of training on unrelated tokens. One view or zero pairs raise instead of returning 0.
* Term conventions follow the official VICReg, see ``panovlm.losses.terms``; no 1e6 clamp.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from panovlm.geometry import ViewPlan
from panovlm.losses.matching import match_tokens
from panovlm.losses.terms import DEFAULT_WEIGHTS, grouped_vicreg_terms, vicreg_loss

__all__ = ["overlap_loss"]


def overlap_loss(
    features: Tensor,
    plan: ViewPlan,
    mode: str = "ray",
    pairing_strategy: str = "adjacent",
    include_global: bool = False,
    vicreg_mode: str = "pairwise",
    weights: Sequence[float] = DEFAULT_WEIGHTS,
    pair_chunk: int | None = 8,
    overlap_ratio: float | None = None,
    return_matched: bool = False,
) -> dict:
    """VICReg overlap loss of features ``(B, V, H, W, D)`` laid out as ``plan``.

    Returns ``loss`` (weighted total), ``invariance``, ``variance``, ``covariance`` (unweighted),
    ``num_pairs`` (view pairs across the batch) and ``num_tokens`` (matched token pairs); with
    ``return_matched`` also ``matched``, the list of ``(x, y)`` groups for diagnostics.
    Computed in fp32 with autocast disabled. Raises ValueError when the plan's views do not overlap.
    """
    with torch.autocast(device_type=features.device.type, enabled=False):
        groups = match_tokens(features.float(), plan, mode, pairing_strategy, include_global, overlap_ratio)
        terms = grouped_vicreg_terms(groups, mode=vicreg_mode, pair_chunk=pair_chunk)
        out: dict = {"loss": vicreg_loss(terms, weights), **terms}
    out["num_pairs"] = sum(x.shape[0] for x, _ in groups)
    out["num_tokens"] = sum(x.shape[0] * x.shape[1] for x, _ in groups)
    if return_matched:
        out["matched"] = groups
    return out
