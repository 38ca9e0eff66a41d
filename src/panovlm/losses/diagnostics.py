"""Collapse diagnostics of overlap features, for training logs (no gradient).

Shapes: ``x, y`` are ``(P, L, D)`` matched features (``x[p, l]`` and ``y[p, l]`` see one ray), or
lists of such groups with different L, as ``overlap_loss(..., return_matched=True)["matched"]``;
``embedded`` is the VICReg projector's output ``(B, V, S', Dp)`` (:func:`embedding_diagnostics`,
logged by the LightningModule at validation as ``val/feature_std`` and ``val/effective_rank``).

What collapse looks like: ``feature_std`` and ``effective_rank`` fall towards 0 and 1 while
``matched_cosine`` rises to 1 and ``invariance`` to 0 (VICReg issue #14: only invariance should fall).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from panovlm.losses.terms import grouped_vicreg_terms


def effective_rank(z: Tensor, eps: float = 1e-7) -> Tensor:
    """exp of the entropy of the normalised singular values of ``z`` ``(N, D)`` (RankMe, uncentred).

    Uncentred so that features collapsed onto one vector score 1 instead of an undefined 0 / 0.
    """
    s = torch.linalg.svdvals(z.float())
    p = s / (s.sum() + eps) + eps
    return torch.exp(-(p * p.log()).sum())


def feature_std(z: Tensor) -> Tensor:
    """Mean over the feature dimensions of the per-dimension std of ``z`` ``(N, D)``."""
    return z.std(dim=0).mean()


@torch.no_grad()
def embedding_diagnostics(embedded: Tensor, max_tokens: int = 2048) -> dict[str, Tensor]:
    """``feature_std`` and ``effective_rank`` of all the tokens of ``embedded`` ``(..., D)``, detached.

    The rank is taken over every ``N // max_tokens``-th token (N tokens in all), so the SVD stays cheap.
    """
    tokens = embedded.detach().float().reshape(-1, embedded.shape[-1])  # (N, D)
    stride = max(1, tokens.shape[0] // max_tokens)
    return {"feature_std": feature_std(tokens), "effective_rank": effective_rank(tokens[::stride])}


def _groups(x: Tensor | Sequence[Tensor], y: Tensor | Sequence[Tensor]) -> list[tuple[Tensor, Tensor]]:
    xs, ys = ([x], [y]) if isinstance(x, Tensor) else (list(x), list(y))
    if len(xs) != len(ys) or not xs:
        raise ValueError(f"x and y must be tensors or equally long non-empty lists, got {len(xs)} and {len(ys)}")
    return [(a.detach().float(), b.detach().float()) for a, b in zip(xs, ys, strict=True)]


def _subsample(z: Tensor, max_tokens: int) -> Tensor:
    """Evenly strided rows, so the SVD stays cheap on large batches; deterministic."""
    if z.shape[0] <= max_tokens:
        return z
    return z[torch.linspace(0, z.shape[0] - 1, max_tokens, device=z.device).long()]


@torch.no_grad()
def overlap_diagnostics(
    x: Tensor | Sequence[Tensor],
    y: Tensor | Sequence[Tensor],
    vicreg_mode: str = "pairwise",
    max_tokens: int = 4096,
) -> dict[str, Tensor]:
    """Detached 0-dim tensors for logging.

    Keys: ``invariance``, ``variance``, ``covariance`` (unweighted VICReg terms), ``feature_std``
    (mean per-dimension std over all matched tokens, averaged over x and y), ``effective_rank`` (of
    the x and y tokens together, at most ``max_tokens`` rows), ``matched_cosine`` (mean cosine of
    matched token pairs).
    """
    groups = _groups(x, y)
    with torch.autocast(device_type=groups[0][0].device.type, enabled=False):
        terms = grouped_vicreg_terms(groups, mode=vicreg_mode)
        d = groups[0][0].shape[-1]
        xs = torch.cat([a.reshape(-1, d) for a, _ in groups])  # (N, D)
        ys = torch.cat([b.reshape(-1, d) for _, b in groups])
        std = 0.5 * (feature_std(xs) + feature_std(ys))
        cosine = torch.nn.functional.cosine_similarity(xs, ys, dim=-1).mean()
        rank = effective_rank(_subsample(torch.cat([xs, ys]), max_tokens))
    return {**terms, "feature_std": std, "effective_rank": rank, "matched_cosine": cosine}
