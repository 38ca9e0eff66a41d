"""Ray positional encoding: every vision token is encoded by the direction it looks at.

Shapes: ``V`` views of a :class:`~panovlm.geometry.ViewPlan`, a token grid ``(gh, gw)`` with
``S' = gh * gw`` tokens per view (row-major), ``F`` frequencies, ``D`` the encoding width.
``forward(plan, grid_hw) -> (V, S', D)``, added to the resampled tokens ``(B, V, S', D)``.

The ray of a token is the unit world vector through its cell centre (``geometry.token_centers``
and ``geometry.view_pixel_to_ray``), so two tokens of different views that see the same point of
the sphere get the same features, across the +-180 degree seam too. Features are
``sin / cos(xyz * 2^k * pi)`` for ``k < F`` (6F numbers) followed by a learned Linear to ``D``.

* The Linear starts at zero (``init="zero"``), so a fresh encoding adds nothing and cannot disturb a
  trained model; ``init="random"`` starts it at PyTorch's default init, so that a model trained from
  scratch sees directions from its first step (a zero Linear feeding a zero-init use of it is a
  saddle that the tiny preset's LM is slow to leave).
* The global view (``kind == "global"``) is an equirect view whose tokens see real rays; it gets
  those rays plus a learned "global" embedding that tells it apart from a tile looking the same way.
* Tokens that see nothing (letterbox bands of a letterboxed global view) get zero ray features.
* Query resamplers (``grid_hw=None``) have no token positions: each view gets the ray of its
  optical axis, shared by all its tokens; the global view, which has no single direction, gets
  zero ray features and only the global embedding.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn

from panovlm.geometry import ViewPlan, token_centers, view_pixel_to_ray

PE_INITS: tuple[str, ...] = ("zero", "random")


def fourier_features(rays: np.ndarray, num_frequencies: int) -> np.ndarray:
    """Unit rays ``(..., 3)`` -> ``(..., 6F)``: [sin(xyz * 2^k * pi) for k], then the cosines.

    Non-finite rays (tokens that see nothing) give zeros.
    """
    finite = np.isfinite(rays).all(axis=-1, keepdims=True)  # (..., 1)
    scales = np.pi * 2.0 ** np.arange(num_frequencies)  # (F,)
    angles = (np.nan_to_num(rays)[..., :, None] * scales).reshape(*rays.shape[:-1], -1)  # (..., 3F)
    features = np.concatenate([np.sin(angles), np.cos(angles)], axis=-1)  # (..., 6F)
    return np.where(finite, features, 0.0)


@functools.lru_cache(maxsize=64)
def ray_features(plan: ViewPlan, grid_hw: tuple[int, int] | None, num_frequencies: int) -> np.ndarray:
    """Fourier features of every token of every view: ``(V, gh*gw, 6F)`` float32, or ``(V, 1, 6F)`` for no grid."""
    rays = []
    for view in plan.views:
        if grid_hw is None:
            axis = np.full(3, np.nan) if view.kind == "global" else np.asarray(view.center_xyz)
            rays.append(axis[None])  # (1, 3)
        else:
            cols, rows = token_centers(view, grid_hw)  # (gh, gw) each
            rays.append(view_pixel_to_ray(view, cols, rows).reshape(-1, 3))  # (gh*gw, 3)
    features = fourier_features(np.stack(rays), num_frequencies).astype(np.float32)  # (V, S', 6F)
    features.setflags(write=False)
    return features


class RayPositionalEncoding(nn.Module):
    """Learned projection of token-ray Fourier features (see the module docstring).

    Args:
        dim: encoding width (the width of the tokens it is added to).
        num_frequencies: octaves ``F`` of the Fourier features.
        global_embedding: add a learned embedding to the global view's tokens.
    """

    def __init__(self, dim: int, num_frequencies: int = 8, global_embedding: bool = True, init: str = "zero") -> None:
        super().__init__()
        for name, value in (("dim", dim), ("num_frequencies", num_frequencies)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if init not in PE_INITS:
            raise ValueError(f"pe_init must be one of {list(PE_INITS)}, got {init!r}")
        self.dim, self.num_frequencies = dim, num_frequencies
        self.proj = nn.Linear(6 * num_frequencies, dim)
        if init == "zero":
            nn.init.zeros_(self.proj.weight)
            nn.init.zeros_(self.proj.bias)
        self.global_embedding = nn.Parameter(torch.zeros(dim)) if global_embedding else None

    def forward(self, plan: ViewPlan, grid_hw: tuple[int, int] | None, device: torch.device | str | None = None,
                dtype: torch.dtype | None = None, num_tokens: int | None = None) -> torch.Tensor:
        """Encoding ``(V, gh*gw, D)``; with ``grid_hw=None`` ``(V, 1, D)``, or ``(V, num_tokens, D)`` if given."""
        if grid_hw is not None:
            grid_hw = (int(grid_hw[0]), int(grid_hw[1]))
            if num_tokens is not None and num_tokens != grid_hw[0] * grid_hw[1]:
                raise ValueError(f"num_tokens={num_tokens} does not match grid_hw {grid_hw}")
        weight = self.proj.weight
        features = torch.tensor(ray_features(plan, grid_hw, self.num_frequencies))  # (V, S', 6F), a copy
        encoding = self.proj(features.to(device=weight.device, dtype=weight.dtype))  # (V, S', D)
        if self.global_embedding is not None:
            is_global = torch.tensor([v.kind == "global" for v in plan.views], device=weight.device)  # (V,)
            encoding = encoding + is_global[:, None, None].to(weight.dtype) * self.global_embedding
        if grid_hw is None and num_tokens is not None:
            encoding = encoding.expand(-1, num_tokens, -1)  # (V, num_tokens, D)
        return encoding.to(device=device or weight.device, dtype=dtype or weight.dtype)
