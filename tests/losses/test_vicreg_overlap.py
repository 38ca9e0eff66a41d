"""The loss entry points: overlap_loss and the seed's compute_vicreg_overlap_loss / compute_vicreg_anyres_loss."""

import pytest
import torch

from panovlm.losses.matching import match_tokens
from panovlm.losses.terms import grouped_vicreg_terms, vicreg_loss, vicreg_terms
from panovlm.losses.vicreg_overlap import compute_vicreg_anyres_loss, compute_vicreg_overlap_loss, overlap_loss
from panovlm.plans import build_view_plan

GRID = (14, 14)


def _features(plan, batch=2, dim=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, len(plan), *GRID, dim, generator=g)


def test_overlap_loss_keys_counts_and_total():
    plan = build_view_plan("e2p")
    out = overlap_loss(_features(plan), plan, weights=(2.0, 3.0, 4.0))
    assert out["num_pairs"] == 2 * 8 and out["num_tokens"] == 2 * 8 * 90  # ring of 8, 90 matched tokens a pair
    expected = 2.0 * out["invariance"] + 3.0 * out["variance"] + 4.0 * out["covariance"]
    torch.testing.assert_close(out["loss"], expected)


def test_overlap_loss_equals_terms_of_its_matches():
    plan = build_view_plan("anyres_e2p", pitch_range=(-90.0, 90.0))
    features = _features(plan)
    out = overlap_loss(features, plan, include_global=True, return_matched=True)
    groups = match_tokens(features, plan, mode="ray", include_global=True)
    assert len(out["matched"]) == len(groups) > 1
    torch.testing.assert_close(out["loss"], vicreg_loss(grouped_vicreg_terms(groups)))


def test_views_of_one_field_give_near_zero_ray_invariance(direction_features):
    # Every view sees the same direction field: ray-matched tokens agree up to interpolation error,
    # the strips of the same views do not.
    plan = build_view_plan("e2p")
    features = direction_features(plan)
    ray = overlap_loss(features, plan, mode="ray")["invariance"].item()
    strip = overlap_loss(features, plan, mode="strip")["invariance"].item()
    assert ray < 1e-5 and strip > 100 * ray


def test_identical_inputs_give_zero_strip_invariance():
    plan = build_view_plan("e2p")
    # Each token row constant along the columns and the same in every view: the strips are equal.
    features = torch.randn(2, 1, GRID[0], 1, 4).expand(2, len(plan), *GRID, 4)  # (B, V, H, W, D)
    assert overlap_loss(features, plan, mode="strip")["invariance"].item() == 0.0


def test_chunked_equals_unchunked():
    plan = build_view_plan("e2p")
    features = _features(plan, dim=20)
    full = overlap_loss(features, plan, pair_chunk=None)
    chunked = overlap_loss(features, plan, pair_chunk=3)
    for key in ("loss", "invariance", "variance", "covariance"):
        torch.testing.assert_close(chunked[key], full[key])


def test_fp32_under_bf16_autocast_and_gradients():
    plan = build_view_plan("e2p")
    features = _features(plan).bfloat16().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = overlap_loss(features, plan)
    assert out["loss"].dtype == torch.float32
    ref = overlap_loss(features.detach().float(), plan)
    torch.testing.assert_close(out["loss"], ref["loss"])
    out["loss"].backward()
    assert features.grad is not None and features.grad.abs().sum() > 0


def test_pairwise_and_batchwise_modes_differ():
    plan = build_view_plan("e2p")
    features = _features(plan)
    pairwise = overlap_loss(features, plan, vicreg_mode="pairwise")
    batchwise = overlap_loss(features, plan, vicreg_mode="batchwise")
    # Equal L in every pair: the invariance is the same mean either way; the statistics are not.
    torch.testing.assert_close(pairwise["invariance"], batchwise["invariance"])
    assert not torch.allclose(pairwise["covariance"], batchwise["covariance"])


def test_seed_sequential_loss_reproduces_the_strip_formula():
    b, v, h, w, d, ratio = 2, 4, 6, 6, 5, 0.5
    feats = torch.randn(b, v, h, w, d)
    k = int(w * ratio)
    xs = [feats[bi, vi, :, w - k:].reshape(-1, d) for bi in range(b) for vi in range(v)]
    ys = [feats[bi, (vi + 1) % v, :, :k].reshape(-1, d) for bi in range(b) for vi in range(v)]
    expected = vicreg_loss(vicreg_terms(torch.stack(xs), torch.stack(ys)))
    flat = feats.reshape(b * v, h * w, d)  # (B*V, S, D)
    torch.testing.assert_close(compute_vicreg_overlap_loss(flat, b, v, overlap_ratio=ratio), expected)
    with_cls = torch.cat([torch.randn(b * v, 1, d), flat], dim=1)  # (B*V, 1+S, D)
    torch.testing.assert_close(compute_vicreg_overlap_loss(with_cls, b, v, has_cls_token=True), expected)


def test_seed_sequential_loss_bad_inputs():
    flat = torch.randn(8, 12, 4)
    with pytest.raises(ValueError, match="grid_hw"):
        compute_vicreg_overlap_loss(flat, 2, 4)
    assert compute_vicreg_overlap_loss(flat, 2, 4, grid_hw=(3, 4)).ndim == 0
    with pytest.raises(ValueError, match="num_views"):
        compute_vicreg_overlap_loss(flat, 2, 3, grid_hw=(3, 4))
    with pytest.raises(ValueError, match="at least 2 views"):
        compute_vicreg_overlap_loss(flat, 8, 1, grid_hw=(3, 4))
    with pytest.raises(ValueError, match="overlap_ratio"):
        compute_vicreg_overlap_loss(flat, 2, 4, overlap_ratio=0.0, grid_hw=(3, 4))


def test_seed_anyres_loss_pairs_by_view_index_and_matches_rays():
    plan = build_view_plan("anyres_e2p")
    grid = _features(plan)
    flat = grid.reshape(-1, GRID[0] * GRID[1], grid.shape[-1])  # (B*V, S, D)
    metas = [plan.tile_metas()] * 2
    expected = overlap_loss(grid, plan)["loss"]
    torch.testing.assert_close(compute_vicreg_anyres_loss(flat, 2, metas, plan=plan), expected)
    torch.testing.assert_close(compute_vicreg_anyres_loss(flat, 2, metas), expected)  # tiles rebuilt from metas
    with_global = compute_vicreg_anyres_loss(flat, 2, metas, plan=plan, include_global=True)
    torch.testing.assert_close(with_global, overlap_loss(grid, plan, include_global=True)["loss"])


def test_seed_anyres_loss_bad_inputs():
    plan = build_view_plan("anyres_e2p")
    flat = _features(plan).reshape(-1, GRID[0] * GRID[1], 6)
    metas = plan.tile_metas()
    with pytest.raises(ValueError, match="differs between samples"):
        compute_vicreg_anyres_loss(flat, 2, [metas, metas[::-1]])
    with pytest.raises(ValueError, match="needs plan"):
        compute_vicreg_anyres_loss(flat, 2, [metas, metas], include_global=True)
    stripped = [{k: m[k] for k in ("yaw_deg", "pitch_deg")} for m in metas]
    with pytest.raises(ValueError, match="view_index"):
        compute_vicreg_anyres_loss(flat, 2, [stripped, stripped])


def test_guard_names_fov_and_overlap():
    plan = build_view_plan("e2p", fov_deg=45.0, overlap_ratio=0.0)
    with pytest.raises(ValueError, match=r"fov_deg=45, overlap_ratio=0"):
        overlap_loss(_features(plan), plan)
