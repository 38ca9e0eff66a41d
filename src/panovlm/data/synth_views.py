"""What one perspective view of a PanoShapes scene shows: per-view descriptions without directions.

The tiny encoder is pretrained on single views paired with what they show ("a large red square and
a small blue star", "nothing"), so it learns *what* objects look like and never *where* they are:
the descriptions hold no direction words and every scene is turned by a random yaw before it is
rendered. Visibility is measured on the sphere: the share of an object's solid angle (its ERP
pixels weighted by cos(latitude)) whose rays fall inside the view.

Shapes: ``V`` views; object rays ``(P, 3)`` with weights ``(P,)``; visibility ``(V, K)`` for ``K``
objects.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from panovlm.data.synth import NOTHING, describe, sample_scene
from panovlm.data.synth_render import (
    BACKGROUND_LEVELS,
    COLOURS,
    SHAPES,
    SIZES,
    ShapeObject,
    erp_rays,
    object_mask,
    render_panorama,
)
from panovlm.geometry import ViewPlan, ray_to_angles, ray_to_view_pixel, wrap_yaw

# An object counts as shown when this share of it is inside the view; between AMBIGUOUS and
# VISIBLE the view is neither "shows it" nor "does not", so it is left out of the pretraining data.
VISIBLE = 0.6
AMBIGUOUS = 0.1
# Entropy tag of the pretraining streams: PanoShapes splits use [seed, split, index] with a small
# split number, so no pretraining scene is ever a quickstart panorama.
PRETRAIN_STREAM = 0x70726574


def turned(objects: list[ShapeObject], yaw_offset_deg: float) -> list[ShapeObject]:
    """The scene turned by ``yaw_offset_deg`` (positive: to the right); ``direction`` labels are dropped."""
    return [dataclasses.replace(o, yaw_deg=float(wrap_yaw(o.yaw_deg + yaw_offset_deg)), direction="")
            for o in objects]


def object_rays(obj: ShapeObject, width: int, height: int, stride: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Rays ``(P, 3)`` of the ERP pixels covered by ``obj`` (every ``stride``-th row and column) and
    their solid-angle weights ``(P,)``."""
    rays = erp_rays(width, height)[::stride, ::stride]  # (h, w, 3)
    mask = object_mask(rays, obj)  # (h, w)
    hit = rays[mask]  # (P, 3)
    _, lat = ray_to_angles(hit)
    return hit, np.cos(np.radians(lat))


def visibility(plan: ViewPlan, objects: list[ShapeObject], width: int, height: int) -> np.ndarray:
    """Share of each object's solid angle inside each view of ``plan``, ``(V, K)`` in [0, 1]."""
    out = np.zeros((len(plan), len(objects)))  # (V, K)
    for k, obj in enumerate(objects):
        rays, weights = object_rays(obj, width, height)
        total = weights.sum()
        if total <= 0:
            continue
        for v, view in enumerate(plan.views):
            _, inside = ray_to_view_pixel(view, rays)
            out[v, k] = weights[inside].sum() / total
    return out


def description(shown: list[ShapeObject]) -> str:
    """What a view shows: its objects in a fixed (alphabetical) order, or "nothing"."""
    return " and ".join(sorted(describe(o) for o in shown)) if shown else NOTHING


def view_description(objects: list[ShapeObject], shares: np.ndarray) -> str | None:
    """The text of one view, or None when an object is only partly in it (ambiguous)."""
    if np.any((shares > AMBIGUOUS) & (shares < VISIBLE)):
        return None
    return description([o for o, s in zip(objects, shares, strict=True) if s >= VISIBLE])


def hard_negatives(shown: list[ShapeObject]) -> list[str]:
    """Descriptions that differ from ``shown`` in exactly one attribute of one object (shape, colour or size).

    Batches of random views rarely hold two texts that differ only in a shape, so without these the
    sigmoid loss is minimised by colour and size alone.
    """
    out = []
    for i, obj in enumerate(shown):
        variants = [dataclasses.replace(obj, shape=s) for s in SHAPES if s != obj.shape]
        variants += [dataclasses.replace(obj, colour=c) for c in COLOURS if c != obj.colour]
        variants += [dataclasses.replace(obj, size=z) for z in SIZES if z != obj.size]
        out += [description(shown[:i] + [v] + shown[i + 1:]) for v in variants]
    return out


def pretraining_scene(seed: int, index: int, width: int = 512,
                      height: int = 256) -> tuple[np.ndarray, list[ShapeObject], str]:
    """Scene ``index`` of the pretraining stream: (ERP ``(H, W, 3)`` uint8, turned objects, background level).

    Deterministic by ``(seed, index)``; both background levels, half each in expectation.
    """
    rng = np.random.default_rng([PRETRAIN_STREAM, int(seed), int(index)])
    objects = turned(sample_scene(rng), float(rng.uniform(-180.0, 180.0)))
    level = BACKGROUND_LEVELS[int(rng.integers(len(BACKGROUND_LEVELS)))]
    image, _ = render_panorama(objects, width, height, rng, level)
    return image, objects, level


__all__ = ["VISIBLE", "AMBIGUOUS", "PRETRAIN_STREAM", "turned", "object_rays", "visibility", "description",
           "view_description", "hard_negatives", "pretraining_scene"]
