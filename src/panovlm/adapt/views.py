"""The adapter's view plan, its visual-token budget and the ray of every visual token.

``views`` mode: the configured plan (default ``anyres_e2p``: 1 global + 8 tiles) of square views.
``native`` mode: the ERP as one ``resize`` view (2:1 for Qwen2.5-VL, which takes any multiple of
28 px; square for InternVL, whose tower reads square tiles). Both are ViewPlans, so the renderer,
the token rays and the overlap pairs come from ``panovlm.geometry`` for either mode.

Shapes: a view's token grid is ``(h, w) = (H / 28, W / 28)``; ``token_rays`` gives ``(h, w, 3)`` per view.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from panovlm.adapt.config import AdaptSettings
from panovlm.adapt.families import Family, visual_grid
from panovlm.geometry import ViewPlan, token_centers, view_pixel_to_ray
from panovlm.plans import build_view_plan

logger = logging.getLogger(__name__)


def _native_size(family: Family, size: int) -> tuple[int, int]:
    return (size, size) if family.name == "internvl" else (size, 2 * size)


def build_plan(settings: AdaptSettings, family: Family, view_size: int | None = None) -> ViewPlan:
    """The plan of ``settings`` at ``view_size`` px (default: the settings' own)."""
    size = settings.view_size if view_size is None else view_size
    if settings.adapt_mode == "native":
        return build_view_plan("resize", _native_size(family, size))
    return build_view_plan(settings.crop_strategy, (size, size), settings.fov_deg, settings.overlap_ratio,
                           pitch_range=tuple(settings.pitch_range), global_mode=settings.global_mode)


def view_grids(plan: ViewPlan, family: Family) -> list[tuple[int, int]]:
    """Token grid ``(h, w)`` of every view of ``plan``."""
    return [visual_grid(family, v.height, v.width) for v in plan.views]


def visual_tokens(plan: ViewPlan, family: Family) -> int:
    """Visual tokens the LM reads per panorama (image placeholders; tags and delimiters not counted)."""
    return sum(h * w for h, w in view_grids(plan, family))


def fit_plan(settings: AdaptSettings, family: Family) -> ViewPlan:
    """The plan at the settings' view size, or at the largest smaller one within ``max_visual_tokens``.

    Raises ValueError naming ``model.max_visual_tokens`` when even 28 px views exceed the cap.
    """
    plan = build_plan(settings, family)
    cap = settings.max_visual_tokens
    if cap is None or visual_tokens(plan, family) <= cap:
        return plan
    unit = family.token_px
    for size in range(settings.view_size - unit, unit - 1, -unit):
        smaller = build_plan(settings, family, size)
        if visual_tokens(smaller, family) <= cap:
            logger.info("max_visual_tokens=%d: view size %d px -> %d px (%d -> %d visual tokens per panorama)",
                        cap, settings.view_size, size, visual_tokens(plan, family), visual_tokens(smaller, family))
            return smaller
    least = visual_tokens(build_plan(settings, family, unit), family)
    raise ValueError(f"config key 'model.max_visual_tokens': got {cap}, expected >= {least} (the {len(plan)} views "
                     f"of {plan.strategy!r} need {least} tokens even at {unit} px); raise the cap or use fewer views")


def effective_settings(settings: AdaptSettings, plan: ViewPlan) -> AdaptSettings:
    """``settings`` with ``view_size`` set to the plan's (what the run config records)."""
    return dataclasses.replace(settings, view_size=int(plan.views[0].height))


def token_rays(plan: ViewPlan, family: Family) -> list[np.ndarray]:
    """Unit ray of every visual token's centre, ``(h, w, 3)`` per view, row-major as the model emits them."""
    out = []
    for view, grid in zip(plan.views, view_grids(plan, family), strict=True):
        cols, rows = token_centers(view, grid)  # (h, w) each
        out.append(view_pixel_to_ray(view, cols, rows))  # (h, w, 3)
    return out


def token_size_deg(plan: ViewPlan, family: Family) -> float:
    """The largest angular size of one visual token over the views (horizontal fov / tokens across)."""
    return max(v.hfov_deg / g[1] for v, g in zip(plan.views, view_grids(plan, family), strict=True))
