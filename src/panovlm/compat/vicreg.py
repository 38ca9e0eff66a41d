"""The seed's flat VICReg entry points on ``(B * V, S, D)`` features, over the core :func:`overlap_loss`.

``S = H * W`` tokens per view (``+ 1`` with a CLS token). Departures from the origin (PanoLLaVA):

* ``compute_vicreg_anyres_loss`` pairs tiles by ``view_index`` (the origin indexed features by meta
  position, off by one behind the global view) and matches by ray, not by strips. The global view
  is excluded by default, as in the origin; with ray matching it *can* be included
  (``include_global=True``), because the squash/letterbox global view is an equirect view with
  real correspondences to every tile.
* ``compute_vicreg_overlap_loss`` keeps the origin's column strips (no plan is known there).

The core names the seed's ``panovlm.losses.vicreg_overlap`` module exported are re-exported here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from panovlm.geometry import View, ViewPlan
from panovlm.losses.matching import check_overlap, strip_match, strip_width
from panovlm.losses.overlap import overlap_loss
from panovlm.losses.projector import VICRegProjector
from panovlm.losses.terms import DEFAULT_WEIGHTS, vicreg_loss, vicreg_terms
from panovlm.plans import global_view

__all__ = [
    "VICRegProjector",
    "check_overlap",
    "compute_vicreg_anyres_loss",
    "compute_vicreg_overlap_loss",
    "overlap_loss",
    "vicreg_loss",
    "vicreg_terms",
]


def _infer_grid(num_tokens: int, grid_hw: tuple[int, int] | None) -> tuple[int, int]:
    if grid_hw is not None:
        if grid_hw[0] * grid_hw[1] != num_tokens:
            raise ValueError(f"grid_hw {tuple(grid_hw)} does not hold the {num_tokens} tokens per view")
        return int(grid_hw[0]), int(grid_hw[1])
    side = math.isqrt(num_tokens)
    if side * side != num_tokens:
        raise ValueError(f"{num_tokens} tokens per view is not a square grid; pass grid_hw=(rows, cols)")
    return side, side


def _to_grid(features: Tensor, batch_size: int, has_cls_token: bool, grid_hw: tuple[int, int] | None) -> Tensor:
    """Flat ``(B * V, S, D)`` -> ``(B, V, H, W, D)``, dropping token 0 if it is a CLS token."""
    if features.dim() != 3 or batch_size < 1 or features.shape[0] % batch_size:
        raise ValueError(f"features must be (B * V, S, D) with B = batch_size = {batch_size}, got {tuple(features.shape)}")
    if has_cls_token:
        features = features[:, 1:]
    h, w = _infer_grid(features.shape[1], grid_hw)
    return features.reshape(batch_size, -1, h, w, features.shape[-1])  # (B, V, H, W, D)


def compute_vicreg_overlap_loss(
    features: Tensor,
    batch_size: int,
    num_views: int,
    overlap_ratio: float = 0.5,
    pair_chunk: int | None = 8,
    vicreg_mode: str = "pairwise",
    has_cls_token: bool = False,
    weights: Sequence[float] = DEFAULT_WEIGHTS,
    grid_hw: tuple[int, int] | None = None,
) -> Tensor:
    """The seed's sequential loss: strips of view v vs v + 1 (circular) on ``(B * V, S, D)`` features.

    k = max(1, floor(W * overlap_ratio)) token columns. No plan is known here, so nothing checks
    that the strips really overlap: prefer :func:`overlap_loss`. Returns the weighted total.
    """
    grid = _to_grid(features, batch_size, has_cls_token, grid_hw)  # (B, V, H, W, D)
    if grid.shape[1] != num_views:
        raise ValueError(f"num_views={num_views} but features hold {grid.shape[1]} views per sample")
    with torch.autocast(device_type=features.device.type, enabled=False):
        x, y = strip_match(grid.float(), strip_width(grid.shape[3], overlap_ratio))
        return vicreg_loss(vicreg_terms(x, y, mode=vicreg_mode, pair_chunk=pair_chunk), weights)


def _plan_from_metas(metas: list[dict], num_views: int, hfov_deg: float, image_size: tuple[int, int]) -> ViewPlan:
    """Rebuild the plan's tiles from tile metas; positions without a meta hold the (unpaired) global view."""
    views: list[View | None] = [None] * num_views
    for meta in metas:
        if "view_index" not in meta:
            raise ValueError(f"tile meta needs 'view_index' (the tile's position in the views tensor), got keys {sorted(meta)}")
        index = int(meta["view_index"])
        if not 0 <= index < num_views:
            raise ValueError(f"tile meta view_index={index} outside the {num_views} views per sample")
        hfov = float(meta.get("hfov_deg", hfov_deg))
        views[index] = View("tile", float(meta["yaw_deg"]), float(meta["pitch_deg"]), hfov,
                            float(meta.get("vfov_deg", hfov)), width=image_size[1], height=image_size[0])
    filler = global_view(image_size)
    return ViewPlan(views=tuple(filler if v is None else v for v in views), strategy="anyres_e2p")


def compute_vicreg_anyres_loss(
    vision_features: Tensor,
    batch_size: int,
    tile_metas_batch: list[list[dict]],
    pairing_strategy: str = "adjacent",
    hfov_deg: float = 90.0,
    pair_chunk: int | None = 8,
    has_cls_token: bool = False,
    *,
    plan: ViewPlan | None = None,
    image_size: tuple[int, int] = (224, 224),
    include_global: bool = False,
    vicreg_mode: str = "pairwise",
    weights: Sequence[float] = DEFAULT_WEIGHTS,
    grid_hw: tuple[int, int] | None = None,
) -> Tensor:
    """The seed's AnyRes grid loss on ``(B * V, S, D)`` features, paired by ``view_index`` and ray-matched.

    ``plan`` (the batch's ViewPlan) gives the exact geometry; without it the tiles are rebuilt from
    the metas (yaw, pitch, ``hfov_deg``/``vfov_deg`` of the meta, else ``hfov_deg``) at
    ``image_size``, which only moves token centres by a pixel-centre convention. The global view
    has no meta, so ``include_global=True`` needs ``plan``. Every sample must share one layout
    (one plan per batch). Returns the weighted total.
    """
    if len(tile_metas_batch) != batch_size:
        raise ValueError(f"tile_metas_batch has {len(tile_metas_batch)} entries for batch_size={batch_size}")
    metas = tile_metas_batch[0]
    if any(m != metas for m in tile_metas_batch[1:]):
        raise ValueError("tile_metas_batch differs between samples; a batch must share one ViewPlan")
    grid = _to_grid(vision_features, batch_size, has_cls_token, grid_hw)  # (B, V, H, W, D)
    if plan is None:
        if include_global:
            raise ValueError("include_global=True needs plan=: tile metas do not describe the global view")
        plan = _plan_from_metas(metas, grid.shape[1], hfov_deg, image_size)
    out = overlap_loss(grid, plan, mode="ray", pairing_strategy=pairing_strategy, include_global=include_global,
                       vicreg_mode=vicreg_mode, weights=weights, pair_chunk=pair_chunk)
    return out["loss"]
