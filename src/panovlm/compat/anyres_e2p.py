"""AnyRes-E2P views of one panorama: a global view plus a yaw x pitch grid of tiles (``panovlm.processors.anyres_e2p``).

``build_anyres_from_erp(erp, ...) -> AnyResPack(global_image, tiles, metas, global_meta, view_plan)``
keeps the origin's function and field names. The geometry is the shared view plan
(:func:`panovlm.plans.build_view_plan` with ``strategy="anyres_e2p"``) rendered by the shared
projector, so the pack holds exactly the views that ``PanoramaImageProcessor(crop_strategy="anyres_e2p")``
returns, as ``[0, 1]`` floats (not normalised, as in the origin).

Departures from the origin: every view is rendered once at one size, ``vit_size`` when given, else
``min(base_size, tile_render_size)`` (the origin rendered tiles at 672 px, the global view at 336 px,
then resized; with ``vit_size=None`` the two sizes could not be stacked). The global view is squashed
by default (``global_mode="letterbox"`` gives the origin's black bands). ``metas[i]["view_index"]``
is tile ``i``'s position in ``[global, *tiles]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from panovlm.data.io import ImageSource, load_image
from panovlm.data.projection import Projector
from panovlm.geometry import ViewPlan
from panovlm.plans import GlobalMode, build_view_plan

__all__ = ["AnyResPack", "build_anyres_from_erp"]


@dataclass(frozen=True)
class AnyResPack:
    """The views of one panorama: ``global_image`` (3, S, S), ``tiles`` (N, 3, S, S), one meta per tile."""

    global_image: torch.Tensor
    tiles: torch.Tensor
    metas: list[dict]
    global_meta: dict
    view_plan: ViewPlan

    def views(self) -> torch.Tensor:
        """``(1 + N, 3, S, S)``: the global view first, as in the processor's views tensor."""
        return torch.cat([self.global_image.unsqueeze(0), self.tiles])


def build_anyres_from_erp(
    erp: ImageSource,
    base_size: int = 336,
    tile_render_size: int = 672,
    vit_size: int | None = None,
    hfov_deg: float = 90.0,
    overlap: float = 0.5,
    closed_loop_yaw: bool = True,
    pitch_min: float = -45.0,
    pitch_max: float = 45.0,
    global_mode: GlobalMode = "squash",
) -> AnyResPack:
    """Render the global view and the tiles of ``erp`` (a path, PIL image or RGB uint8 array)."""
    for name, value in (("base_size", base_size), ("tile_render_size", tile_render_size)):
        if int(value) < 1:
            raise ValueError(f"{name} must be a positive number of pixels, got {value}")
    if vit_size is not None and int(vit_size) < 1:
        raise ValueError(f"vit_size must be a positive number of pixels or None, got {vit_size}")
    size = int(vit_size) if vit_size is not None else min(int(base_size), int(tile_render_size))
    plan = build_view_plan("anyres_e2p", image_size=(size, size), fov_deg=hfov_deg, overlap_ratio=overlap,
                           closed_loop=closed_loop_yaw, pitch_range=(pitch_min, pitch_max), global_mode=global_mode)
    image = load_image(erp)
    views = Projector(plan).render(image)  # (V, S, S, 3) uint8
    chw = torch.from_numpy(np.ascontiguousarray(views.transpose(0, 3, 1, 2))).float() / 255.0  # (V, 3, S, S)
    g = plan.global_index
    tiles = [i for i in range(len(plan)) if i != g]
    global_meta = {"kind": f"global_{global_mode}", "base_size": int(base_size), "vit_size": size,
                   "view_index": g}
    return AnyResPack(global_image=chw[g], tiles=chw[tiles], metas=plan.tile_metas(), global_meta=global_meta,
                      view_plan=plan)
