"""Direction words for views: how the project names where a view looks.

One vocabulary for every place that puts a direction into words: the demo's view labels and the
view tags the model can read in front of each view's tokens (``PanoLLaVaConfig.view_tags``). Yaw 0
is "front" and positive yaw turns right (:mod:`panovlm.geometry`); horizon views get the nearest of
eight 45-degree sectors, steep views "above" / "below", the whole-sphere view "panorama".
"""

from __future__ import annotations

from panovlm.geometry import View, wrap_yaw

COMPASS: tuple[tuple[float, str], ...] = (
    (0.0, "front"), (45.0, "front-right"), (90.0, "right"), (135.0, "behind-right"), (-180.0, "behind"),
    (-135.0, "behind-left"), (-90.0, "left"), (-45.0, "front-left"))
STEEP_PITCH_DEG = 45.0


def direction_name(yaw_deg: float, pitch_deg: float) -> str:
    """The nearest compass word (front, front-right, right, ... front-left), or above / below for steep pitches."""
    if pitch_deg >= STEEP_PITCH_DEG:
        return "above"
    if pitch_deg <= -STEEP_PITCH_DEG:
        return "below"
    return min(COMPASS, key=lambda item: abs(float(wrap_yaw(yaw_deg - item[0]))))[1]


def view_tag(view: View) -> str:
    """The word(s) naming ``view``: "panorama" for a view of the whole sphere, else its direction."""
    if view.hfov_deg >= 360.0:
        return "panorama"
    return direction_name(view.yaw_deg, view.pitch_deg)
