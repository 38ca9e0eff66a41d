"""Sphere, ERP and view geometry: the single source of truth for every module.

Conventions (pinned by tests against py360convert's ``e2p(u_deg=yaw, v_deg=pitch)``):

* Angles are degrees at every public interface.
* World frame: x right, y up, z forward (the ERP centre column looks along +z).
* ``yaw``: positive turns right; 0 is the ERP centre column; range [-180, 180).
  ``pitch``: positive looks up; range [-90, 90].
* Longitude ``lon = atan2(x, z)``, latitude ``lat = asin(y)``.
* ERP pixel centres sit at integer coordinates: a ray maps to the continuous ERP coordinate
  ``u = (lon / 360 + 0.5) * W - 0.5`` (column) and ``v = (0.5 - lat / 180) * H - 0.5`` (row).
  Columns wrap at the +-180 degree seam.
* A ``perspective`` view is a gnomonic (pinhole) camera. As in py360convert, its field of view is
  measured between the centres of its edge pixels: pixel column ``j`` of a view ``W`` pixels wide
  lies at ``x = tan(hfov / 2) * (2 j / (W - 1) - 1)`` on the image plane ``z = 1``.
  The camera is first pitched (about x), then yawed (about y).
* An ``equirect`` view samples a longitude/latitude rectangle of the sphere linearly (the global
  view, sliding windows and the whole-ERP ``resize`` view). Its ``letterbox`` rows, if any, see
  nothing.

Shapes: ``(..., 3)`` rays, ``(..., 2)`` coordinates as (x/column, y/row) in that order, as cv2 wants.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

Projection = Literal["perspective", "equirect"]
ViewKind = Literal["global", "tile"]


@dataclass(frozen=True)
class View:
    """One rendered view of a panorama.

    ``letterbox`` is the fraction of the output height that is padding (split equally above and
    below); only ``equirect`` views use it, to keep the ERP's 2:1 shape inside a square view.
    """

    kind: ViewKind
    yaw_deg: float
    pitch_deg: float
    hfov_deg: float
    vfov_deg: float
    width: int
    height: int
    projection: Projection = "perspective"
    letterbox: float = 0.0

    def __post_init__(self) -> None:
        if self.width < 2 or self.height < 2:
            raise ValueError(f"view size must be at least 2x2 pixels, got {self.width}x{self.height}")
        limit = 180.0 if self.projection == "perspective" else 360.0
        if not 0.0 < self.hfov_deg < limit + 1e-9 or (self.projection == "perspective" and self.hfov_deg >= 180.0):
            raise ValueError(f"hfov_deg must be in (0, {limit:g}) for a {self.projection} view, got {self.hfov_deg}")
        vlimit = 180.0
        if not 0.0 < self.vfov_deg <= vlimit or (self.projection == "perspective" and self.vfov_deg >= 180.0):
            raise ValueError(f"vfov_deg must be in (0, 180) for a {self.projection} view, got {self.vfov_deg}")
        if not 0.0 <= self.letterbox < 1.0:
            raise ValueError(f"letterbox must be in [0, 1), got {self.letterbox}")

    @property
    def center_xyz(self) -> tuple[float, float, float]:
        """Unit vector of the view's optical axis in the world frame (x right, y up, z forward)."""
        ray = angles_to_ray(np.array(self.yaw_deg), np.array(self.pitch_deg))
        return tuple(float(c) for c in ray)


@dataclass(frozen=True)
class ViewPlan:
    """The ordered views of one crop strategy; hashable, so derived maps can be cached on it."""

    views: tuple[View, ...]
    strategy: str = "custom"
    overlap_ratio: float = 0.0
    params: tuple[tuple[str, object], ...] = field(default=())

    def __len__(self) -> int:
        return len(self.views)

    @property
    def tile_indices(self) -> tuple[int, ...]:
        """Positions (in the views tensor) of the tiles, i.e. every view that is not the global one."""
        return tuple(i for i, v in enumerate(self.views) if v.kind == "tile")

    @property
    def global_index(self) -> int | None:
        for i, v in enumerate(self.views):
            if v.kind == "global":
                return i
        return None

    def tile_metas(self) -> list[dict]:
        """One dict per tile, with its position in the views tensor (``view_index``)."""
        metas = []
        for tile_id, index in enumerate(self.tile_indices):
            v = self.views[index]
            metas.append(
                {
                    "tile_id": tile_id,
                    "view_index": index,
                    "yaw_deg": v.yaw_deg,
                    "pitch_deg": v.pitch_deg,
                    "hfov_deg": v.hfov_deg,
                    "vfov_deg": v.vfov_deg,
                    "center_xyz": v.center_xyz,
                }
            )
        return metas

    def to_dict(self) -> dict:
        return {
            "strategy": self.strategy,
            "overlap_ratio": self.overlap_ratio,
            "params": dict(self.params),
            "views": [
                {
                    "kind": v.kind,
                    "yaw_deg": v.yaw_deg,
                    "pitch_deg": v.pitch_deg,
                    "hfov_deg": v.hfov_deg,
                    "vfov_deg": v.vfov_deg,
                    "width": v.width,
                    "height": v.height,
                    "projection": v.projection,
                    "letterbox": v.letterbox,
                }
                for v in self.views
            ],
        }

    @classmethod
    def from_dict(cls, data: dict) -> ViewPlan:
        views = tuple(View(**v) for v in data["views"])
        params = tuple(sorted((k, _freeze(v)) for k, v in data.get("params", {}).items()))
        return cls(views=views, strategy=data.get("strategy", "custom"),
                   overlap_ratio=float(data.get("overlap_ratio", 0.0)), params=params)


def _freeze(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


def wrap_yaw(yaw_deg: float | np.ndarray) -> float | np.ndarray:
    """Map any yaw to [-180, 180)."""
    return (yaw_deg + 180.0) % 360.0 - 180.0


# ---------------------------------------------------------------------------------------------
# Rays <-> angles <-> ERP coordinates
# ---------------------------------------------------------------------------------------------

def angles_to_ray(yaw_deg: np.ndarray, pitch_deg: np.ndarray) -> np.ndarray:
    """(lon, lat) in degrees -> unit rays ``(..., 3)``."""
    lon, lat = np.radians(yaw_deg), np.radians(pitch_deg)
    return np.stack([np.cos(lat) * np.sin(lon), np.sin(lat), np.cos(lat) * np.cos(lon)], axis=-1)


def ray_to_angles(rays: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rays ``(..., 3)`` (any length) -> (lon, lat) in degrees, lon in [-180, 180]."""
    x, y, z = rays[..., 0], rays[..., 1], rays[..., 2]
    lon = np.degrees(np.arctan2(x, z))
    lat = np.degrees(np.arctan2(y, np.hypot(x, z)))
    return lon, lat


def ray_to_erp(rays: np.ndarray, erp_width: int, erp_height: int) -> np.ndarray:
    """Rays ``(..., 3)`` -> continuous ERP pixel coordinates ``(..., 2)`` as (column, row).

    Columns are wrapped into [-0.5, W - 0.5) so that the seam is continuous for a sampler that
    pads the ERP by wrapping.
    """
    lon, lat = ray_to_angles(rays)
    u = (lon / 360.0 + 0.5) * erp_width - 0.5
    u = (u + 0.5) % erp_width - 0.5
    v = (0.5 - lat / 180.0) * erp_height - 0.5
    return np.stack([u, v], axis=-1)


def erp_to_angles(cols: np.ndarray, rows: np.ndarray, erp_width: int, erp_height: int) -> tuple[np.ndarray, np.ndarray]:
    """Continuous ERP pixel coordinates -> (lon, lat) in degrees; the inverse of :func:`ray_to_erp`."""
    lon = wrap_yaw(((np.asarray(cols, dtype=np.float64) + 0.5) / erp_width - 0.5) * 360.0)
    lat = (0.5 - (np.asarray(rows, dtype=np.float64) + 0.5) / erp_height) * 180.0
    return lon, lat


def _rotation(yaw_deg: float, pitch_deg: float) -> np.ndarray:
    """Camera-to-world rotation: pitch about x (positive looks up), then yaw about y (positive right)."""
    y, p = math.radians(yaw_deg), math.radians(pitch_deg)
    pitch = np.array([[1, 0, 0], [0, math.cos(p), math.sin(p)], [0, -math.sin(p), math.cos(p)]])
    yaw = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    return yaw @ pitch


# ---------------------------------------------------------------------------------------------
# View pixels <-> rays
# ---------------------------------------------------------------------------------------------

def view_pixel_to_ray(view: View, cols: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Continuous view pixel coordinates -> unit world rays ``(..., 3)``.

    Rows inside a letterbox band get NaN rays (they see nothing).
    """
    cols = np.asarray(cols, dtype=np.float64)
    rows = np.asarray(rows, dtype=np.float64)
    if view.projection == "perspective":
        tx = math.tan(math.radians(view.hfov_deg) / 2)
        ty = math.tan(math.radians(view.vfov_deg) / 2)
        x = tx * (2.0 * cols / (view.width - 1) - 1.0)
        y = ty * (1.0 - 2.0 * rows / (view.height - 1))
        cam = np.stack([x, y, np.ones_like(x)], axis=-1)
        cam /= np.linalg.norm(cam, axis=-1, keepdims=True)
        return cam @ _rotation(view.yaw_deg, view.pitch_deg).T
    band = view.height * (1.0 - view.letterbox)
    top = (view.height - band) / 2.0
    # Equirect views sample pixel footprints: column 0's left edge is lon = yaw - hfov/2.
    lon = view.yaw_deg + view.hfov_deg * ((cols + 0.5) / view.width - 0.5)
    lat = view.pitch_deg - view.vfov_deg * ((rows - top + 0.5) / band - 0.5)
    rays = angles_to_ray(lon, lat)
    outside = (rows - top + 0.5 < 0) | (rows - top + 0.5 > band)
    rays[outside] = np.nan
    return rays


def ray_to_view_pixel(view: View, rays: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World rays ``(..., 3)`` -> (continuous view pixel coordinates ``(..., 2)``, visible mask).

    A ray is visible when it projects inside the pixel footprints of the view
    (``-0.5 <= col <= W - 0.5`` and likewise for rows) and, for perspective views, in front of
    the camera.
    """
    rays = np.asarray(rays, dtype=np.float64)
    if view.projection == "perspective":
        cam = rays @ _rotation(view.yaw_deg, view.pitch_deg)
        z = cam[..., 2]
        in_front = z > 1e-9
        safe_z = np.where(in_front, z, 1.0)
        tx = math.tan(math.radians(view.hfov_deg) / 2)
        ty = math.tan(math.radians(view.vfov_deg) / 2)
        cols = (cam[..., 0] / safe_z / tx + 1.0) * (view.width - 1) / 2.0
        rows = (1.0 - cam[..., 1] / safe_z / ty) * (view.height - 1) / 2.0
    else:
        lon, lat = ray_to_angles(rays)
        dlon = wrap_yaw(lon - view.yaw_deg)
        band = view.height * (1.0 - view.letterbox)
        top = (view.height - band) / 2.0
        cols = (dlon / view.hfov_deg + 0.5) * view.width - 0.5
        rows = (0.5 - (lat - view.pitch_deg) / view.vfov_deg) * band - 0.5 + top
        in_front = np.isfinite(cols) & np.isfinite(rows)
        band_ok = (rows >= top - 0.5) & (rows <= top + band - 0.5)
        in_front = in_front & band_ok
    visible = (
        in_front
        & (cols >= -0.5) & (cols <= view.width - 0.5)
        & (rows >= -0.5) & (rows <= view.height - 0.5)
    )
    return np.stack([cols, rows], axis=-1), visible


def view_rays(view: View) -> np.ndarray:
    """Rays of every pixel centre of a view, ``(H, W, 3)``."""
    rows, cols = np.meshgrid(np.arange(view.height), np.arange(view.width), indexing="ij")
    return view_pixel_to_ray(view, cols, rows)


@functools.lru_cache(maxsize=64)
def sampling_map(plan: ViewPlan, erp_width: int, erp_height: int) -> np.ndarray:
    """ERP sampling coordinates of every view, side by side: ``(H_max, sum W, 2)`` float32.

    Views are concatenated along the width so one remap call renders the whole plan. Pixels that
    see nothing (letterbox bands, padding below shorter views) get coordinate -1e4 (outside).
    """
    height = max(v.height for v in plan.views)
    out = np.full((height, sum(v.width for v in plan.views), 2), -1e4, dtype=np.float32)
    x0 = 0
    for view in plan.views:
        rays = view_rays(view)  # (h, w, 3)
        coords = ray_to_erp(np.nan_to_num(rays), erp_width, erp_height)  # (h, w, 2)
        coords[~np.isfinite(rays).all(axis=-1)] = -1e4
        out[: view.height, x0 : x0 + view.width] = coords
        x0 += view.width
    out.setflags(write=False)
    return out


# ---------------------------------------------------------------------------------------------
# Overlap and token correspondences
# ---------------------------------------------------------------------------------------------

def token_centers(view: View, grid_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (cols, rows), each ``(gh, gw)``, of the centres of a token grid's cells."""
    gh, gw = grid_hw
    cols = (np.arange(gw) + 0.5) * view.width / gw - 0.5
    rows = (np.arange(gh) + 0.5) * view.height / gh - 0.5
    rr, cc = np.meshgrid(rows, cols, indexing="ij")
    return cc, rr


@dataclass(frozen=True)
class Correspondence:
    """Tokens of view ``a`` that view ``b`` sees, and where.

    ``index_a``: flat token indices (row-major on A's grid), shape (L,).
    ``coords_b``: continuous token coordinates (col, row) on B's grid, shape (L, 2); the integer
    value k is the centre of token column/row k, so they can be fed to a bilinear sampler.
    """

    a: int
    b: int
    index_a: np.ndarray
    coords_b: np.ndarray

    @property
    def num_tokens(self) -> int:
        return int(self.index_a.shape[0])


@functools.lru_cache(maxsize=256)
def correspondences(plan: ViewPlan, grid_hw: tuple[int, int], a: int, b: int) -> Correspondence:
    """Ray-exact token correspondences from view ``a`` to view ``b`` of ``plan`` on a token grid.

    The token centres of A are cast as rays; those B sees are kept with their continuous position
    on B's token grid. Tokens near B's border whose bilinear neighbourhood would leave the grid are
    dropped so that every match is an interpolation, never an extrapolation.
    """
    gh, gw = grid_hw
    va, vb = plan.views[a], plan.views[b]
    cols, rows = token_centers(va, grid_hw)
    rays = view_pixel_to_ray(va, cols, rows).reshape(-1, 3)  # (gh*gw, 3)
    finite = np.isfinite(rays).all(axis=-1)
    pix, visible = ray_to_view_pixel(vb, np.nan_to_num(rays))
    tok = np.stack([(pix[:, 0] + 0.5) * gw / vb.width - 0.5, (pix[:, 1] + 0.5) * gh / vb.height - 0.5], axis=-1)
    inside = (tok[:, 0] >= 0) & (tok[:, 0] <= gw - 1) & (tok[:, 1] >= 0) & (tok[:, 1] <= gh - 1)
    keep = finite & visible & inside
    index = np.nonzero(keep)[0]
    coords = tok[keep].astype(np.float32)
    index.setflags(write=False)
    coords.setflags(write=False)
    return Correspondence(a=a, b=b, index_a=index, coords_b=coords)


@functools.lru_cache(maxsize=1024)
def view_overlap(plan: ViewPlan, a: int, b: int, samples: int = 48) -> float:
    """Fraction of view ``a``'s rays (on a ``samples`` x ``samples`` grid) that view ``b`` sees."""
    va = plan.views[a]
    cols, rows = token_centers(va, (samples, samples))
    rays = view_pixel_to_ray(va, cols, rows).reshape(-1, 3)
    finite = np.isfinite(rays).all(axis=-1)
    _, visible = ray_to_view_pixel(plan.views[b], np.nan_to_num(rays))
    return float((visible & finite).sum() / max(int(finite.sum()), 1))


def great_circle_deg(yaw1: float, pitch1: float, yaw2: float, pitch2: float) -> float:
    """Angle between two view axes in degrees (haversine form, stable for small angles)."""
    p1, p2 = math.radians(pitch1), math.radians(pitch2)
    dy = math.radians(yaw2 - yaw1)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dy / 2) ** 2
    return math.degrees(2 * math.asin(min(1.0, math.sqrt(h))))
