"""Which views of a plan pair up for the overlap loss (panovlm.pairs)."""

import pytest

from panovlm.pairs import pairs_for_plan
from panovlm.plans import build_view_plan


def test_grid_pairs_rows_and_diagonals():
    plan = build_view_plan("anyres_e2p", pitch_range=(-90.0, 90.0))  # rows at -45, 0, 45
    pairs = pairs_for_plan(plan)
    pitch = {i: plan.views[i].pitch_deg for i in plan.tile_indices}
    assert sum(pitch[a] == pitch[b] for a, b, _ in pairs) == 3 * 8
    vertical = [(a, b) for a, b, _ in pairs if pitch[a] != pitch[b]]
    assert vertical and all(abs(pitch[a] - pitch[b]) == 45.0 for a, b in vertical)
    assert (1, 9) in vertical  # yaw 0 at pitch -45 with yaw 0 at pitch 0


def test_sequential_pairs_follow_view_order_and_drop_non_overlapping():
    plan = build_view_plan("anyres_e2p", pitch_range=(-90.0, 90.0))  # 3 rows of 8
    sequential = pairs_for_plan(plan, "sequential")
    adjacent = pairs_for_plan(plan, "adjacent")
    order = list(plan.tile_indices)
    assert all(order.index(b) == (order.index(a) + 1) % len(order) for a, b, _ in sequential)
    assert len(sequential) < len(adjacent)  # no vertical / diagonal pairs
    ring = build_view_plan("anyres_e2p")  # one row: sequential neighbours are the grid neighbours
    assert pairs_for_plan(ring, "sequential") == pairs_for_plan(ring, "adjacent")


def test_include_global_pairs_every_tile_with_the_global_view():
    plan = build_view_plan("anyres_e2p")
    pairs = pairs_for_plan(plan, include_global=True)
    to_global = [(a, o) for a, b, o in pairs if b == 0]
    assert [a for a, _ in to_global] == list(range(1, 9)) and all(o == pytest.approx(1.0) for _, o in to_global)
