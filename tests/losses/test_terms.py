"""VICReg terms against an independent transcription of the paper's formulas."""

import pytest
import torch

from panovlm.losses.terms import grouped_vicreg_terms, vicreg_loss, vicreg_terms


def reference_terms(x: torch.Tensor, y: torch.Tensor) -> tuple[float, float, float]:
    """VICReg (Bardes et al. 2022, eqs. 1-5, official code conventions) for one (n, D) pair, float64."""
    x, y = x.double(), y.double()
    n, d = x.shape
    invariance = ((x - y) ** 2).mean()

    def std_term(z):
        std = torch.sqrt(z.var(dim=0, unbiased=True) + 1e-4)
        return torch.relu(1.0 - std).mean()

    def cov_term(z):
        zc = z - z.mean(dim=0)
        c = zc.T @ zc / (n - 1)
        off = c - torch.diag(torch.diag(c))
        return (off**2).sum() / d

    return float(invariance), float(std_term(x) / 2 + std_term(y) / 2), float(cov_term(x) + cov_term(y))


def _pairs(p=5, n=12, d=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(p, n, d, generator=g) * 0.7
    y = x + 0.3 * torch.randn(p, n, d, generator=g) + torch.randn(d, generator=g)
    return x, y


@pytest.mark.parametrize("n,d", [(12, 24), (40, 8)])  # Gram path (n < D) and covariance path (n >= D)
def test_pairwise_matches_reference(n, d):
    x, y = _pairs(n=n, d=d)
    terms = vicreg_terms(x, y, mode="pairwise")
    refs = torch.tensor([reference_terms(x[p], y[p]) for p in range(x.shape[0])]).mean(0)
    for value, name in zip(refs, ("invariance", "variance", "covariance"), strict=True):
        assert terms[name].item() == pytest.approx(value.item(), rel=1e-4, abs=1e-6)


def test_batchwise_matches_reference_over_all_tokens():
    x, y = _pairs()
    terms = vicreg_terms(x, y, mode="batchwise")
    ref = reference_terms(x.reshape(-1, x.shape[-1]), y.reshape(-1, y.shape[-1]))
    got = (terms["invariance"].item(), terms["variance"].item(), terms["covariance"].item())
    assert got == pytest.approx(ref, rel=1e-4)


def test_identical_inputs_have_zero_invariance():
    x, _ = _pairs()
    assert vicreg_terms(x, x.clone())["invariance"].item() == 0.0


def test_collapsed_inputs_have_positive_variance_and_zero_covariance():
    x = torch.ones(4, 10, 16) * torch.randn(16)  # every token the same vector
    terms = vicreg_terms(x, x.clone())
    assert terms["variance"].item() == pytest.approx(1.0 - 1e-2, abs=1e-5)  # ReLU(1 - sqrt(0 + 1e-4))
    assert terms["covariance"].item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("n,d", [(12, 24), (40, 8)])
def test_chunked_equals_unchunked_values_and_gradients(n, d):
    x, y = _pairs(p=7, n=n, d=d)
    grads = []
    values = []
    for chunk in (None, 3, 1):
        xr, yr = x.clone().requires_grad_(), y.clone().requires_grad_()
        terms = vicreg_terms(xr, yr, pair_chunk=chunk)
        vicreg_loss(terms).backward()
        values.append(terms["covariance"].detach())
        grads.append((xr.grad, yr.grad))
    for value, (gx, gy) in zip(values[1:], grads[1:], strict=True):
        torch.testing.assert_close(value, values[0])
        torch.testing.assert_close(gx, grads[0][0])
        torch.testing.assert_close(gy, grads[0][1])


def test_pairwise_and_batchwise_differ_as_expected():
    # Each pair is collapsed on its own but pairs differ from each other: pairwise statistics see the
    # collapse, batchwise statistics (over all pairs) do not.
    centres = torch.randn(16, 32) * 3.0
    x = centres[:, None, :].expand(16, 8, 32).contiguous()
    pairwise = vicreg_terms(x, x.clone(), mode="pairwise")
    batchwise = vicreg_terms(x, x.clone(), mode="batchwise")
    assert pairwise["variance"].item() > 0.9
    assert batchwise["variance"].item() < 0.2
    assert pairwise["invariance"].item() == batchwise["invariance"].item() == 0.0


def test_groups_of_different_lengths_average_per_pair():
    a, b = _pairs(p=3, n=10, d=8, seed=1)
    c, d = _pairs(p=2, n=25, d=8, seed=2)
    terms = grouped_vicreg_terms([(a, b), (c, d)])
    per_pair = [reference_terms(a[i], b[i]) for i in range(3)] + [reference_terms(c[i], d[i]) for i in range(2)]
    ref = torch.tensor(per_pair).mean(0)
    assert terms["covariance"].item() == pytest.approx(ref[2].item(), rel=1e-4)
    assert terms["variance"].item() == pytest.approx(ref[1].item(), rel=1e-4)


def test_fp32_under_bf16_autocast():
    x, y = _pairs()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        terms = vicreg_terms(x.bfloat16(), y.bfloat16())
    ref = vicreg_terms(x.bfloat16().float(), y.bfloat16().float())
    for name, value in terms.items():
        assert value.dtype == torch.float32
        torch.testing.assert_close(value, ref[name])


def test_gradients_flow_to_both_branches():
    x, y = _pairs()
    x.requires_grad_()
    y.requires_grad_()
    vicreg_loss(vicreg_terms(x, y)).backward()
    assert x.grad.abs().sum() > 0 and y.grad.abs().sum() > 0
    assert torch.isfinite(x.grad).all() and torch.isfinite(y.grad).all()


def test_vicreg_loss_weights():
    terms = {"invariance": torch.tensor(1.0), "variance": torch.tensor(2.0), "covariance": torch.tensor(3.0)}
    assert vicreg_loss(terms).item() == 25.0 + 50.0 + 3.0
    assert vicreg_loss(terms, (1.0, 0.0, 2.0)).item() == 7.0
    with pytest.raises(ValueError, match="weights"):
        vicreg_loss(terms, (1.0, 2.0))
    with pytest.raises(ValueError, match="weights"):
        vicreg_loss(terms, (1.0, -1.0, 1.0))


def test_bad_inputs_raise():
    x, y = _pairs()
    with pytest.raises(ValueError, match="vicreg_mode"):
        vicreg_terms(x, y, mode="global")
    with pytest.raises(ValueError, match="at least 2"):
        vicreg_terms(x[:, :1], y[:, :1])
    with pytest.raises(ValueError, match="equal shape"):
        vicreg_terms(x, y[:, :5])
    with pytest.raises(ValueError, match="pair_chunk"):
        vicreg_terms(x, y, pair_chunk=0)
