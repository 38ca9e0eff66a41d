"""The seed's flat-feature losses: compute_vicreg_overlap_loss (strips) and compute_vicreg_anyres_loss (rays)."""

import pytest
import torch

from panovlm.losses.terms import vicreg_loss, vicreg_terms
from panovlm.losses.vicreg_overlap import compute_vicreg_anyres_loss, compute_vicreg_overlap_loss, overlap_loss
from panovlm.plans import build_view_plan

GRID = (14, 14)


def _features(plan, batch=2, dim=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, len(plan), *GRID, dim, generator=g)


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
