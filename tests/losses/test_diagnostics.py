"""Collapse diagnostics of matched overlap features."""

import pytest
import torch

from panovlm.losses.diagnostics import effective_rank, overlap_diagnostics
from panovlm.losses.terms import vicreg_terms
from panovlm.losses.vicreg_overlap import overlap_loss
from panovlm.plans import build_view_plan

KEYS = {"invariance", "variance", "covariance", "feature_std", "effective_rank", "matched_cosine"}


def test_effective_rank_of_known_spectra():
    assert effective_rank(torch.eye(16)).item() == pytest.approx(16.0, rel=1e-4)
    assert effective_rank(torch.ones(50, 16)).item() == pytest.approx(1.0, rel=1e-4)
    spectrum = torch.diag(torch.tensor([3.0, 1.0, 0.0, 0.0]))
    p = torch.tensor([0.75, 0.25])
    assert effective_rank(spectrum).item() == pytest.approx(torch.exp(-(p * p.log()).sum()).item(), rel=1e-4)


def test_collapsed_features_are_flagged():
    x = torch.randn(32).expand(6, 20, 32)  # every token one vector
    diag = overlap_diagnostics(x, x.clone())
    assert set(diag) == KEYS
    assert diag["feature_std"].item() == pytest.approx(0.0, abs=1e-6)
    assert diag["effective_rank"].item() == pytest.approx(1.0, rel=1e-3)
    assert diag["matched_cosine"].item() == pytest.approx(1.0, abs=1e-5)
    assert diag["variance"].item() > 0.9


def test_healthy_features_and_terms():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 20, 32, generator=g)
    y = torch.randn(6, 20, 32, generator=g)
    diag = overlap_diagnostics(x, y)
    assert diag["effective_rank"].item() > 20
    assert abs(diag["matched_cosine"].item()) < 0.1
    assert diag["feature_std"].item() == pytest.approx(1.0, abs=0.1)
    for name, value in vicreg_terms(x, y).items():
        torch.testing.assert_close(diag[name], value)


def test_accepts_matched_groups_and_records_no_graph():
    plan = build_view_plan("anyres_e2p")
    features = torch.randn(2, len(plan), 14, 14, 8, requires_grad=True)
    out = overlap_loss(features, plan, include_global=True, return_matched=True)
    xs, ys = zip(*out["matched"], strict=True)
    diag = overlap_diagnostics(list(xs), list(ys))
    assert all(not v.requires_grad for v in diag.values())
    torch.testing.assert_close(diag["covariance"], out["covariance"].detach())


def test_subsampling_bounds_the_svd():
    x = torch.randn(4, 100, 8)
    full = overlap_diagnostics(x, x, max_tokens=10_000)["effective_rank"]
    sub = overlap_diagnostics(x, x, max_tokens=64)["effective_rank"]
    assert 6.0 < sub.item() <= 8.0 and 6.0 < full.item() <= 8.0


def test_mismatched_group_lists_raise():
    x = torch.randn(2, 5, 4)
    with pytest.raises(ValueError, match="equally long"):
        overlap_diagnostics([x, x], [x])


def test_embedding_diagnostics_of_projector_output():
    from panovlm.losses.diagnostics import embedding_diagnostics

    embedded = torch.randn(3, 5, 300, 16)  # (B, V, S', Dp): 4500 tokens, every 2nd for the rank
    diag = embedding_diagnostics(embedded)
    tokens = embedded.reshape(-1, 16)
    assert set(diag) == {"feature_std", "effective_rank"}
    assert torch.equal(diag["feature_std"], tokens.std(dim=0).mean())
    assert torch.equal(diag["effective_rank"], effective_rank(tokens[::2]))
