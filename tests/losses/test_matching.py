"""Which tokens are matched: ray-exact correspondences and the seed's strips."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from panovlm.geometry import correspondences
from panovlm.losses.matching import check_overlap, match_tokens, matched_pairs, plan_pairs, ray_groups, strip_match
from panovlm.plans import build_view_plan

GRID = (14, 14)


def _max_error(groups):
    return max((x - y).abs().max().item() for x, y in groups)


@pytest.mark.parametrize("strategy,kwargs", [("e2p", {}), ("anyres_e2p", {"pitch_range": (-67.5, 67.5)}),
                                             ("sliding_window", {})])
def test_ray_matches_see_the_same_direction(strategy, kwargs, direction_features):
    plan = build_view_plan(strategy, **kwargs)
    groups = match_tokens(direction_features(plan), plan, mode="ray")
    assert groups and all(x.shape[1] >= 2 for x, _ in groups)
    # Linear interpolation of unit rays between token centres 6.4 degrees apart errs by ~(6.4 deg)^2 / 8.
    assert _max_error(groups) < 6e-3


def test_ray_matches_beat_column_strips(direction_features):
    plan = build_view_plan("e2p")
    features = direction_features(plan)
    ray_err = _max_error(match_tokens(features, plan, mode="ray"))
    strip_err = _max_error(match_tokens(features, plan, mode="strip"))
    assert strip_err > 10 * ray_err  # strips pair tokens that see different rays


def test_global_view_matches_when_included(direction_features):
    plan = build_view_plan("anyres_e2p")
    features = direction_features(plan)
    without = match_tokens(features, plan, mode="ray")
    with_global = match_tokens(features, plan, mode="ray", include_global=True)
    assert sum(x.shape[0] for x, _ in with_global) == 2 * sum(x.shape[0] for x, _ in without)
    # The squash global view has 25.7 x 12.9 degree tokens: a coarser grid, a larger interpolation error.
    assert 0.0 < _max_error(with_global) < 0.05


def test_ray_match_on_rendered_direction_erp():
    """End to end: an ERP whose pixels are their own ray, rendered by the processor's Projector, pooled to tokens."""
    from panovlm.data.projection import Projector

    plan = build_view_plan("e2p", image_size=(112, 112))
    h, w = 256, 512
    rows, cols = np.meshgrid(np.arange(h) + 0.5, np.arange(w) + 0.5, indexing="ij")
    lon, lat = np.radians(cols / w * 360.0 - 180.0), np.radians(90.0 - rows / h * 180.0)
    erp = np.stack([np.cos(lat) * np.sin(lon), np.sin(lat), np.cos(lat) * np.cos(lon)])  # (3, H, W)
    views = Projector(plan).render_torch(torch.as_tensor(erp, dtype=torch.float32)[None])  # (1, V, 3, 112, 112)
    tokens = F.avg_pool2d(views[0], kernel_size=8)  # (V, 3, 14, 14): a token is its patch mean
    features = tokens.permute(0, 2, 3, 1)[None]  # (1, V, 14, 14, 3)
    assert _max_error(match_tokens(features, plan, mode="ray")) < 1e-2


def test_groups_are_not_padded_and_cover_every_matched_token():
    plan = build_view_plan("anyres_e2p", pitch_range=(-90.0, 90.0))
    pairs = matched_pairs(plan, GRID, plan_pairs(plan, "adjacent", False))
    groups = ray_groups(plan, GRID, pairs, torch.device("cpu"))
    lengths = [g.token_a.shape[1] for g in groups]
    assert len(set(lengths)) == len(lengths) > 1  # several L, one group each
    expected = sum(correspondences(plan, GRID, a, b).num_tokens for a, b in pairs)
    assert sum(g.token_a.numel() for g in groups) == expected
    assert ray_groups(plan, GRID, pairs, torch.device("cpu")) is groups  # cached


def test_pairs_are_oriented_towards_more_tokens():
    plan = build_view_plan("anyres_e2p")
    pairs = matched_pairs(plan, GRID, plan_pairs(plan, "adjacent", True))
    g = plan.global_index
    assert all(a != g for a, b in pairs)  # a tile sees all its tokens in the global view, not the reverse


def test_ray_gradients_reach_both_views():
    plan = build_view_plan("e2p")
    features = torch.randn(1, len(plan), *GRID, 4, requires_grad=True)
    (x, y), = match_tokens(features, plan, mode="ray")
    x.sum().backward(retain_graph=True)
    grad_x = features.grad.clone()
    features.grad = None
    y.sum().backward()
    assert grad_x.abs().sum() > 0 and features.grad.abs().sum() > 0
    assert not torch.equal(grad_x != 0, features.grad != 0)  # exact tokens of A, bilinear corners of B


def test_strip_reproduces_the_seed_formula():
    b, v, h, w, d, k = 2, 5, 4, 6, 3, 2
    features = torch.randn(b, v, h, w, d)
    x, y = strip_match(features, k)
    for bi in range(b):
        for vi in range(v):
            curr = features[bi, vi, :, w - k:].reshape(h * k, d)  # columns W-k .. W-1 of view v
            nxt = features[bi, (vi + 1) % v, :, :k].reshape(h * k, d)  # columns 0 .. k-1 of view v+1
            torch.testing.assert_close(x[bi * v + vi], curr)
            torch.testing.assert_close(y[bi * v + vi], nxt)


def test_strip_uses_tiles_and_overlap_ratio():
    plan = build_view_plan("anyres_e2p")
    features = torch.randn(1, len(plan), *GRID, 2)
    (x, _), = match_tokens(features, plan, mode="strip")
    assert x.shape == (len(plan.tile_indices), 14 * 7, 2)  # global excluded, k = floor(14 * 0.5)
    (x, _), = match_tokens(features, plan, mode="strip", overlap_ratio=0.25, include_global=True)
    assert x.shape == (len(plan), 14 * 3, 2)


@pytest.mark.parametrize("strategy,kwargs", [("e2p", {"fov_deg": 45.0, "overlap_ratio": 0.0}), ("cubemap", {})])
def test_guard_rejects_plans_without_overlap(strategy, kwargs):
    plan = build_view_plan(strategy, **kwargs)
    fov = f"fov_deg={kwargs.get('fov_deg', 90.0):g}"
    with pytest.raises(ValueError, match=rf"{fov}, overlap_ratio=0\b"):
        check_overlap(plan, GRID)
    with pytest.raises(ValueError, match="do not overlap"):
        match_tokens(torch.zeros(1, len(plan), *GRID, 2), plan, mode="strip")


def test_guard_rejects_resamplers_without_a_grid():
    with pytest.raises(ValueError, match="no token grid"):
        check_overlap(build_view_plan("e2p"), None)


def test_bad_arguments_raise():
    plan = build_view_plan("e2p")
    features = torch.zeros(1, len(plan), *GRID, 2)
    with pytest.raises(ValueError, match="mode"):
        match_tokens(features, plan, mode="columns")
    with pytest.raises(ValueError, match="ray mode"):
        match_tokens(features, plan, mode="ray", overlap_ratio=0.5)
    with pytest.raises(ValueError, match="V = 8"):
        match_tokens(features[:, :3], plan)
    with pytest.raises(ValueError, match="strip width"):
        strip_match(features, 15)
