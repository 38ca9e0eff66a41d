"""DINO-style PCA colouring of tokens: one basis for all views, background removal, RGB in [0, 1].

Shapes: tokens ``(N, D)`` (all views of a panorama, or of several checkpoints, stacked), scores
``(N, k)``, colours ``(N, 3)``.

One basis is fitted on the tokens of all views together (DINO's practice), so a colour means the
same feature direction in every view. ``fit_shared_bases`` fits one set of directions for several
models (``--compare``): each model's tokens are first centred on that model's own mean, so the
components describe how tokens differ within a model (not the offset between two models, which
would otherwise take the first component and paint each model in one flat colour). Background removal (``bg_removal``):

* ``threshold`` (default): DINOv2's foreground mask. The first principal component separates
  background from objects in DINO features; its scores are min-max scaled to [0, 1] with the sign
  chosen so that the larger side (the background, in most scenes) scores low, and tokens below
  ``bg_threshold`` are background. The colours are then a PCA refitted on the foreground tokens;
  background tokens are black.
* ``remove_first_pc``: fit k + 1 components and colour with components 2 .. k + 1 (the first often
  encodes only background vs. foreground, or a global brightness).
* ``outlier_removal``: tokens whose distance from the mean token has a robust z-score above
  ``outlier_z`` (median / MAD) are left out of the fit and the colour scale and drawn black
  (high-norm "artifact" tokens of large ViTs would otherwise take a whole component).
* ``none``: plain PCA of all tokens.

Colours: each component's scores are scaled by their 1st / 99th percentiles over the kept tokens
(clipped), so a few extreme tokens do not wash out the rest. Components get a fixed sign (largest
loading positive), so the same features give the same colours run after run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor

logger = logging.getLogger(__name__)

BG_REMOVAL: tuple[str, ...] = ("threshold", "remove_first_pc", "outlier_removal", "none")
DEFAULT_BG_THRESHOLD = 0.5
DEFAULT_OUTLIER_Z = 3.5
_LOW_Q, _HIGH_Q = 0.01, 0.99


@dataclass(frozen=True)
class PCABasis:
    """A fitted colouring: ``colours(tokens)`` maps ``(N, D)`` tokens to ``(N, 3)`` RGB in [0, 1]."""

    mean: Tensor  # (D,)
    components: Tensor  # (k, D) the colour components, unit rows
    low: Tensor  # (k,) score mapped to 0
    high: Tensor  # (k,) score mapped to 1
    method: str
    mask_mean: Tensor | None = None  # (D,) threshold: the first-component fit that decides foreground
    mask_axis: Tensor | None = None  # (D,)
    mask_range: tuple[float, float] = (0.0, 1.0)
    threshold: float = DEFAULT_BG_THRESHOLD
    outlier_center: Tensor | None = None  # (D,) outlier_removal: tokens farther than outlier_cut from it are dropped
    outlier_cut: float | None = None
    explained: tuple[float, ...] = ()  # variance fraction of each colour component (in its fit)

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])

    def keep_mask(self, tokens: Tensor) -> Tensor:
        """``(N,)`` bool: tokens that get a colour (False: background / outlier, drawn black)."""
        tokens = _check(tokens, self.dim)
        if self.mask_axis is not None and self.mask_mean is not None:
            lo, hi = self.mask_range
            score = ((tokens - self.mask_mean) @ self.mask_axis - lo) / max(hi - lo, 1e-12)
            return score >= self.threshold
        if self.outlier_center is not None and self.outlier_cut is not None:
            return torch.linalg.norm(tokens - self.outlier_center, dim=-1) <= self.outlier_cut
        return torch.ones(tokens.shape[0], dtype=torch.bool)

    def colours(self, tokens: Tensor) -> Tensor:
        """``(N, D)`` -> ``(N, 3)`` float RGB in [0, 1] (1 component: grey; 2: red and green); removed tokens black."""
        tokens = _check(tokens, self.dim)
        scores = (tokens - self.mean) @ self.components.T  # (N, k)
        unit = ((scores - self.low) / (self.high - self.low).clamp_min(1e-12)).clamp(0.0, 1.0)
        if unit.shape[1] == 1:  # one component: grey levels
            rgb = unit.repeat(1, 3)
        else:
            rgb = torch.zeros(tokens.shape[0], 3, dtype=unit.dtype)
            rgb[:, : unit.shape[1]] = unit
        rgb[~self.keep_mask(tokens)] = 0.0
        return rgb


def _check(tokens: Tensor, dim: int | None = None) -> Tensor:
    if tokens.ndim != 2:
        raise ValueError(f"tokens must be (N, D), got shape {tuple(tokens.shape)}")
    if dim is not None and tokens.shape[1] != dim:
        raise ValueError(f"tokens have width {tokens.shape[1]}, the PCA basis was fitted on width {dim}")
    return tokens.detach().to("cpu", torch.float64)


def _principal(tokens: Tensor, k: int) -> tuple[Tensor, Tensor, tuple[float, ...]]:
    """(mean (D,), components (k, D) with sign fixed, explained variance fractions) of ``tokens`` (N, D)."""
    mean = tokens.mean(dim=0)
    centred = tokens - mean
    n, d = centred.shape
    # Eigen-decomposition of the smaller of the covariance / Gram matrices instead of a full SVD of
    # (N, D): same components, 0.25 s instead of 0.67 s for SigLIP-base (N = 1764, D = 768, 1 thread).
    if d <= n:
        var, vecs = torch.linalg.eigh(centred.T @ centred)  # (D,), (D, D) ascending
        var, vh = var.flip(0).clamp_min(0), vecs.flip(1).T  # vh: (D, D) rows = components
    else:
        var, vecs = torch.linalg.eigh(centred @ centred.T)  # (N,), (N, N)
        var, u = var.flip(0).clamp_min(0), vecs.flip(1)
        vh = torch.nn.functional.normalize((centred.T @ u).T, dim=1)  # (N, D)
    k = min(k, vh.shape[0])
    comps = vh[:k].clone()
    # svd_flip: the largest-magnitude loading of each component is positive (deterministic colours).
    signs = torch.sign(comps.gather(1, comps.abs().argmax(dim=1, keepdim=True))).squeeze(1)
    comps *= torch.where(signs == 0, torch.ones_like(signs), signs)[:, None]
    explained = tuple(float(v) for v in (var[:k] / var.sum().clamp_min(1e-24)))
    return mean, comps, explained


def _scale(scores: Tensor) -> tuple[Tensor, Tensor]:
    return torch.quantile(scores, _LOW_Q, dim=0), torch.quantile(scores, _HIGH_Q, dim=0)


def fit_basis(
    token_sets: Sequence[Tensor],
    n_components: int = 3,
    bg_removal: str = "threshold",
    bg_threshold: float = DEFAULT_BG_THRESHOLD,
    outlier_z: float = DEFAULT_OUTLIER_Z,
) -> PCABasis:
    """Fit one colouring on all ``token_sets`` (each ``(N_i, D)``, one width D) together."""
    if bg_removal not in BG_REMOVAL:
        raise ValueError(f"bg_removal must be one of {list(BG_REMOVAL)}, got {bg_removal!r}")
    if not 1 <= n_components <= 3:
        raise ValueError(f"n_components must be 1, 2 or 3 (the RGB channels), got {n_components}")
    if not 0.0 < bg_threshold < 1.0:
        raise ValueError(f"bg_threshold must be in (0, 1), got {bg_threshold}")
    widths = {int(t.shape[-1]) for t in token_sets}
    if len(widths) != 1:
        raise ValueError(f"one PCA basis needs tokens of one width, got widths {sorted(widths)} (different "
                         "architectures cannot share a basis)")
    tokens = torch.cat([_check(t) for t in token_sets])  # (N, D)
    if tokens.shape[0] < n_components + 2:
        raise ValueError(f"PCA needs more tokens than components: got {tokens.shape[0]} for {n_components}")
    if bg_removal == "remove_first_pc":
        mean, comps, explained = _principal(tokens, n_components + 1)
        comps, explained = comps[1:], explained[1:]
        low, high = _scale((tokens - mean) @ comps.T)
        return PCABasis(mean, comps, low, high, bg_removal, explained=explained)
    if bg_removal == "outlier_removal":
        center = tokens.mean(dim=0)
        dist = torch.linalg.norm(tokens - center, dim=-1)  # (N,)
        median = dist.median()
        mad = (dist - median).abs().median().clamp_min(1e-12)
        cut = float(median + outlier_z * 1.4826 * mad)  # 1.4826 * MAD estimates the std of a normal
        kept = tokens[dist <= cut]
        mean, comps, explained = _principal(kept, n_components)
        low, high = _scale((kept - mean) @ comps.T)
        return PCABasis(mean, comps, low, high, bg_removal, outlier_center=center, outlier_cut=cut,
                        explained=explained)
    if bg_removal == "threshold":
        mean1, first, _ = _principal(tokens, 1)
        score = (tokens - mean1) @ first[0]  # (N,)
        axis = first[0]
        if float(score.median()) > 0:
            # Most tokens score high: flip so that the larger side (the background) is the low end.
            axis, score = -axis, -score
        lo, hi = float(score.min()), float(score.max())
        keep = (score - lo) / max(hi - lo, 1e-12) >= bg_threshold
        if int(keep.sum()) < n_components + 2:  # no separable foreground: colour everything, and say so
            logger.warning("threshold background removal found no foreground (%d tokens kept); no tokens removed",
                           int(keep.sum()))
            keep = torch.ones_like(keep)
            lo, hi, axis = float("-inf"), float("inf"), None
        fg = tokens[keep]
        mean, comps, explained = _principal(fg, n_components)
        low, high = _scale((fg - mean) @ comps.T)
        if axis is None:
            return PCABasis(mean, comps, low, high, "none", explained=explained)
        return PCABasis(mean, comps, low, high, bg_removal, mask_mean=mean1, mask_axis=axis, mask_range=(lo, hi),
                        threshold=bg_threshold, explained=explained)
    mean, comps, explained = _principal(tokens, n_components)
    low, high = _scale((tokens - mean) @ comps.T)
    return PCABasis(mean, comps, low, high, bg_removal, explained=explained)


def fit_shared_bases(groups: Sequence[Sequence[Tensor]], n_components: int = 3, bg_removal: str = "threshold",
                     bg_threshold: float = DEFAULT_BG_THRESHOLD, outlier_z: float = DEFAULT_OUTLIER_Z) -> list[PCABasis]:
    """One basis per group (a model's token sets), all with the same components and colour scale.

    Each group is centred on its own mean before the joint fit; its basis is the joint one moved back
    to that mean. With one group this is ``fit_basis``.
    """
    if not groups:
        raise ValueError("fit_shared_bases needs at least one group of token sets")
    means, centred = [], []
    for sets in groups:
        tokens = torch.cat([_check(t) for t in sets])  # (N_g, D)
        means.append(tokens.mean(dim=0))
        centred.append(tokens - means[-1])
    joint = fit_basis(centred, n_components, bg_removal, bg_threshold, outlier_z)
    out = []
    for mean in means:
        out.append(replace(
            joint, mean=joint.mean + mean,
            mask_mean=None if joint.mask_mean is None else joint.mask_mean + mean,
            outlier_center=None if joint.outlier_center is None else joint.outlier_center + mean))
    return out
