"""Render the views of a :class:`~panovlm.geometry.ViewPlan` from an ERP panorama.

Shapes: ERP ``(H, W, 3)`` uint8 (CPU) or ``(B, 3, H, W)`` float (torch); ``V`` views of
``S_h x S_w`` pixels (every view of a plan has the same size); CPU output ``(V, S_h, S_w, 3)``
uint8, torch output ``(B, V, 3, S_h, S_w)``.

How a render works:

1. **Prefilter (anti-aliasing).** A 224-pixel view of a 2048-pixel ERP skips pixels; sampling it
   bilinearly aliases. Each view needs the ERP at about its own angular resolution: a view that
   spans ``hfov`` degrees over ``S_w`` pixels reads an ERP ``360 / hfov * S_w`` pixels wide
   (times ``prefilter_scale``). The ERP is area-averaged (``cv2.INTER_AREA``) to that size, never
   enlarged. Views that need the same size form one *level* (e.g. AnyRes-E2P: the 360-degree
   global view and the 90-degree tiles are two levels). ``benchmarks/projection.py`` measures
   the error against a supersampled reference for this, for no prefilter and for the origin's
   render-at-672-then-resize.
2. **Wrap padding.** The (prefiltered) ERP gets a 1-pixel border: left/right columns wrap around
   the seam, the rows above/below the poles are the first/last row rolled by half the width
   (the pixel across the pole), as in py360convert.
3. **One remap per level**, over the views of that level stacked vertically, straight into the
   output array (no per-view loop, no copy). Maps come from :func:`panovlm.geometry.sampling_map`
   and are converted once to fixed-point ``CV_16SC2`` maps and cached per ERP size.

Pixels whose ray sees nothing (the letterbox bands of a letterboxed global view) are 0: that is
geometry, not a substitute image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import cv2
import numpy as np

from panovlm.geometry import View, ViewPlan, sampling_map

if TYPE_CHECKING:  # torch is imported where used: the CPU path needs only cv2
    import torch

PREFILTER_SCALE = 1.0
"""ERP size per view = ``prefilter_scale * 360 / hfov * width`` (chosen by benchmarks/projection.py)."""


@dataclass(frozen=True)
class _Level:
    """Consecutive views ``start:stop`` rendered from the ERP resized to ``size`` (W, H)."""

    start: int
    stop: int
    size: tuple[int, int]
    map1: np.ndarray  # (n*S_h, S_w, 2) int16, or float32 maps when fixed_point is off
    map2: np.ndarray | None  # (n*S_h, S_w) uint16 interpolation table index
    grid: np.ndarray  # (n*S_h, S_w, 2) float32 coordinates in the padded level image


def prefilter_size(view: View, erp_size: tuple[int, int], scale: float = PREFILTER_SCALE) -> tuple[int, int]:
    """ERP size (W, H) to sample ``view`` from: the ERP reduced by the largest power-of-two factor per
    axis that keeps at least ``scale`` ERP pixels per view pixel (at the view's mean angular
    resolution). Power-of-two factors keep the area filter on OpenCV's fast integer path."""
    erp_w, erp_h = erp_size
    band = view.height * (1.0 - view.letterbox)
    need_w = scale * 360.0 / view.hfov_deg * view.width
    need_h = scale * 180.0 / view.vfov_deg * band
    fx = 2 ** max(0, math.floor(math.log2(erp_w / need_w))) if need_w < erp_w else 1
    fy = 2 ** max(0, math.floor(math.log2(erp_h / need_h))) if need_h < erp_h else 1
    return max(2, round(erp_w / fx)), max(2, round(erp_h / fy))


def _area_pyramid(erp: np.ndarray, sizes: list[tuple[int, int]]) -> dict[tuple[int, int], np.ndarray]:
    """Area-reduce ``erp`` to every size, each from the smallest image already made that it divides."""
    h, w = erp.shape[:2]
    images = {(w, h): erp}
    for size in sorted(set(sizes), key=lambda s: -s[0] * s[1]):
        if size in images:
            continue
        sources = [s for s in images if s[0] % size[0] == 0 and s[1] % size[1] == 0] or [(w, h)]
        src = min(sources, key=lambda s: s[0] * s[1])
        images[size] = cv2.resize(images[src], size, interpolation=cv2.INTER_AREA)
    return images


def wrap_pad(erp: np.ndarray) -> np.ndarray:
    """``(H, W, C)`` -> ``(H + 2, W + 2, C)``: seam columns wrap, pole rows cross the pole."""
    h, w = erp.shape[:2]
    out = np.empty((h + 2, w + 2) + erp.shape[2:], dtype=erp.dtype)
    out[1:-1, 1:-1] = erp
    out[0, 1:-1] = np.roll(erp[0], w // 2, axis=0)
    out[-1, 1:-1] = np.roll(erp[-1], w // 2, axis=0)
    out[:, 0] = out[:, -2]
    out[:, -1] = out[:, 1]
    return out


class Projector:
    """Renders every view of ``plan``; maps are cached per ERP size.

    Args:
        plan: the views to render; all must have the same width and height.
        antialias: area-prefilter the ERP to each view's angular resolution (recommended).
        prefilter_scale: oversampling of the prefilter size (1.0 = one ERP pixel per view pixel).
        fixed_point: use ``CV_16SC2`` maps (faster; 1/32-pixel positions, as py360convert).
        supersample: render at ``k`` times the view size, then area-average ``k x k`` blocks (CPU path;
            k = 2 halves the aliasing error for about 3x the render time, see benchmarks/projection.py).
    """

    def __init__(self, plan: ViewPlan, *, antialias: bool = True, prefilter_scale: float = PREFILTER_SCALE,
                 fixed_point: bool = True, supersample: int = 1) -> None:
        sizes = {(v.height, v.width) for v in plan.views}
        if len(sizes) != 1:
            raise ValueError(f"Projector needs views of one size, plan has {sorted(sizes)}")
        if not prefilter_scale > 0:
            raise ValueError(f"prefilter_scale must be > 0, got {prefilter_scale}")
        if not (isinstance(supersample, int) and supersample >= 1):
            raise ValueError(f"supersample must be an int >= 1, got {supersample!r}")
        self.plan = plan
        self.supersample = supersample
        self._render_plan = plan if supersample == 1 else ViewPlan(views=tuple(
            replace(v, width=v.width * supersample, height=v.height * supersample) for v in plan.views))
        self.antialias = antialias
        self.prefilter_scale = float(prefilter_scale)
        self.fixed_point = fixed_point
        self.view_hw: tuple[int, int] = sizes.pop()
        self._render_hw = (self.view_hw[0] * supersample, self.view_hw[1] * supersample)
        self._levels: dict[tuple[int, int], tuple[_Level, ...]] = {}
        self._grids: dict[tuple, list] = {}

    @property
    def num_views(self) -> int:
        return len(self.plan)

    def levels(self, erp_width: int, erp_height: int) -> tuple[_Level, ...]:
        """The cached render levels for an ERP of this size."""
        key = (erp_width, erp_height)
        if key not in self._levels:
            self._levels[key] = self._build_levels(erp_width, erp_height)
        return self._levels[key]

    def _build_levels(self, erp_w: int, erp_h: int) -> tuple[_Level, ...]:
        views = self._render_plan.views
        sizes = [prefilter_size(v, (erp_w, erp_h), self.prefilter_scale) if self.antialias else (erp_w, erp_h)
                 for v in views]
        levels, start = [], 0
        for i in range(1, len(views) + 1):
            if i == len(views) or sizes[i] != sizes[start]:
                levels.append(self._make_level(start, i, sizes[start]))
                start = i
        return tuple(levels)

    def _make_level(self, start: int, stop: int, size: tuple[int, int]) -> _Level:
        s_h, s_w = self._render_hw
        n = stop - start
        sub = ViewPlan(views=self._render_plan.views[start:stop])
        side = sampling_map(sub, size[0], size[1])  # (S_h, n*S_w, 2)
        # Stack the views vertically so each view's output rows are contiguous: (n*S_h, S_w, 2).
        grid = side.reshape(s_h, n, s_w, 2).transpose(1, 0, 2, 3).reshape(n * s_h, s_w, 2) + 1.0  # +1: wrap pad
        grid = np.ascontiguousarray(grid, dtype=np.float32)
        if self.fixed_point:
            map1, map2 = cv2.convertMaps(grid, None, cv2.CV_16SC2)
        else:
            map1, map2 = grid, None
        return _Level(start, stop, size, map1, map2, grid)

    def render(self, erp: np.ndarray) -> np.ndarray:
        """ERP ``(H, W, 3)`` uint8 -> views ``(V, S_h, S_w, 3)`` uint8."""
        if erp.ndim != 3 or erp.shape[2] != 3 or erp.dtype != np.uint8:
            raise ValueError(f"erp must be an (H, W, 3) uint8 array, got {erp.dtype} {erp.shape}")
        h, w = erp.shape[:2]
        s_h, s_w = self._render_hw
        out = np.empty((self.num_views * s_h, s_w, 3), dtype=np.uint8)  # (V*k*S_h, k*S_w, 3)
        levels = self.levels(w, h)
        images = _area_pyramid(erp, [level.size for level in levels])
        for level in levels:
            src = images[level.size]
            dst = out[level.start * s_h: level.stop * s_h]
            cv2.remap(wrap_pad(src), level.map1, level.map2, cv2.INTER_LINEAR, dst=dst,
                      borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        if self.supersample > 1:
            # Views are stacked vertically, so k x k blocks never straddle two views.
            out = cv2.resize(out, (self.view_hw[1], self.num_views * self.view_hw[0]), interpolation=cv2.INTER_AREA)
        return out.reshape(self.num_views, *self.view_hw, 3)  # (V, S_h, S_w, 3)

    render_cv2 = render

    def render_torch(self, erp: torch.Tensor) -> torch.Tensor:
        """ERP batch ``(B, 3, H, W)`` float on any device -> views ``(B, V, 3, S_h, S_w)``.

        One ``grid_sample`` per level with a grid cached per (device, dtype, ERP size); the
        prefilter is ``F.interpolate(mode="area")``.
        """
        import torch
        import torch.nn.functional as F

        if erp.ndim != 4 or erp.shape[1] != 3 or not erp.is_floating_point():
            raise ValueError(f"erp must be a (B, 3, H, W) float tensor, got {erp.dtype} {tuple(erp.shape)}")
        b, _, h, w = erp.shape
        s_h, s_w = self._render_hw
        outs = []
        for level, grid in zip(self.levels(w, h), self._torch_grids(w, h, erp.device, erp.dtype), strict=True):
            src = erp if level.size == (w, h) else F.interpolate(erp, size=level.size[::-1], mode="area")
            out = F.grid_sample(_wrap_pad_torch(src), grid.expand(b, -1, -1, -1), mode="bilinear",
                                padding_mode="zeros", align_corners=False)  # (B, 3, n*S_h, S_w)
            n = level.stop - level.start
            outs.append(out.view(b, 3, n, s_h, s_w).transpose(1, 2))  # (B, n, 3, S_h, S_w)
        views = torch.cat(outs, dim=1)  # (B, V, 3, k*S_h, k*S_w)
        if self.supersample > 1:
            pooled = F.avg_pool2d(views.flatten(0, 1), self.supersample)  # (B*V, 3, S_h, S_w)
            views = pooled.view(b, self.num_views, 3, *self.view_hw)
        return views.contiguous()  # (B, V, 3, S_h, S_w)

    def _torch_grids(self, erp_w: int, erp_h: int, device, dtype) -> list:
        import torch

        key = (erp_w, erp_h, str(device), dtype)
        if key not in self._grids:
            grids = []
            for level in self.levels(erp_w, erp_h):
                pw, ph = level.size[0] + 2, level.size[1] + 2
                norm = (2.0 * level.grid + 1.0) / np.array([pw, ph], dtype=np.float32) - 1.0  # align_corners=False
                grids.append(torch.from_numpy(norm).to(device=device, dtype=dtype)[None])  # (1, n*S_h, S_w, 2)
            self._grids[key] = grids
        return self._grids[key]


def _wrap_pad_torch(erp: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` -> ``(B, C, H + 2, W + 2)``, the torch twin of :func:`wrap_pad`."""
    import torch

    w = erp.shape[-1]
    top = torch.roll(erp[:, :, :1], w // 2, dims=-1)
    bottom = torch.roll(erp[:, :, -1:], w // 2, dims=-1)
    rows = torch.cat([top, erp, bottom], dim=2)  # (B, C, H+2, W)
    return torch.cat([rows[..., -1:], rows, rows[..., :1]], dim=3)  # (B, C, H+2, W+2)
