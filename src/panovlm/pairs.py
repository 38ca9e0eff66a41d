"""Which views of a plan overlap: the view pairs of the overlap loss, beside the plan that lays them out.

A pair is ``(idx1, idx2, overlap)``: two positions in the views tensor and the fraction of ``idx1``'s
rays that ``idx2`` sees (:func:`panovlm.geometry.view_overlap`), measured, not assumed.

Strategies: ``adjacent`` (neighbours in yaw within a pitch row, the 360-degree wrap pair included,
plus vertical / diagonal neighbours between consecutive rows), ``distance_based`` (axes closer than
``distance_threshold`` degrees), ``all_pairs``, and ``sequential`` (tile k with tile k + 1 in view
order, closed (last, first) when there are more than two tiles). Pairs whose overlap is below
``min_overlap`` are dropped in every strategy.
"""

from __future__ import annotations

from collections.abc import Sequence

from panovlm.geometry import ViewPlan, great_circle_deg, view_overlap, wrap_yaw

PAIRING_STRATEGIES: tuple[str, ...] = ("adjacent", "distance_based", "all_pairs", "sequential")
MIN_OVERLAP = 0.01
DISTANCE_THRESHOLD = 120.0

Pair = tuple[int, int, float]

__all__ = ["DISTANCE_THRESHOLD", "MIN_OVERLAP", "PAIRING_STRATEGIES", "Pair", "check_pairing", "pairs_for_plan",
           "tile_pairs"]


def check_pairing(strategy: str, distance_threshold: float) -> None:
    """Raise ValueError naming the argument when ``strategy`` or ``distance_threshold`` is not valid."""
    if strategy not in PAIRING_STRATEGIES:
        raise ValueError(f"pairing_strategy must be one of {list(PAIRING_STRATEGIES)}, got {strategy!r}")
    if not 0.0 < distance_threshold <= 180.0:
        raise ValueError(f"distance_threshold must be in (0, 180] degrees, got {distance_threshold}")


def tile_pairs(plan: ViewPlan, tiles: Sequence[int], strategy: str = "adjacent", hfov_deg: float = 90.0,
               distance_threshold: float = DISTANCE_THRESHOLD, min_overlap: float = MIN_OVERLAP) -> list[Pair]:
    """Pairs of the positions ``tiles`` of ``plan`` (perspective tiles), chosen by ``strategy``.

    ``hfov_deg`` bounds the yaw distance of vertical / diagonal neighbours in ``adjacent``.
    """
    tiles = list(tiles)
    if strategy == "adjacent":
        candidates = _adjacent(plan, tiles, hfov_deg)
    elif strategy == "sequential":
        candidates = [(tiles[k], tiles[k + 1]) for k in range(len(tiles) - 1)]
        if len(tiles) > 2:
            candidates.append((tiles[-1], tiles[0]))  # closed like a ring of v, v + 1
    else:
        candidates = [(a, b) for n, a in enumerate(tiles) for b in tiles[n + 1:]]
        if strategy == "distance_based":
            candidates = [(a, b) for a, b in candidates if _distance(plan, a, b) < distance_threshold]
    pairs = [(a, b, view_overlap(plan, a, b)) for a, b in candidates]
    return [(a, b, o) for a, b, o in pairs if o >= min_overlap]


def pairs_for_plan(plan: ViewPlan, strategy: str = "adjacent", include_global: bool = False,
                   distance_threshold: float = DISTANCE_THRESHOLD, min_overlap: float = MIN_OVERLAP) -> list[Pair]:
    """Overlap pairs ``(view_idx1, view_idx2, overlap)`` between the views of ``plan``.

    Tiles are paired by ``strategy``. With ``include_global`` every tile is also paired with the
    global view as ``(tile, global, fraction of the tile the global view sees)`` (1.0 for a full
    sphere global view), so the tile's tokens all have a match on the global grid.
    """
    check_pairing(strategy, distance_threshold)
    tiles = list(plan.tile_indices)
    hfov = max((plan.views[i].hfov_deg for i in tiles), default=90.0)
    pairs = tile_pairs(plan, tiles, strategy, min(hfov, 179.0), distance_threshold, min_overlap)
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
