"""Looking around a panorama: one perspective view at a chosen direction, and clicks on the ERP.

The view is rendered by the project's own projector (:class:`panovlm.data.projection.Projector`), so
what the demo shows is exactly the camera model the image processor uses; a render takes a few
milliseconds, which is what lets the page follow the user's clicks and sliders without a third-party
viewer. Direction names follow the project's convention (yaw 0 is the ERP centre column, positive
yaw turns right, positive pitch looks up; :mod:`panovlm.geometry`).

Shapes: ERP ``(H, W, 3)`` uint8; a look view ``(S_h, S_w, 3)`` uint8.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from panovlm.data.projection import Projector
from panovlm.directions import direction_name
from panovlm.geometry import View, ViewPlan, erp_to_angles, wrap_yaw


@dataclass(frozen=True)
class Look:
    """Where the user looks: yaw / pitch of the view centre and its horizontal field of view (degrees)."""

    yaw_deg: float = 0.0
    pitch_deg: float = 0.0
    fov_deg: float = 90.0

    def __post_init__(self) -> None:
        if not -90.0 <= self.pitch_deg <= 90.0:
            raise ValueError(f"pitch_deg must be in [-90, 90], got {self.pitch_deg}")
        if not 10.0 <= self.fov_deg <= 150.0:
            raise ValueError(f"fov_deg must be in [10, 150], got {self.fov_deg}")

    def view(self, size_hw: tuple[int, int]) -> View:
        """The perspective view of this look at ``size_hw`` = (H, W) pixels (vertical fov from the aspect)."""
        h, w = int(size_hw[0]), int(size_hw[1])
        half = np.radians(self.fov_deg) / 2.0
        # The projector's fov spans the edge pixel centres, so the vertical tangent scales with (H - 1) / (W - 1).
        vfov = float(np.degrees(2.0 * np.arctan(np.tan(half) * (h - 1) / (w - 1))))
        return View("tile", float(wrap_yaw(self.yaw_deg)), float(self.pitch_deg), float(self.fov_deg), vfov,
                    width=w, height=h)


def render_look(erp: np.ndarray, look: Look, size_hw: tuple[int, int] = (288, 384)) -> np.ndarray:
    """The ERP seen through ``look`` as a ``(H, W, 3)`` uint8 picture (area-prefiltered like the model's views)."""
    plan = ViewPlan(views=(look.view(size_hw),), strategy="look")
    return Projector(plan).render(erp)[0]  # (H, W, 3)


def look_from_click(col: float, row: float, erp_width: int, erp_height: int, fov_deg: float) -> Look:
    """The look centred on the ERP pixel (``col``, ``row``) the user clicked."""
    if not (0 <= col < erp_width and 0 <= row < erp_height):
        raise ValueError(f"click ({col}, {row}) lies outside the {erp_width}x{erp_height} panorama")
    yaw, pitch = erp_to_angles(np.asarray(col, float), np.asarray(row, float), erp_width, erp_height)
    return Look(float(yaw), float(np.clip(pitch, -90.0, 90.0)), fov_deg)


def view_label(view: View) -> str:
    """How the demo names one view the model receives, e.g. ``"tile: front (yaw +0, pitch +0)"``."""
    if view.kind == "global":
        return "global: the whole panorama"
    return (f"{view.kind}: {direction_name(view.yaw_deg, view.pitch_deg)} "
            f"(yaw {view.yaw_deg:+.0f}, pitch {view.pitch_deg:+.0f})")
