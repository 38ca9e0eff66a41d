"""View-similarity metrics of the visualiser: how alike the features of neighbouring views are.

Shapes: one view's tokens ``(N, D)``; a panorama's features ``(V, h, w, D)`` on a token grid laid out
as its :class:`~panovlm.geometry.ViewPlan`; PCA-RGB images ``(H, W, 3)`` float in [0, 1].

Metrics of one pair of views (a, b):

* ``token_cosine``: mean cosine of the tokens at the same grid position (the seed's). Two views that
  look in different directions see different rays at the same position, so this is high only when
  the features ignore where they are (or collapsed).
* ``token_cosine_ray``: mean cosine of the tokens of A against B's features at the same rays
  (bilinear on B's grid), from the plan's correspondences (``panovlm.losses.matching.ray_match``,
  the overlap loss's own matching). This is what the overlap loss asks for.
* ``hungarian_cosine``: mean cosine after the optimal one-to-one matching of A's tokens to B's
  (``scipy.optimize.linear_sum_assignment``); >= ``token_cosine`` because the identity is one of
  the matchings.
* ``linear_cka`` (position-wise) and ``linear_cka_ray`` (ray-matched tokens): linear CKA
  (Kornblith et al. 2019), invariant to orthogonal transforms and isotropic scaling.
* ``ssim``: SSIM of the two views' PCA-RGB images (scikit-image), position-wise like the seed.
* ``lpips``: LPIPS of the PCA-RGB images, only where the ``lpips`` package and its backbone weights are
  there (:func:`lpips_status`); never a made-up value.
"""

from __future__ import annotations

import logging
import math
import urllib.error
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from panovlm.geometry import ViewPlan
from panovlm.losses.matching import matched_pairs, plan_pairs, ray_match

logger = logging.getLogger(__name__)

METRICS: tuple[str, ...] = (
    "token_cosine", "token_cosine_ray", "hungarian_cosine", "linear_cka", "linear_cka_ray", "ssim", "lpips",
)
METRIC_TEXT: dict[str, str] = {
    "token_cosine": "token cosine, position-wise (the seed's: same grid position in both views)",
    "token_cosine_ray": "token cosine, ray-matched (tokens that see the same rays; what the overlap loss asks for)",
    "hungarian_cosine": "Hungarian cosine (optimal one-to-one token matching)",
    "linear_cka": "linear CKA, position-wise",
    "linear_cka_ray": "linear CKA, ray-matched tokens",
    "ssim": "SSIM of the PCA-RGB images",
    "lpips": "LPIPS of the PCA-RGB images",
}


def _rows(x: Tensor) -> Tensor:
    if x.ndim != 2:
        raise ValueError(f"tokens must be (N, D), got shape {tuple(x.shape)}")
    return x.detach().to(torch.float64)


def position_cosine(x: Tensor, y: Tensor) -> float:
    """Mean cosine of row i of ``x`` and row i of ``y``, both ``(N, D)``."""
    x, y = _rows(x), _rows(y)
    if x.shape != y.shape:
        raise ValueError(f"position-wise cosine needs equal shapes, got {tuple(x.shape)} and {tuple(y.shape)}")
    return float(torch.nn.functional.cosine_similarity(x, y, dim=-1).mean())


def hungarian_cosine(x: Tensor, y: Tensor) -> float:
    """Mean cosine after the optimal one-to-one matching of the rows of ``x`` ``(N, D)`` to those of ``y`` ``(M, D)``."""
    try:
        from scipy.optimize import linear_sum_assignment
    except ImportError as err:
        raise ImportError("the Hungarian matching needs scipy: pip install 'panovlm[eval]'") from err
    x, y = _rows(x), _rows(y)
    sim = torch.nn.functional.normalize(x, dim=-1) @ torch.nn.functional.normalize(y, dim=-1).T  # (N, M)
    rows, cols = linear_sum_assignment(sim.numpy(), maximize=True)
    return float(sim[rows, cols].mean())


def linear_cka(x: Tensor, y: Tensor) -> float:
    """Linear CKA of ``x`` ``(N, D1)`` and ``y`` ``(N, D2)`` (rows are the same N samples).

    ``||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)`` with column-centred Xc, Yc; NaN when either
    side has no variance (a collapsed view has no structure to compare).
    """
    x, y = _rows(x), _rows(y)
    if x.shape[0] != y.shape[0] or x.shape[0] < 2:
        raise ValueError(f"linear CKA needs the same N >= 2 rows on both sides, got {x.shape[0]} and {y.shape[0]}")
    x = x - x.mean(dim=0, keepdim=True)
    y = y - y.mean(dim=0, keepdim=True)
    # The N x N Gram form costs O(N^2 D) instead of O(N D^2): N (tokens of a view) is the smaller side.
    kx, ky = x @ x.T, y @ y.T  # (N, N)
    denom = torch.linalg.norm(kx) * torch.linalg.norm(ky)
    if float(denom) <= 1e-24:
        return math.nan
    return float((kx * ky).sum() / denom)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two RGB images ``(H, W, 3)`` in [0, 1] (scikit-image; window shrunk for small images)."""
    try:
        from skimage.metrics import structural_similarity
    except ImportError as err:
        raise ImportError("SSIM needs scikit-image: pip install 'panovlm[eval]'") from err
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(f"SSIM needs two (H, W, 3) images of one shape, got {a.shape} and {b.shape}")
    side = min(a.shape[0], a.shape[1])
    win = min(7, side if side % 2 else side - 1)
    if win < 3:
        raise ValueError(f"SSIM needs images of at least 3x3 pixels, got {a.shape[:2]}")
    return float(structural_similarity(a, b, channel_axis=-1, data_range=1.0, win_size=win))


@dataclass(frozen=True)
class LpipsStatus:
    """Whether LPIPS can run here; ``reason`` says why not."""

    available: bool
    reason: str = ""
    scorer: Callable[[np.ndarray, np.ndarray], float] | None = field(default=None, repr=False)


def lpips_status() -> LpipsStatus:
    """Build the LPIPS scorer if the ``lpips`` package and its backbone weights are present (no download)."""
    try:
        import lpips
    except ImportError:
        return LpipsStatus(False, "not computed: the lpips package is not installed (pip install lpips)")
    try:
        net = lpips.LPIPS(net="alex", verbose=False)
    except (OSError, RuntimeError, urllib.error.URLError) as err:
        return LpipsStatus(False, f"not computed: the LPIPS backbone weights cannot be loaded here ({err})")
    net.eval()

    def score(a: np.ndarray, b: np.ndarray) -> float:
        # lpips takes (1, 3, H, W) in [-1, 1]
        ta, tb = (torch.from_numpy(np.ascontiguousarray(i.transpose(2, 0, 1)))[None].float() * 2 - 1 for i in (a, b))
        with torch.no_grad():
            return float(net(ta, tb))

    return LpipsStatus(True, "", score)


@dataclass
class PairScores:
    """The metrics of one neighbouring pair (view indices ``a``, ``b``); a metric is None where it cannot run."""

    a: int
    b: int
    values: dict[str, float | None]
    ray_tokens: int = 0  # tokens matched by ray

    def to_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "ray_tokens": self.ray_tokens, **self.values}


def neighbour_pairs(plan: ViewPlan) -> tuple[tuple[int, int], ...]:
    """Overlapping neighbours of the plan's tiles (the overlap loss's ``adjacent`` pairing)."""
    if len(plan.tile_indices) < 2:
        return ()
    return plan_pairs(plan, "adjacent", False)


def pair_similarity(
    features: Tensor,
    plan: ViewPlan,
    pairs: Sequence[tuple[int, int]],
    images: np.ndarray | None = None,
    lpips: LpipsStatus | None = None,
) -> list[PairScores]:
    """Metrics of every pair of views of ``features`` ``(V, h, w, D)`` (token grid) or ``(V, S', D)`` (queries).

    ``images``: the views' PCA-RGB images ``(V, H, W, 3)`` for SSIM / LPIPS. Ray-matched metrics need
    a grid; a pair that shares fewer than 2 token rays on it gets None there.
    """
    grid = features.ndim == 4
    if features.shape[0] != len(plan):
        raise ValueError(f"features hold {features.shape[0]} views, the plan has {len(plan)}")
    flat = features.reshape(features.shape[0], -1, features.shape[-1])  # (V, S, D)
    out = []
    for a, b in pairs:
        values: dict[str, float | None] = {
            "token_cosine": position_cosine(flat[a], flat[b]),
            "hungarian_cosine": hungarian_cosine(flat[a], flat[b]),
            "linear_cka": linear_cka(flat[a], flat[b]),
            "token_cosine_ray": None, "linear_cka_ray": None, "ssim": None, "lpips": None,
        }
        matched = 0
        if grid:
            oriented = matched_pairs(plan, (features.shape[1], features.shape[2]), ((a, b),))
            if oriented:
                x, y = ray_match(features[None], plan, oriented)[0]  # each (1, L, D)
                matched = int(x.shape[1])
                values["token_cosine_ray"] = position_cosine(x[0], y[0])
                values["linear_cka_ray"] = linear_cka(x[0], y[0])
        if images is not None:
            values["ssim"] = ssim(images[a], images[b])
            if lpips is not None and lpips.available and lpips.scorer is not None:
                values["lpips"] = lpips.scorer(images[a], images[b])
        out.append(PairScores(a, b, values, matched))
    return out


def summarise(scores: Sequence[PairScores]) -> dict[str, dict[str, float] | None]:
    """Per metric: mean, std (population, as the seed's "mean ± std") and count over the pairs that have it."""
    summary: dict[str, dict[str, float] | None] = {}
    for name in METRICS:
        vals = np.array([s.values[name] for s in scores if s.values.get(name) is not None], dtype=np.float64)
        vals = vals[np.isfinite(vals)]
        summary[name] = None if vals.size == 0 else {"mean": float(vals.mean()), "std": float(vals.std()),
                                                     "count": int(vals.size)}
    return summary
