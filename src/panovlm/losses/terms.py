"""The three VICReg terms (invariance, variance, covariance) on matched token features.

Shapes: ``x, y`` are ``(P, L, D)``: P pairs of views, L matched tokens per pair, D feature width.
``x[p, l]`` and ``y[p, l]`` see the same ray. A *group* is one ``(x, y)`` couple; pairs with
different L live in different groups and are never padded.

Conventions follow the official implementation (facebookresearch/vicreg, ``main_vicreg.py``):

* invariance = mean squared difference over all elements;
* variance = 1/2 (mean_d ReLU(gamma - std(x_d)) + mean_d ReLU(gamma - std(y_d))),
  std = sqrt(unbiased var + eps);
* covariance = (sum_{i != j} C(x)_ij^2 + sum_{i != j} C(y)_ij^2) / D, C = centred Z^T Z / (n - 1),
  i.e. the two branches are **summed**, as in the official code (and the issue's formula);
* x and y keep separate statistics; n is the real number of tokens, never a configured batch size.

Where the origin (PanoLLaVA ``compute_vicreg_overlap_loss``) differed: it used the population variance
for the std term, **halved** the covariance (mean of the x and y terms instead of their sum), pooled
x and y into one matrix in batchwise mode, and clamped the total at 1e6. We do none of these, so at
equal weights our covariance term is twice the origin's.

Modes: ``pairwise`` (the seed default) computes variance and covariance per pair over its L tokens
and averages over pairs; ``batchwise`` (the original VICReg) computes them once over all tokens of
all pairs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

VICREG_MODES: tuple[str, ...] = ("pairwise", "batchwise")
TERMS: tuple[str, ...] = ("invariance", "variance", "covariance")
DEFAULT_WEIGHTS: tuple[float, float, float] = (25.0, 25.0, 1.0)


def _offdiag_sq_sum(z: Tensor) -> Tensor:
    """Sum of squared off-diagonal entries of each pair's covariance; ``z`` centred ``(P, n, D)`` -> ``(P,)``.

    ``||Z^T Z||_F = ||Z Z^T||_F``, so when n < D the (n, n) Gram matrix gives the same value with a
    (D / n)^2 smaller intermediate than the (D, D) covariance.
    """
    n, d = z.shape[1], z.shape[2]
    diag = z.pow(2).sum(dim=1) / (n - 1)  # (P, D): the variances, C's diagonal
    if n < d:
        gram = z @ z.transpose(1, 2)  # (P, n, n)
        total = gram.pow(2).sum(dim=(1, 2)) / (n - 1) ** 2
    else:
        cov = z.transpose(1, 2) @ z / (n - 1)  # (P, D, D)
        total = cov.pow(2).sum(dim=(1, 2))
    return total - diag.pow(2).sum(dim=1)


def _covariance(x: Tensor, y: Tensor) -> Tensor:
    """Per-pair covariance term ``(P,)``: x and y keep separate statistics, their terms are summed."""
    d = x.shape[-1]
    xc = x - x.mean(dim=1, keepdim=True)  # (P, n, D)
    yc = y - y.mean(dim=1, keepdim=True)
    return (_offdiag_sq_sum(xc) + _offdiag_sq_sum(yc)) / d


def _chunked_covariance(x: Tensor, y: Tensor, pair_chunk: int | None) -> Tensor:
    """``_covariance`` over chunks of ``pair_chunk`` pairs; same value as unchunked.

    Chunks matter only for the (P, D, D) covariance form (L >= D): under autograd each chunk is
    checkpointed, so its intermediates are freed after the forward and recomputed in the backward
    and chunking bounds the peak of the whole step, not only of the forward. When L < D the Gram
    form's (P, L, L) intermediates are already smaller than the inputs, so nothing is chunked.
    """
    num_pairs, n, d = x.shape
    if pair_chunk is None or pair_chunk >= num_pairs or n < d:
        return _covariance(x, y)
    out = []
    grad = torch.is_grad_enabled() and (x.requires_grad or y.requires_grad)
    for start in range(0, num_pairs, pair_chunk):
        xs, ys = x[start : start + pair_chunk], y[start : start + pair_chunk]
        out.append(checkpoint(_covariance, xs, ys, use_reentrant=False) if grad else _covariance(xs, ys))
    return torch.cat(out)


def pair_terms(x: Tensor, y: Tensor, gamma: float = 1.0, eps: float = 1e-4,
               pair_chunk: int | None = None) -> dict[str, Tensor]:
    """The three terms of every pair, each ``(P,)``; inputs fp32 ``(P, L, D)`` with L >= 2."""
    invariance = (x - y).pow(2).mean(dim=(1, 2))
    std_x = torch.sqrt(x.var(dim=1) + eps)  # (P, D), unbiased
    std_y = torch.sqrt(y.var(dim=1) + eps)
    variance = 0.5 * (torch.relu(gamma - std_x).mean(dim=-1) + torch.relu(gamma - std_y).mean(dim=-1))
    return {"invariance": invariance, "variance": variance, "covariance": _chunked_covariance(x, y, pair_chunk)}


def _check_group(x: Tensor, y: Tensor, mode: str) -> None:
    if x.dim() != 3 or x.shape != y.shape:
        raise ValueError(f"matched features must both be (P, L, D) of equal shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    n = x.shape[1] if mode == "pairwise" else x.shape[0] * x.shape[1]
    if n < 2:
        raise ValueError(f"{mode} VICReg needs at least 2 matched tokens per statistic (unbiased variance), got {n}")


def grouped_vicreg_terms(
    groups: Sequence[tuple[Tensor, Tensor]],
    mode: str = "pairwise",
    gamma: float = 1.0,
    eps: float = 1e-4,
    pair_chunk: int | None = None,
) -> dict[str, Tensor]:
    """VICReg terms over groups of pairs with different L, in fp32 with autocast disabled.

    Pairwise: the per-pair terms of all groups are averaged with equal weight per pair.
    Batchwise: the tokens of all groups are pooled (invariance is then a mean over all tokens).
    """
    if mode not in VICREG_MODES:
        raise ValueError(f"vicreg_mode must be one of {VICREG_MODES}, got {mode!r}")
    if not groups:
        raise ValueError("VICReg needs at least one group of matched pairs, got none")
    if pair_chunk is not None and pair_chunk < 1:
        raise ValueError(f"vicreg_pair_chunk must be >= 1 or None, got {pair_chunk}")
    device = groups[0][0].device
    with torch.autocast(device_type=device.type, enabled=False):
        groups = [(x.float(), y.float()) for x, y in groups]
        if mode == "batchwise":
            d = groups[0][0].shape[-1]
            x = torch.cat([g[0].reshape(-1, d) for g in groups]).unsqueeze(0)  # (1, N, D)
            y = torch.cat([g[1].reshape(-1, d) for g in groups]).unsqueeze(0)
            groups = [(x, y)]
        per_pair: dict[str, list[Tensor]] = {name: [] for name in TERMS}
        for x, y in groups:
            _check_group(x, y, "pairwise")
            for name, value in pair_terms(x, y, gamma, eps, pair_chunk).items():
                per_pair[name].append(value)
        return {name: torch.cat(values).mean() for name, values in per_pair.items()}


def vicreg_terms(
    x: Tensor,
    y: Tensor,
    mode: str = "pairwise",
    gamma: float = 1.0,
    eps: float = 1e-4,
    pair_chunk: int | None = None,
) -> dict[str, Tensor]:
    """Invariance, variance and covariance of matched features ``x, y`` of shape ``(P, L, D)``.

    ``mode="pairwise"``: variance/covariance per pair over its L tokens, then the mean over pairs.
    ``mode="batchwise"``: over all P * L tokens at once (the original VICReg).
    ``pair_chunk`` bounds the covariance memory (checkpointed chunks of pairs) when L >= D; the
    value never changes. The covariance uses the smaller of the (D, D) covariance and the (L, L)
    Gram matrix (same Frobenius norm), so its intermediates never exceed the inputs' size.
    Computed in fp32 even under autocast. Returns 0-dim tensors under keys ``invariance``,
    ``variance``, ``covariance`` (unweighted).
    """
    _check_group(x, y, mode)
    return grouped_vicreg_terms([(x, y)], mode=mode, gamma=gamma, eps=eps, pair_chunk=pair_chunk)


def check_weights(weights: Sequence[float]) -> tuple[float, float, float]:
    """Validate (invariance, variance, covariance) weights: three finite numbers >= 0."""
    if len(weights) != 3:
        raise ValueError(f"VICReg weights must be (invariance, variance, covariance), got {tuple(weights)}")
    out = tuple(float(w) for w in weights)
    if any(not w >= 0.0 or w == float("inf") for w in out):
        raise ValueError(f"VICReg weights must be finite and >= 0, got {out}")
    return out  # type: ignore[return-value]


def vicreg_loss(terms: dict[str, Tensor], weights: Sequence[float] = DEFAULT_WEIGHTS) -> Tensor:
    """Weighted total ``w_inv * invariance + w_var * variance + w_cov * covariance`` (default 25/25/1).

    Not clamped (the origin clamped at 1e6, which silently zeroes the gradient).
    """
    w_inv, w_var, w_cov = check_weights(weights)
    return w_inv * terms["invariance"] + w_var * terms["variance"] + w_cov * terms["covariance"]
