"""View plans: which views each crop strategy cuts from a panorama (DESIGN section 3).

Every strategy returns a :class:`~panovlm.geometry.ViewPlan`; the processor, the overlap losses,
the positional encoding, the visualiser and the exported processor config all read that plan.

Departures from the origin project (PanoLLaVA), on purpose:

* Views are rendered directly at the output size from an area-prefiltered ERP (see
  ``panovlm.data.projection``), so ``anyres_e2p_tile_size`` / ``anyres_e2p_base_size`` are kept
  for the seed API but no longer set an intermediate render resolution.
* ``anyres_e2p``'s global view is an ``equirect`` view of the whole sphere. ``global_mode="squash"``
  (default) stretches it to the square view; ``"letterbox"`` keeps the 2:1 shape with black bands
  as the origin did. The tiles are numbered from 0 and ``view_index`` gives each tile's position
  in the views tensor (the global view is view 0), so nothing is off by one.
* ``e2p`` re-spaces the ring to close exactly (step = 360 / N) and drops the origin's 0.9
  vertical crop; ``sliding_window`` windows are centred, starting at yaw -180 + fov / 2.
* When the pitch range is narrower than one tile, ``anyres_e2p`` keeps a single row at the range's
  middle instead of producing no tiles.
"""

from __future__ import annotations

import math
from typing import Literal

from panovlm.geometry import View, ViewPlan, wrap_yaw

Strategy = Literal["e2p", "anyres_e2p", "cubemap", "sliding_window", "resize"]
GlobalMode = Literal["squash", "letterbox"]
STRATEGIES: tuple[str, ...] = ("e2p", "anyres_e2p", "cubemap", "sliding_window", "resize")
GLOBAL_MODES: tuple[str, ...] = ("squash", "letterbox")


def ring_yaws(fov_deg: float, overlap_ratio: float, closed_loop: bool = True) -> list[float]:
    """Yaw centres of a ring of tiles: 0 first, then going right, wrapping through -180.

    Closed loop: N = ceil(360 / (fov * (1 - overlap))) tiles re-spaced to 360 / N.
    Open: the origin's interval rule, tiles from -180 + fov / 2 while the tile stays inside the ERP.
    """
    _check_fov_overlap(fov_deg, overlap_ratio)
    step = fov_deg * (1.0 - overlap_ratio)
    if closed_loop:
        n = max(1, math.ceil(360.0 / step - 1e-9))
        yaws = [float(wrap_yaw(i * 360.0 / n)) for i in range(n)]
        return sorted(yaws, key=lambda y: (y + 360.0) % 360.0)
    yaws, yaw = [], -180.0 + fov_deg / 2.0
    while yaw < 180.0 - fov_deg / 2.0 + 1e-9:
        yaws.append(float(yaw))
        yaw += step
    return yaws


def pitch_rows(vfov_deg: float, overlap_ratio: float, pitch_range: tuple[float, float]) -> list[float]:
    """Pitch centres inside ``pitch_range`` (the origin's rule, plus the narrow-range fallback)."""
    lo, hi = float(pitch_range[0]), float(pitch_range[1])
    if not -90.0 <= lo <= hi <= 90.0:
        raise ValueError(f"anyres_e2p_pitch_range must satisfy -90 <= min <= max <= 90, got {pitch_range}")
    if lo == hi:
        return [lo]
    step = vfov_deg * (1.0 - overlap_ratio)
    rows, pitch = [], lo + vfov_deg / 2.0
    while pitch <= hi - vfov_deg / 2.0 + 1e-9:
        rows.append(pitch)
        pitch += step
    return rows or [(lo + hi) / 2.0]


def _check_fov_overlap(fov_deg: float, overlap_ratio: float) -> None:
    if not 0.0 < fov_deg < 180.0:
        raise ValueError(f"fov_deg must be in (0, 180), got {fov_deg}")
    if not 0.0 <= overlap_ratio < 1.0:
        raise ValueError(f"overlap_ratio must be in [0, 1), got {overlap_ratio}")


def _tile(yaw: float, pitch: float, fov: float, size: tuple[int, int]) -> View:
    return View("tile", float(yaw), float(pitch), fov, fov, width=size[1], height=size[0])


def global_view(size: tuple[int, int], mode: GlobalMode = "squash") -> View:
    """The whole sphere as one equirect view."""
    if mode not in GLOBAL_MODES:
        raise ValueError(f"global_mode must be one of {GLOBAL_MODES}, got {mode!r}")
    h, w = size
    letterbox = max(0.0, 1.0 - (w / 2.0) / h) if mode == "letterbox" else 0.0
    return View("global", 0.0, 0.0, 360.0, 180.0, width=w, height=h, projection="equirect", letterbox=letterbox)


def build_view_plan(
    strategy: str = "anyres_e2p",
    image_size: tuple[int, int] = (224, 224),
    fov_deg: float = 90.0,
    overlap_ratio: float = 0.5,
    closed_loop: bool = True,
    pitch_range: tuple[float, float] = (-45.0, 45.0),
    global_mode: GlobalMode = "squash",
    cubemap_poles: bool = False,
) -> ViewPlan:
    """Build the plan of ``strategy``; ``image_size`` is (H, W) of every view.

    Defaults reproduce the origin's AnyRes-E2P layout: 1 global view + 8 tiles at pitch 0 and
    yaw 0, 45, ..., 135, -180, ..., -45.
    """
    size = (int(image_size[0]), int(image_size[1]))
    if strategy not in STRATEGIES:
        raise ValueError(f"crop_strategy must be one of {STRATEGIES}, got {strategy!r}")
    _check_fov_overlap(fov_deg, overlap_ratio)
    params: dict[str, object] = {"fov_deg": fov_deg, "image_size": size}
    if strategy == "e2p":
        views = [_tile(y, 0.0, fov_deg, size) for y in ring_yaws(fov_deg, overlap_ratio)]
    elif strategy == "anyres_e2p":
        rows = pitch_rows(fov_deg, overlap_ratio, pitch_range)
        yaws = ring_yaws(fov_deg, overlap_ratio, closed_loop)
        views = [global_view(size, global_mode)] + [_tile(y, p, fov_deg, size) for p in rows for y in yaws]
        params.update(closed_loop=closed_loop, pitch_range=tuple(pitch_range), global_mode=global_mode)
    elif strategy == "cubemap":
        faces = [(0.0, 0.0), (90.0, 0.0), (-180.0, 0.0), (-90.0, 0.0)]
        if cubemap_poles:
            faces += [(0.0, 90.0), (0.0, -90.0)]
        if fov_deg < 90.0:
            raise ValueError(f"cubemap faces need fov_deg >= 90 to cover the sphere, got {fov_deg}")
        # Faces wider than 90 degrees overlap their neighbours by (fov - 90) degrees (the overlap loss needs it).
        views = [_tile(y, p, fov_deg, size) for y, p in faces]
        overlap_ratio = (fov_deg - 90.0) / fov_deg
        params.update(cubemap_poles=cubemap_poles)
    elif strategy == "sliding_window":
        step = fov_deg * (1.0 - overlap_ratio)
        n = max(1, math.ceil(360.0 / step - 1e-9))
        views = [
            View("tile", float(wrap_yaw(-180.0 + fov_deg / 2.0 + i * step)), 0.0, fov_deg, fov_deg,
                 width=size[1], height=size[0], projection="equirect")
            for i in range(n)
        ]
    else:  # resize
        views = [View("global", 0.0, 0.0, 360.0, 180.0, width=size[1], height=size[0], projection="equirect")]
    return ViewPlan(
        views=tuple(views),
        strategy=strategy,
        overlap_ratio=float(overlap_ratio),
        params=tuple(sorted(params.items())),
    )
