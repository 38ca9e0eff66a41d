"""``AnyResVICRegPairing``: overlap pairs from tile metadata (the seed API over :mod:`panovlm.pairs`).

A pair is ``(idx1, idx2, overlap)``:

* :meth:`AnyResVICRegPairing.build_tile_pairs` gives **positions in the list it was given**, so
  ``tile_metas[idx1]`` is the tile (the seed's debugging snippet indexes the metas that way).
  :meth:`AnyResVICRegPairing.build_view_pairs` gives **view indices**, positions in the views tensor
  ``(V, 3, S, S)`` (each meta's ``view_index``; for AnyRes-E2P the global view is 0 and tiles are
  1..N). The two never mix: the origin indexed the feature tensor with list positions, off by one.
  :func:`panovlm.pairs.pairs_for_plan` (the loss) works on view indices.
* ``overlap`` is geometric: the fraction of ``idx1``'s rays that ``idx2`` sees
  (:func:`panovlm.geometry.view_overlap`), not a rectangle-in-angle estimate.

The strategies are those of :mod:`panovlm.pairs`; ``sequential`` is the pre-grid VICReg pairing that
``ModelConfig(use_anyres_e2p_vicreg=False)`` selects.
"""

from __future__ import annotations

from panovlm.geometry import View, ViewPlan
from panovlm.pairs import (
    DISTANCE_THRESHOLD,
    MIN_OVERLAP,
    PAIRING_STRATEGIES,
    Pair,
    check_pairing,
    pairs_for_plan,
    tile_pairs,
)

_OVERLAP_VIEW_SIZE = 224  # overlap is a fraction of rays, nearly independent of the pixel count

__all__ = ["AnyResVICRegPairing", "MIN_OVERLAP", "PAIRING_STRATEGIES", "Pair", "pairs_for_plan"]


class AnyResVICRegPairing:
    """Builds overlap pairs from tile metadata (dicts with yaw_deg, pitch_deg[, hfov_deg, vfov_deg, view_index])."""

    def __init__(self, hfov_deg: float = 90.0, vfov_deg: float = 90.0, overlap_ratio: float = 0.5,
                 pairing_strategy: str = "adjacent", distance_threshold: float = DISTANCE_THRESHOLD,
                 min_overlap: float = MIN_OVERLAP) -> None:
        check_pairing(pairing_strategy, distance_threshold)
        for name, value in (("hfov_deg", hfov_deg), ("vfov_deg", vfov_deg)):
            if not 0.0 < value < 180.0:
                raise ValueError(f"{name} must be in (0, 180), got {value}")
        if not 0.0 <= overlap_ratio < 1.0:
            raise ValueError(f"overlap_ratio must be in [0, 1), got {overlap_ratio}")
        self.hfov_deg = float(hfov_deg)
        self.vfov_deg = float(vfov_deg)
        # Kept for the seed API; the overlap of each pair is measured, not assumed from this ratio.
        self.overlap_ratio = float(overlap_ratio)
        self.pairing_strategy = pairing_strategy
        self.distance_threshold = float(distance_threshold)
        self.min_overlap = float(min_overlap)

    def build_tile_pairs(self, tile_metas: list[dict]) -> list[Pair]:
        """``[(i, j, overlap), ...]`` with ``i``, ``j`` positions in ``tile_metas`` (``tile_metas[i]`` is the tile)."""
        plan = ViewPlan(views=tuple(self._meta_view(i, m) for i, m in enumerate(tile_metas)), strategy="pairing")
        return tile_pairs(plan, range(len(plan)), self.pairing_strategy, self.hfov_deg, self.distance_threshold,
                          self.min_overlap)

    def build_view_pairs(self, tile_metas: list[dict]) -> list[Pair]:
        """``[(view_idx1, view_idx2, overlap), ...]``: the same pairs, named by each meta's ``view_index``."""
        index = []
        for i, meta in enumerate(tile_metas):
            if "view_index" not in meta:
                raise KeyError(f"tile_metas[{i}] lacks 'view_index' (its position in the views tensor); "
                               "use build_tile_pairs for positions in the list")
            index.append(int(meta["view_index"]))
        if len(set(index)) != len(index):
            raise ValueError(f"tile_metas view indices must be unique, got {index}")
        return [(index[a], index[b], o) for a, b, o in self.build_tile_pairs(tile_metas)]

    def _meta_view(self, i: int, meta: dict) -> View:
        try:
            yaw, pitch = float(meta["yaw_deg"]), float(meta["pitch_deg"])
        except KeyError as err:
            raise KeyError(f"tile_metas[{i}] lacks {err.args[0]!r}; each meta needs yaw_deg and pitch_deg") from err
        return View("tile", yaw, pitch, float(meta.get("hfov_deg", self.hfov_deg)),
                    float(meta.get("vfov_deg", self.vfov_deg)), width=_OVERLAP_VIEW_SIZE, height=_OVERLAP_VIEW_SIZE)
