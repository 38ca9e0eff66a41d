"""Pictures of the visualiser: labelled view grids and PCA colours painted back onto the ERP.

Shapes: views ``(V, H, W, 3)`` uint8; per-view token colours ``(V, h, w, 3)`` float in [0, 1] on a
token grid; ERP pictures ``(He, We, 3)``.

ERP painting: every ERP pixel's ray is looked up in each view (``panovlm.geometry.ray_to_view_pixel``);
the token cell of the view that contains it gives the colour, and pixels seen by several views get
the plain mean of their colours. Plain, not feathered, on purpose: a feature that changes from one
view to the next must show as a step at the view border, not be smoothed away.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import cv2
import numpy as np

from panovlm.geometry import ViewPlan, ray_to_view_pixel, view_pixel_to_ray
from panovlm.plans import global_view

_BG = 32  # grey between tiles
_GAP = 4


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


def upscale(cells: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Token colours ``(h, w, 3)`` -> ``(H, W, 3)`` with one flat block per token (nearest)."""
    return cv2.resize(np.ascontiguousarray(cells), (size[1], size[0]), interpolation=cv2.INTER_NEAREST)


def _label(tile: np.ndarray, text: str) -> None:
    scale = max(0.3, tile.shape[1] / 448.0)
    for colour, thickness in (((0, 0, 0), 3), ((255, 255, 255), 1)):  # outlined: reads on any colour
        cv2.putText(tile, text, (3, int(16 * scale) + 3), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thickness,
                    cv2.LINE_AA)


def view_labels(plan: ViewPlan) -> list[str]:
    return [f"{i} {v.kind} y{v.yaw_deg:+.0f} p{v.pitch_deg:+.0f}" for i, v in enumerate(plan.views)]


def grid_figure(rows: Sequence[np.ndarray], labels: Sequence[str], row_titles: Sequence[str] = ()) -> np.ndarray:
    """One image of ``rows`` (each ``(V, H, W, 3)`` uint8, one row of views), each view labelled.

    A row title (e.g. a checkpoint name) is written above its row.
    """
    v, h, w, _ = rows[0].shape
    title_h = 18 if row_titles else 0
    sheet = np.full((len(rows) * (h + _GAP + title_h) + _GAP, v * (w + _GAP) + _GAP, 3), _BG, dtype=np.uint8)
    for r, views in enumerate(rows):
        y = _GAP + r * (h + _GAP + title_h) + title_h
        if row_titles:
            cv2.putText(sheet, row_titles[r], (_GAP, y - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1,
                        cv2.LINE_AA)
        for i in range(v):
            tile = np.ascontiguousarray(views[i])
            _label(tile, labels[i])
            x = _GAP + i * (w + _GAP)
            sheet[y:y + h, x:x + w] = tile
    return sheet


def stack_figure(images: Sequence[np.ndarray], titles: Sequence[str]) -> np.ndarray:
    """Images of one width stacked vertically, each with a title bar."""
    width = max(i.shape[1] for i in images)
    parts = []
    for image, title in zip(images, titles, strict=True):
        bar = np.full((18, width, 3), _BG, dtype=np.uint8)
        cv2.putText(bar, title, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
        pad = np.full((image.shape[0], width - image.shape[1], 3), _BG, dtype=np.uint8)
        parts += [bar, np.concatenate([image, pad], axis=1)]
    return np.concatenate(parts, axis=0)


def square_layout(num_tokens: int) -> tuple[int, int]:
    """(rows, cols) to show a query resampler's S' tokens, which have no place on the view."""
    cols = math.ceil(math.sqrt(num_tokens))
    return math.ceil(num_tokens / cols), cols


@functools.lru_cache(maxsize=16)
def erp_token_index(plan: ViewPlan, grid_hw: tuple[int, int], erp_hw: tuple[int, int]) -> np.ndarray:
    """``(V, He, We)`` int32: the flat token index of each view that sees each ERP pixel, -1 where it does not."""
    he, we = erp_hw
    gh, gw = grid_hw
    sphere = global_view((he, we))  # the ERP itself as an equirect view: its pixel rays
    rows, cols = np.meshgrid(np.arange(he), np.arange(we), indexing="ij")
    rays = view_pixel_to_ray(sphere, cols, rows)  # (He, We, 3)
    out = np.full((len(plan), he, we), -1, dtype=np.int32)
    for i, view in enumerate(plan.views):
        pix, visible = ray_to_view_pixel(view, rays)  # (He, We, 2), (He, We)
        tc = np.clip(np.floor((pix[..., 0] + 0.5) * gw / view.width), 0, gw - 1).astype(np.int32)
        tr = np.clip(np.floor((pix[..., 1] + 0.5) * gh / view.height), 0, gh - 1).astype(np.int32)
        out[i] = np.where(visible, tr * gw + tc, -1)
    out.setflags(write=False)
    return out


def paint_erp(colours: np.ndarray, plan: ViewPlan, erp_hw: tuple[int, int]) -> np.ndarray:
    """Token colours ``(V, h, w, 3)`` -> ERP ``(He, We, 3)`` float: the mean colour of the views seeing each pixel.

    Only the tiles are painted when the plan has any (a global view sees everything and would blur
    every seam); a plan of global views alone (``resize``) paints those. Unseen pixels are black.
    """
    v, gh, gw, _ = colours.shape
    index = erp_token_index(plan, (gh, gw), erp_hw)  # (V, He, We)
    views = list(plan.tile_indices) or list(range(v))
    flat = colours.reshape(v, gh * gw, 3)  # (V, h*w, 3)
    total = np.zeros((*erp_hw, 3), dtype=np.float64)
    count = np.zeros(erp_hw, dtype=np.float64)
    for i in views:
        seen = index[i] >= 0
        total[seen] += flat[i][index[i][seen]]
        count[seen] += 1.0
    return total / np.maximum(count, 1.0)[..., None]


def resize_erp(erp: np.ndarray, width: int) -> np.ndarray:
    """The panorama at ``width`` x ``width / 2`` for display next to its painted features."""
    return cv2.resize(erp, (width, width // 2), interpolation=cv2.INTER_AREA)


def write_png(path: object, rgb: np.ndarray) -> None:
    if not cv2.imwrite(str(path), cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)):
        raise OSError(f"{path}: cv2.imwrite failed")
