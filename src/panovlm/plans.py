"""View plans: which views each crop strategy cuts from a panorama.

:class:`ViewPlanSpec` is the one description of a plan (strategy, view size, field of view, overlap,
ring / pitch / global-view / cubemap options), validated once where it is made. The model config and
the image processor both hold one (and save it as their flat keys, ``crop_strategy``, ``fov_deg``,
``anyres_e2p_*``); ``spec.build()`` gives the :class:`~panovlm.geometry.ViewPlan` that the processor,
the overlap losses, the positional encoding and the visualiser read.

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
import numbers
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from panovlm.geometry import View, ViewPlan, wrap_yaw

Strategy = Literal["e2p", "anyres_e2p", "cubemap", "sliding_window", "resize"]
GlobalMode = Literal["squash", "letterbox"]
STRATEGIES: tuple[str, ...] = ("e2p", "anyres_e2p", "cubemap", "sliding_window", "resize")
GLOBAL_MODES: tuple[str, ...] = ("squash", "letterbox")
# Spec field -> its key in saved configs and in the seed's keyword arguments (the names errors use).
FLAT_KEYS: dict[str, str] = {
    "strategy": "crop_strategy", "image_size": "image_size", "fov_deg": "fov_deg", "overlap_ratio": "overlap_ratio",
    "closed_loop": "anyres_e2p_closed_loop", "pitch_range": "anyres_e2p_pitch_range", "global_mode": "global_mode",
    "cubemap_poles": "cubemap_poles",
}


# ---------------------------------------------------------------------- one rule per setting
def check_choice(name: str, value: object, valid: tuple[str, ...]) -> str:
    if value not in valid:
        raise ValueError(f"{name} must be one of {list(valid)}, got {value!r}")
    return str(value)


def check_image_size(value: object, name: str = "image_size") -> tuple[int, int]:
    """``(H, W)`` of an int (square) or a pair, each an int >= 2 (a view smaller than 2 x 2 has no centre)."""
    pair = [value, value] if _is_int(value) else value
    try:
        pair = list(pair)
    except TypeError:
        pair = []
    if len(pair) != 2 or not all(_is_int(v) and v >= 2 for v in pair):
        raise ValueError(f"{name} must be an int >= 2 or two ints (height, width) >= 2, got {value!r}")
    return int(pair[0]), int(pair[1])


def check_fov(value: object) -> float:
    fov = _number("fov_deg", value, "(0, 180)")
    if not 0.0 < fov < 180.0:
        raise ValueError(f"fov_deg must be in (0, 180), got {fov}")
    return fov


def check_overlap_ratio(value: object) -> float:
    """``overlap_ratio`` in [0, 1): 0 gives abutting tiles (a plan without overlap is still a plan)."""
    ratio = _number("overlap_ratio", value, "[0, 1)")
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"overlap_ratio must be in [0, 1), got {ratio}")
    return ratio


def check_pitch_range(value: object) -> tuple[float, float]:
    try:
        pair = tuple(float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        pair = ()
    if len(pair) != 2 or not -90.0 <= pair[0] <= pair[1] <= 90.0:
        raise ValueError(f"anyres_e2p_pitch_range must be (min, max) with -90 <= min <= max <= 90, got {value!r}")
    return pair  # type: ignore[return-value]


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)  # numpy ints are Integral


def _number(name: str, value: object, valid: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number in {valid}, got {value!r}")
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in {valid}, got {value!r}") from None


# ---------------------------------------------------------------------- the spec
@dataclass(frozen=True)
class ViewPlanSpec:
    """What a view plan is made of; validated and normalised on construction, hashable, JSON-able.

    Attributes:
        strategy: one of ``STRATEGIES`` (saved as ``crop_strategy``).
        image_size: (H, W) of every view (an int means square).
        fov_deg: field of view of a tile, in (0, 180); ``cubemap`` needs >= 90.
        overlap_ratio: overlap of neighbouring tiles, in [0, 1).
        closed_loop: ``anyres_e2p`` ring closes over 360 degrees (saved as ``anyres_e2p_closed_loop``).
        pitch_range: ``anyres_e2p`` tile rows stay inside (min, max) (saved as ``anyres_e2p_pitch_range``).
        global_mode: ``"squash"`` or ``"letterbox"`` for the ``anyres_e2p`` global view.
        cubemap_poles: ``cubemap`` adds the top and bottom faces.

    The defaults reproduce the origin's AnyRes-E2P layout: 1 global view + 8 tiles at pitch 0 and
    yaw 0, 45, ..., 135, -180, ..., -45.
    """

    strategy: str = "anyres_e2p"
    image_size: tuple[int, int] = (224, 224)
    fov_deg: float = 90.0
    overlap_ratio: float = 0.5
    closed_loop: bool = True
    pitch_range: tuple[float, float] = (-45.0, 45.0)
    global_mode: str = "squash"
    cubemap_poles: bool = False

    def __post_init__(self) -> None:
        values = {
            "strategy": check_choice("crop_strategy", self.strategy, STRATEGIES),
            "image_size": check_image_size(self.image_size),
            "fov_deg": check_fov(self.fov_deg),
            "overlap_ratio": check_overlap_ratio(self.overlap_ratio),
            "closed_loop": bool(self.closed_loop),
            "pitch_range": check_pitch_range(self.pitch_range),
            "global_mode": check_choice("global_mode", self.global_mode, GLOBAL_MODES),
            "cubemap_poles": bool(self.cubemap_poles),
        }
        if values["strategy"] == "cubemap" and values["fov_deg"] < 90.0:
            raise ValueError(f"cubemap faces need fov_deg >= 90 to cover the sphere, got {values['fov_deg']}")
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def build(self) -> ViewPlan:
        """The :class:`~panovlm.geometry.ViewPlan` of this spec."""
        return _build(self)

    def to_dict(self) -> dict[str, Any]:
        """The fields, JSON-ready (pairs as lists)."""
        out = asdict(self)
        out["image_size"], out["pitch_range"] = list(self.image_size), list(self.pitch_range)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ViewPlanSpec:
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown ViewPlanSpec field(s) {unknown}; valid: {sorted(f.name for f in fields(cls))}")
        return cls(**data)

    def to_flat(self) -> dict[str, Any]:
        """The fields under their flat keys (``crop_strategy``, ``anyres_e2p_*``...), JSON-ready."""
        return {FLAT_KEYS[name]: value for name, value in self.to_dict().items()}

    @classmethod
    def from_flat(cls, source: Mapping[str, Any] | object) -> ViewPlanSpec:
        """The spec of the flat keys of a mapping or of an object's attributes (a model config, an image processor)."""
        get = source.get if isinstance(source, Mapping) else lambda key, default: getattr(source, key, default)
        defaults = cls()
        return cls(**{name: get(key, getattr(defaults, name)) for name, key in FLAT_KEYS.items()})


DEFAULT_SPEC = ViewPlanSpec()


def plan_mismatch(plan: ViewPlan, reference: ViewPlan) -> str | None:
    """How ``plan``'s view directions differ from ``reference``'s (None when they look the same way).

    Views are compared by kind, direction, field of view, projection and letterbox; their pixel size
    is left to the vision tower, which checks it.
    """
    if len(plan) != len(reference):
        return f"{len(plan)} views ({plan.strategy}) against {len(reference)} ({reference.strategy})"
    for i, (a, b) in enumerate(zip(plan.views, reference.views, strict=True)):
        ours = (a.kind, a.projection, a.yaw_deg, a.pitch_deg, a.hfov_deg, a.vfov_deg, a.letterbox)
        theirs = (b.kind, b.projection, b.yaw_deg, b.pitch_deg, b.hfov_deg, b.vfov_deg, b.letterbox)
        if not all(x == y if isinstance(x, str) else math.isclose(x, y, abs_tol=1e-6)
                   for x, y in zip(ours, theirs, strict=True)):
            return (f"view {i} is a {a.kind} at yaw {a.yaw_deg:g}, pitch {a.pitch_deg:g}, fov {a.hfov_deg:g} "
                    f"against a {b.kind} at yaw {b.yaw_deg:g}, pitch {b.pitch_deg:g}, fov {b.hfov_deg:g}")
    return None


# ---------------------------------------------------------------------- building blocks
def ring_yaws(fov_deg: float, overlap_ratio: float, closed_loop: bool = True) -> list[float]:
    """Yaw centres of a ring of tiles: 0 first, then going right, wrapping through -180.

    Closed loop: N = ceil(360 / (fov * (1 - overlap))) tiles re-spaced to 360 / N.
    Open: the origin's interval rule, tiles from -180 + fov / 2 while the tile stays inside the ERP.
    """
    fov_deg, overlap_ratio = check_fov(fov_deg), check_overlap_ratio(overlap_ratio)
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
    lo, hi = check_pitch_range(pitch_range)
    if lo == hi:
        return [lo]
    step = vfov_deg * (1.0 - overlap_ratio)
    rows, pitch = [], lo + vfov_deg / 2.0
    while pitch <= hi - vfov_deg / 2.0 + 1e-9:
        rows.append(pitch)
        pitch += step
    return rows or [(lo + hi) / 2.0]


def _tile(yaw: float, pitch: float, fov: float, size: tuple[int, int]) -> View:
    return View("tile", float(yaw), float(pitch), fov, fov, width=size[1], height=size[0])


def global_view(size: tuple[int, int], mode: GlobalMode = "squash") -> View:
    """The whole sphere as one equirect view."""
    check_choice("global_mode", mode, GLOBAL_MODES)
    h, w = size
    letterbox = max(0.0, 1.0 - (w / 2.0) / h) if mode == "letterbox" else 0.0
    return View("global", 0.0, 0.0, 360.0, 180.0, width=w, height=h, projection="equirect", letterbox=letterbox)


def build_view_plan(
    strategy: str = DEFAULT_SPEC.strategy,
    image_size: tuple[int, int] = DEFAULT_SPEC.image_size,
    fov_deg: float = DEFAULT_SPEC.fov_deg,
    overlap_ratio: float = DEFAULT_SPEC.overlap_ratio,
    closed_loop: bool = DEFAULT_SPEC.closed_loop,
    pitch_range: tuple[float, float] = DEFAULT_SPEC.pitch_range,
    global_mode: str = DEFAULT_SPEC.global_mode,
    cubemap_poles: bool = DEFAULT_SPEC.cubemap_poles,
) -> ViewPlan:
    """The plan of ``strategy`` (``ViewPlanSpec(...).build()`` in keyword form; ``image_size`` is (H, W))."""
    return ViewPlanSpec(strategy, image_size, fov_deg, overlap_ratio, closed_loop, pitch_range, global_mode,
                        cubemap_poles).build()


def _build(spec: ViewPlanSpec) -> ViewPlan:
    strategy, size, fov_deg, overlap_ratio = spec.strategy, spec.image_size, spec.fov_deg, spec.overlap_ratio
    params: dict[str, object] = {"fov_deg": fov_deg, "image_size": size}
    if strategy == "e2p":
        views = [_tile(y, 0.0, fov_deg, size) for y in ring_yaws(fov_deg, overlap_ratio)]
    elif strategy == "anyres_e2p":
        rows = pitch_rows(fov_deg, overlap_ratio, spec.pitch_range)
        yaws = ring_yaws(fov_deg, overlap_ratio, spec.closed_loop)
        views = [global_view(size, spec.global_mode)] + [_tile(y, p, fov_deg, size) for p in rows for y in yaws]
        params.update(closed_loop=spec.closed_loop, pitch_range=spec.pitch_range, global_mode=spec.global_mode)
    elif strategy == "cubemap":
        faces = [(0.0, 0.0), (90.0, 0.0), (-180.0, 0.0), (-90.0, 0.0)]
        if spec.cubemap_poles:
            faces += [(0.0, 90.0), (0.0, -90.0)]
        # Faces wider than 90 degrees overlap their neighbours by (fov - 90) degrees (the overlap loss needs it).
        views = [_tile(y, p, fov_deg, size) for y, p in faces]
        overlap_ratio = (fov_deg - 90.0) / fov_deg
        params.update(cubemap_poles=spec.cubemap_poles)
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
