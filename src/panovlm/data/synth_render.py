"""Render PanoShapes panoramas: flat coloured shapes drawn on the sphere, on smooth backgrounds or one grey.

Every ERP pixel is cast to its ray with :mod:`panovlm.geometry`; a shape covers the pixels whose
gnomonic (tangent-plane) coordinates around the object's centre fall inside the 2-D shape, so each
shape carries the ERP distortion a real object would, and one at the +-180 degree seam appears on
both ERP edges.

Shapes: rays ``(H, W, 3)``; tangent coordinates ``(H, W)`` each; images ``(H, W, 3)`` uint8 RGB.
"""

from __future__ import annotations

import colorsys
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from panovlm.geometry import View, angles_to_ray, ray_to_view_pixel, view_rays

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star")
# Saturated and far apart in hue, so none is confused with the low-saturation backgrounds.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 170, 50),
    "blue": (30, 70, 230),
    "yellow": (245, 215, 20),
    "purple": (140, 40, 190),
    "orange": (250, 130, 0),
}
# Angular radius (degrees) of the circle circumscribing the shape.
SIZES: dict[str, float] = {"small": 13.0, "large": 22.0}
BACKGROUNDS: tuple[str, ...] = ("sky_ground", "waves", "checker", "blobs")
# Background levels: "varied" draws one of BACKGROUNDS per panorama; "plain" is one neutral grey for
# every panorama, the easy level on which a random-init model learns in CPU minutes (docs/training.md).
BACKGROUND_LEVELS: tuple[str, ...] = ("varied", "plain")
PLAIN_GREY = 128.0


@dataclass(frozen=True)
class ShapeObject:
    """One object of a PanoShapes scene; angles in degrees, ``direction`` relative to the viewer."""

    colour: str
    shape: str
    size: str
    direction: str
    yaw_deg: float
    pitch_deg: float
    rotation_deg: float = 0.0

    def __post_init__(self) -> None:
        for name, value, valid in (("colour", self.colour, COLOURS), ("shape", self.shape, SHAPES),
                                   ("size", self.size, SIZES)):
            if value not in valid:
                raise ValueError(f"ShapeObject.{name} must be one of {sorted(valid)}, got {value!r}")

    @property
    def radius_deg(self) -> float:
        return SIZES[self.size]

    def to_dict(self) -> dict:
        return {
            "colour": self.colour,
            "shape": self.shape,
            "size": self.size,
            "direction": self.direction,
            "yaw_deg": round(float(self.yaw_deg), 2),
            "pitch_deg": round(float(self.pitch_deg), 2),
            "radius_deg": self.radius_deg,
            "rotation_deg": round(float(self.rotation_deg), 2),
        }


@functools.lru_cache(maxsize=8)
def erp_rays(width: int, height: int) -> np.ndarray:
    """Rays of every ERP pixel centre, ``(H, W, 3)``, read-only.

    A full-sphere equirect view samples exactly the ERP pixel grid of the geometry module.
    """
    whole = View(kind="global", yaw_deg=0.0, pitch_deg=0.0, hfov_deg=360.0, vfov_deg=180.0,
                 width=width, height=height, projection="equirect")
    rays = view_rays(whole)  # (H, W, 3)
    rays.setflags(write=False)
    return rays


def tangent_coords(rays: np.ndarray, yaw_deg: float, pitch_deg: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gnomonic coordinates (x right, y up, on the plane at distance 1) of ``rays`` around a centre.

    Uses the perspective camera of :mod:`panovlm.geometry`: a 3x3-pixel 90-degree view has its pixel
    centres at tangent coordinates -1, 0, 1, so ``x = col - 1`` and ``y = 1 - row``.
    Returns ``(x, y, valid)``; ``valid`` is False behind the camera and beyond about 51 degrees.
    """
    unit = View(kind="tile", yaw_deg=yaw_deg, pitch_deg=pitch_deg, hfov_deg=90.0, vfov_deg=90.0, width=3, height=3)
    pix, visible = ray_to_view_pixel(unit, rays)  # (..., 2), (...)
    return pix[..., 0] - 1.0, 1.0 - pix[..., 1], visible


def _circle(x: np.ndarray, y: np.ndarray, t: float) -> np.ndarray:
    return x * x + y * y <= (0.85 * t) ** 2


def _square(x: np.ndarray, y: np.ndarray, t: float) -> np.ndarray:
    return np.maximum(np.abs(x), np.abs(y)) <= t / math.sqrt(2.0)


def _triangle(x: np.ndarray, y: np.ndarray, t: float) -> np.ndarray:
    # Equilateral, apex up, circumradius t: inside the three edges, each at the inradius t / 2.
    inside = np.ones(x.shape, dtype=bool)
    for angle in (-90.0, 30.0, 150.0):
        a = math.radians(angle)
        inside &= x * math.cos(a) + y * math.sin(a) <= t / 2.0
    return inside


def _star(x: np.ndarray, y: np.ndarray, t: float) -> np.ndarray:
    # Five-pointed star, tip up: fold the angle into one half-spike [0, 36] degrees, then test the
    # point against the edge from the outer tip (t, 0) to the inner vertex at 36 degrees.
    inner = 0.45 * t
    angle = np.degrees(np.arctan2(x, y)) % 72.0
    folded = np.radians(np.minimum(angle, 72.0 - angle))
    r = np.hypot(x, y)
    px, py = r * np.cos(folded), r * np.sin(folded)
    tip = np.array([t, 0.0])
    valley = inner * np.array([math.cos(math.radians(36.0)), math.sin(math.radians(36.0))])
    normal = np.array([valley[1] - tip[1], tip[0] - valley[0]])  # points away from the centre
    return px * normal[0] + py * normal[1] <= float(tip @ normal)


SHAPE_MASKS: dict[str, Callable[[np.ndarray, np.ndarray, float], np.ndarray]] = {
    "circle": _circle,
    "square": _square,
    "triangle": _triangle,
    "star": _star,
}


def object_mask(rays: np.ndarray, obj: ShapeObject) -> np.ndarray:
    """Boolean mask ``(...)`` of the rays that hit ``obj``."""
    x, y, valid = tangent_coords(rays, obj.yaw_deg, obj.pitch_deg)
    a = math.radians(obj.rotation_deg)
    # Rotating the point by -a rotates the shape by +a (counter-clockwise as seen by the viewer).
    xr, yr = x * math.cos(a) + y * math.sin(a), -x * math.sin(a) + y * math.cos(a)
    return valid & SHAPE_MASKS[obj.shape](xr, yr, math.tan(math.radians(obj.radius_deg)))


def _muted_colour(rng: np.random.Generator) -> np.ndarray:
    hue, sat, val = rng.uniform(0, 1), rng.uniform(0.05, 0.3), rng.uniform(0.3, 0.85)
    return np.array(colorsys.hsv_to_rgb(hue, sat, val)) * 255.0


def _background_field(kind: str, rays: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A scalar field in [0, 1] over the sphere, ``(H, W)``; a function of the ray, so seam-free."""
    lat = np.arcsin(np.clip(rays[..., 1], -1.0, 1.0))  # (H, W) radians
    if kind == "sky_ground":
        sharpness = rng.uniform(4.0, 12.0)
        return 1.0 / (1.0 + np.exp(-sharpness * (lat - rng.uniform(-0.15, 0.15))))
    if kind == "waves":
        field = np.zeros(rays.shape[:-1])
        for _ in range(3):
            k = angles_to_ray(rng.uniform(-180, 180), rng.uniform(-90, 90)) * rng.uniform(2.0, 7.0)
            field += np.sin(rays @ k + rng.uniform(0, 2 * math.pi))
        return (field / 6.0) + 0.5
    if kind == "checker":
        lon = np.arctan2(rays[..., 0], rays[..., 2])
        n_lon, n_lat = int(rng.integers(4, 13)), rng.uniform(3.0, 9.0)
        return (np.sin(n_lon * lon) * np.sin(n_lat * lat) > 0).astype(np.float64)
    if kind == "blobs":
        field = np.zeros(rays.shape[:-1])
        for _ in range(int(rng.integers(4, 9))):
            centre = angles_to_ray(rng.uniform(-180, 180), rng.uniform(-80, 80))
            field += np.exp(rng.uniform(3.0, 12.0) * (rays @ centre - 1.0))
        return np.clip(field, 0.0, 1.0)
    raise ValueError(f"background kind must be one of {list(BACKGROUNDS)}, got {kind!r}")


def render_background(width: int, height: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """A random low-saturation background ``(H, W, 3)`` float32 in [0, 255], and its kind.

    The fields are smooth, so they are evaluated on a 4x coarser ERP and upsampled (cv2 aligns
    pixel centres the way the ERP convention does); this keeps a 512x256 panorama at a few ms.
    """
    kind = BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))]
    coarse_h = max(8, height // 4)
    field = _background_field(kind, erp_rays(2 * coarse_h, coarse_h), rng).astype(np.float32)  # (h, w)
    field = cv2.resize(field, (width, height), interpolation=cv2.INTER_LINEAR)[..., None]  # (H, W, 1)
    low, high = _muted_colour(rng).astype(np.float32), _muted_colour(rng).astype(np.float32)
    return low * (1.0 - field) + high * field, kind


def _object_window(obj: ShapeObject, width: int, height: int) -> tuple[slice, np.ndarray]:
    """ERP rows (a slice) and columns (wrapped indices) that can contain ``obj``.

    Every point of a shape lies within ``radius_deg`` of its centre (the shapes are inscribed in
    that circle), so the window is the bounding box of that spherical cap, plus a pixel of margin.
    """
    radius, pitch = obj.radius_deg + 360.0 / width, obj.pitch_deg
    top_lat, bottom_lat = min(90.0, pitch + radius), max(-90.0, pitch - radius)
    rows = slice(max(0, int(math.floor((90.0 - top_lat) / 180.0 * height - 0.5))),
                 min(height, int(math.ceil((90.0 - bottom_lat) / 180.0 * height - 0.5)) + 1))
    if top_lat >= 90.0 or bottom_lat <= -90.0:
        return rows, np.arange(width)  # the cap holds a pole: every longitude
    half = math.degrees(math.asin(min(1.0, math.sin(math.radians(radius)) / math.cos(math.radians(pitch)))))
    first = int(math.floor(((obj.yaw_deg - half) / 360.0 + 0.5) * width - 0.5))
    last = int(math.ceil(((obj.yaw_deg + half) / 360.0 + 0.5) * width - 0.5))
    return rows, np.arange(first, last + 1) % width  # wraps across the seam


def check_background_level(level: str) -> str:
    if level not in BACKGROUND_LEVELS:
        raise ValueError(f"backgrounds must be one of {list(BACKGROUND_LEVELS)}, got {level!r}")
    return level


def render_panorama(objects: list[ShapeObject], width: int, height: int, rng: np.random.Generator,
                    backgrounds: str = "varied") -> tuple[np.ndarray, str]:
    """Render a scene: returns the ERP image ``(H, W, 3)`` uint8 RGB and the background kind.

    ``backgrounds="plain"`` draws nothing from ``rng`` for the background (kind ``"plain"``).
    """
    rays = erp_rays(width, height)  # (H, W, 3)
    if check_background_level(backgrounds) == "plain":
        background, kind = np.full((height, width, 3), PLAIN_GREY, np.float32), "plain"
    else:
        background, kind = render_background(width, height, rng)
    image = np.clip(background, 0.0, 255.0).astype(np.uint8)
    for obj in objects:
        rows, cols = _object_window(obj, width, height)
        mask = object_mask(rays[rows, cols], obj)  # (h, w) over the window's rays (h, w, 3)
        patch = image[rows, cols]  # (h, w, 3), a copy: fancy indexing on the columns
        patch[mask] = COLOURS[obj.colour]
        image[rows, cols] = patch
    return image, kind
