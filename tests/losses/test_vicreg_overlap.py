"""The loss entry point overlap_loss (the seed's compute_vicreg_*: tests/compat/test_vicreg.py)."""

import pytest
import torch

from panovlm.losses.matching import match_tokens
from panovlm.losses.overlap import overlap_loss
from panovlm.losses.terms import grouped_vicreg_terms, vicreg_loss
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


def test_guard_names_fov_and_overlap():
    plan = build_view_plan("e2p", fov_deg=45.0, overlap_ratio=0.0)
    with pytest.raises(ValueError, match=r"fov_deg=45, overlap_ratio=0"):
        overlap_loss(_features(plan), plan)
