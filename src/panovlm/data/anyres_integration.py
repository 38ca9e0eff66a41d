"""Which views of a panorama overlap: pairs for the VICReg overlap loss (seed 000 API).

A pair is ``(idx1, idx2, overlap)``:

* :meth:`AnyResVICRegPairing.build_tile_pairs` gives **positions in the list it was given**, so
  ``tile_metas[idx1]`` is the tile (seed 000's debugging snippet indexes the metas that way).
  :meth:`AnyResVICRegPairing.build_view_pairs` gives **view indices**, positions in the views tensor
  ``(V, 3, S, S)`` (each meta's ``view_index``; for AnyRes-E2P the global view is 0 and tiles are
  1..N). The two never mix: the origin indexed the feature tensor with list positions, off by one.
  :func:`pairs_for_plan` (the loss) works on view indices.
* ``overlap`` is geometric: the fraction of ``idx1``'s rays that ``idx2`` sees
  (:func:`panovlm.geometry.view_overlap`), not a rectangle-in-angle estimate.

Strategies: ``adjacent`` (neighbours in yaw within a pitch row, the 360-degree wrap pair
included, plus vertical/diagonal neighbours between consecutive rows), ``distance_based``
(axes closer than ``distance_threshold`` degrees), ``all_pairs``, and ``sequential``: tile k with
tile k + 1 in view order, closed (last, first) when there are more than two tiles, the seed's
pre-grid VICReg that ``ModelConfig(use_anyres_e2p_vicreg=False)`` selects. Pairs whose overlap
is below ``min_overlap`` are dropped in every strategy.
"""

from __future__ import annotations

from panovlm.geometry import View, ViewPlan, great_circle_deg, view_overlap, wrap_yaw

PAIRING_STRATEGIES: tuple[str, ...] = ("adjacent", "distance_based", "all_pairs", "sequential")
MIN_OVERLAP = 0.01
_OVERLAP_VIEW_SIZE = 224  # overlap is a fraction of rays, nearly independent of the pixel count

Pair = tuple[int, int, float]


class AnyResVICRegPairing:
    """Builds overlap pairs from tile metadata (dicts with yaw_deg, pitch_deg[, hfov_deg, vfov_deg, view_index])."""

    def __init__(self, hfov_deg: float = 90.0, vfov_deg: float = 90.0, overlap_ratio: float = 0.5,
                 pairing_strategy: str = "adjacent", distance_threshold: float = 120.0,
                 min_overlap: float = MIN_OVERLAP) -> None:
        if pairing_strategy not in PAIRING_STRATEGIES:
            raise ValueError(f"pairing_strategy must be one of {list(PAIRING_STRATEGIES)}, got {pairing_strategy!r}")
        for name, value in (("hfov_deg", hfov_deg), ("vfov_deg", vfov_deg)):
            if not 0.0 < value < 180.0:
                raise ValueError(f"{name} must be in (0, 180), got {value}")
        if not 0.0 <= overlap_ratio < 1.0:
            raise ValueError(f"overlap_ratio must be in [0, 1), got {overlap_ratio}")
        if not 0.0 < distance_threshold <= 180.0:
            raise ValueError(f"distance_threshold must be in (0, 180] degrees, got {distance_threshold}")
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
        return self._pairs(plan, list(range(len(plan))))

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

    def _pairs(self, plan: ViewPlan, tiles: list[int]) -> list[Pair]:
        """Pairs of positions ``tiles`` in ``plan`` (all perspective tiles)."""
        if self.pairing_strategy == "adjacent":
            candidates = _adjacent(plan, tiles, self.hfov_deg)
        elif self.pairing_strategy == "sequential":
            candidates = [(tiles[k], tiles[k + 1]) for k in range(len(tiles) - 1)]
            if len(tiles) > 2:
                candidates.append((tiles[-1], tiles[0]))  # closed like the seed's circular v, v + 1
        else:
            candidates = [(a, b) for n, a in enumerate(tiles) for b in tiles[n + 1:]]
            if self.pairing_strategy == "distance_based":
                candidates = [(a, b) for a, b in candidates if _distance(plan, a, b) < self.distance_threshold]
        pairs = [(a, b, view_overlap(plan, a, b)) for a, b in candidates]
        return [(a, b, o) for a, b, o in pairs if o >= self.min_overlap]


def pairs_for_plan(plan: ViewPlan, strategy: str = "adjacent", include_global: bool = False,
                   distance_threshold: float = 120.0, min_overlap: float = MIN_OVERLAP) -> list[Pair]:
    """Overlap pairs ``(view_idx1, view_idx2, overlap)`` between the views of ``plan``.

    Tiles are paired by ``strategy``. With ``include_global`` every tile is also paired with the
    global view as ``(tile, global, fraction of the tile the global view sees)`` (1.0 for a full
    sphere global view), so the tile's tokens all have a match on the global grid.
    """
    tiles = list(plan.tile_indices)
    hfov = max((plan.views[i].hfov_deg for i in tiles), default=90.0)
    pairing = AnyResVICRegPairing(hfov_deg=min(hfov, 179.0), pairing_strategy=strategy,
                                  distance_threshold=distance_threshold, min_overlap=min_overlap)
    pairs = pairing._pairs(plan, tiles)
    g = plan.global_index
    if include_global and g is not None:
        for t in tiles:
            overlap = view_overlap(plan, t, g)
            if overlap >= min_overlap:
                pairs.append((t, g, overlap))
    return pairs


def _adjacent(plan: ViewPlan, tiles: list[int], hfov_deg: float) -> list[tuple[int, int]]:
    """Yaw neighbours within each pitch row (wrap pair included), then every close pair of consecutive rows."""
    rows: dict[float, list[int]] = {}
    for t in tiles:
        rows.setdefault(round(plan.views[t].pitch_deg, 1), []).append(t)
    ordered = [sorted(rows[p], key=lambda t: (plan.views[t].yaw_deg + 360.0) % 360.0) for p in sorted(rows)]
    pairs: list[tuple[int, int]] = []
    for row in ordered:
        pairs += [(row[k], row[k + 1]) for k in range(len(row) - 1)]
        if len(row) > 2:
            pairs.append((row[-1], row[0]))  # the ring closes across the +-180 seam
    for lower, upper in zip(ordered, ordered[1:], strict=False):
        pairs += [(a, b) for a in lower for b in upper
                  if abs(wrap_yaw(plan.views[a].yaw_deg - plan.views[b].yaw_deg)) < hfov_deg]
    return pairs


def _distance(plan: ViewPlan, a: int, b: int) -> float:
    va, vb = plan.views[a], plan.views[b]
    return great_circle_deg(va.yaw_deg, va.pitch_deg, vb.yaw_deg, vb.pitch_deg)
