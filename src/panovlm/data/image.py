"""``PanoramaImageProcessor``: one ERP panorama -> normalised views ``(V, 3, S_h, S_w)``.

The constructor and call are those of the seed API; the class is also a transformers
``BaseImageProcessor``, so it saves and loads with ``save_pretrained`` / ``from_pretrained`` /
``AutoImageProcessor`` and ``preprocess(images, return_tensors="pt")`` returns
``BatchFeature({"pixel_values": (B, V, 3, S_h, S_w)})``.

Per image: decode (:func:`panovlm.data.io.load_image`) -> area prefilter -> one remap per
prefilter level (:class:`panovlm.data.projection.Projector`) -> one fused normalisation.
The view plan is fixed at construction, so ``view_plan``, ``num_views`` and ``tile_metas`` are
known before any image is seen and are the same for every image.

Departures from the origin (see also :mod:`panovlm.plans`):

* ``anyres_e2p_base_size`` / ``anyres_e2p_tile_size`` are validated and saved for the seed API
  but do not set intermediate render sizes: every view is rendered directly at its output size
  from an area-prefiltered ERP (better anti-aliasing, far faster). For ``anyres_e2p`` the output
  size is ``anyres_e2p_vit_size`` (square) when set, else ``image_size``.
* ``tile_metas`` exists for every strategy (``e2p`` tiles are the whole ring), and each meta's
  ``view_index`` is the tile's position in the views tensor.
* Normalisation defaults to SigLIP's mean/std (0.5, 0.5, 0.5), and is applied on every path.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers.feature_extraction_utils import BatchFeature
from transformers.image_processing_utils import BaseImageProcessor

from panovlm.data.io import DEFAULT_MAX_PIXELS, ImageSource, load_image
from panovlm.data.projection import Projector
from panovlm.geometry import ViewPlan
from panovlm.plans import DEFAULT_SPEC, ViewPlanSpec, check_image_size

logger = logging.getLogger(__name__)

SIGLIP_MEAN = (0.5, 0.5, 0.5)
SIGLIP_STD = (0.5, 0.5, 0.5)

CONFIG_KEYS = (
    "image_size", "crop_strategy", "fov_deg", "overlap_ratio", "normalize", "image_mean", "image_std",
    "anyres_e2p_base_size", "anyres_e2p_tile_size", "anyres_e2p_vit_size", "anyres_e2p_closed_loop",
    "anyres_e2p_pitch_range", "global_mode", "cubemap_poles", "antialias", "supersample", "max_pixels", "strict_aspect",
)


class PanoramaImageProcessor(BaseImageProcessor):
    """Cuts an equirectangular panorama into the views of a crop strategy and normalises them.

    Args:
        image_size: (H, W) of every view (an int means square).
        crop_strategy: one of ``panovlm.plans.STRATEGIES``; ``"e2p"`` (the seed's default) or
            ``"anyres_e2p"`` (global view + tile grid, the main strategy).
        fov_deg, overlap_ratio: tile field of view (0, 180) and overlap [0, 1).
        normalize, image_mean, image_std: ``(x / 255 - mean) / std`` per channel when ``normalize``.
        anyres_e2p_*: the seed's AnyRes-E2P parameters (see the module docstring).
        global_mode: ``"squash"`` or ``"letterbox"`` for the AnyRes-E2P global view.
        cubemap_poles: ``cubemap`` adds the top and bottom faces (6 faces instead of 4).
        antialias: area-prefilter the ERP to each view's resolution before remapping.
        supersample: render at k x the view size and area-average (k = 2: about half the aliasing
            error for about 3x the render time; see benchmarks/projection.py).
        max_pixels: decompression-bomb guard for files (``None``: no limit).
        strict_aspect: raise instead of warning for images that are not about 2:1.
    """

    model_input_names = ["pixel_values"]

    def __init__(
        self,
        image_size: int | Sequence[int] = DEFAULT_SPEC.image_size,
        crop_strategy: str = "e2p",  # the seed processor's default (the model config's is "anyres_e2p")
        fov_deg: float = DEFAULT_SPEC.fov_deg,
        overlap_ratio: float = DEFAULT_SPEC.overlap_ratio,
        normalize: bool = True,
        image_mean: Sequence[float] = SIGLIP_MEAN,
        image_std: Sequence[float] = SIGLIP_STD,
        anyres_e2p_base_size: int = 336,
        anyres_e2p_tile_size: int = 672,
        anyres_e2p_vit_size: int | None = None,
        anyres_e2p_closed_loop: bool = DEFAULT_SPEC.closed_loop,
        anyres_e2p_pitch_range: Sequence[float] = DEFAULT_SPEC.pitch_range,
        global_mode: str = DEFAULT_SPEC.global_mode,
        cubemap_poles: bool = DEFAULT_SPEC.cubemap_poles,
        antialias: bool = True,
        supersample: int = 1,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
        strict_aspect: bool = False,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("image_processor_type", None)
        super().__init__(**kwargs)
        self.image_size = list(check_image_size(image_size))
        self.anyres_e2p_vit_size = (None if anyres_e2p_vit_size is None
                                    else _positive_int("anyres_e2p_vit_size", anyres_e2p_vit_size, minimum=2))
        size = self.image_size
        if crop_strategy == "anyres_e2p" and self.anyres_e2p_vit_size is not None:
            size = [self.anyres_e2p_vit_size, self.anyres_e2p_vit_size]
        # The flat arguments are the seed's front door; the spec validates them (one rule per setting).
        spec = ViewPlanSpec(crop_strategy, size, fov_deg, overlap_ratio, anyres_e2p_closed_loop,
                            anyres_e2p_pitch_range, global_mode, cubemap_poles)
        self._plan_spec = spec
        self.crop_strategy, self.fov_deg, self.overlap_ratio = spec.strategy, spec.fov_deg, spec.overlap_ratio
        self.anyres_e2p_closed_loop, self.anyres_e2p_pitch_range = spec.closed_loop, list(spec.pitch_range)
        self.global_mode, self.cubemap_poles = spec.global_mode, spec.cubemap_poles
        self.normalize = bool(normalize)
        self.image_mean = _triple("image_mean", image_mean)
        self.image_std = _triple("image_std", image_std, positive=True)
        self.anyres_e2p_base_size = _positive_int("anyres_e2p_base_size", anyres_e2p_base_size)
        self.anyres_e2p_tile_size = _positive_int("anyres_e2p_tile_size", anyres_e2p_tile_size)
        self.antialias = bool(antialias)
        self.supersample = _positive_int("supersample", supersample)
        self.max_pixels = None if max_pixels is None else _positive_int("max_pixels", max_pixels)
        self.strict_aspect = bool(strict_aspect)
        self._build()

    @classmethod
    def from_spec(cls, spec: ViewPlanSpec, **kwargs: Any) -> PanoramaImageProcessor:
        """The processor of ``spec``'s plan; ``kwargs`` are the other settings (normalisation, antialias...)."""
        return cls(**spec.to_flat(), **kwargs)

    def _build(self) -> None:
        self._view_plan = self._plan_spec.build()
        self._projector = Projector(self._view_plan, antialias=self.antialias, supersample=self.supersample)
        mean = np.asarray(self.image_mean, dtype=np.float32)
        std = np.asarray(self.image_std, dtype=np.float32) if self.normalize else np.ones(3, np.float32)
        mean = mean if self.normalize else np.zeros(3, np.float32)
        # (x / 255 - mean) / std == x * scale + offset: two in-place passes over the views.
        self._scale = torch.from_numpy(1.0 / (255.0 * std)).view(1, 3, 1, 1)
        self._offset = torch.from_numpy(-mean / std).view(1, 3, 1, 1)

    @property
    def plan_spec(self) -> ViewPlanSpec:
        """The validated spec of the views (for ``anyres_e2p`` its size is ``anyres_e2p_vit_size`` when set)."""
        return self._plan_spec

    @property
    def view_plan(self) -> ViewPlan:
        return self._view_plan

    @property
    def num_views(self) -> int:
        return len(self._view_plan)

    @property
    def tile_metas(self) -> list[dict]:
        """One dict per tile: tile_id, view_index, yaw_deg, pitch_deg, hfov_deg, vfov_deg, center_xyz."""
        return self._view_plan.tile_metas()

    def __call__(self, images: ImageSource | Sequence[ImageSource], return_metadata: bool = False,
                 **kwargs: Any) -> Any:
        """One image -> ``(V, 3, S_h, S_w)`` float tensor (and metadata if ``return_metadata``).

        A list/tuple of images, or any ``return_tensors`` argument, gives the transformers
        behaviour instead: :meth:`preprocess` -> ``BatchFeature``.
        """
        if isinstance(images, (list, tuple)) or kwargs:
            if return_metadata:
                raise ValueError("return_metadata=True takes a single image; call it once per image")
            return self.preprocess(images, **kwargs)
        erp = load_image(images, max_pixels=self.max_pixels, strict_aspect=self.strict_aspect)
        views = self.views_from_array(erp)
        if not return_metadata:
            return views
        return views, self.metadata(erp.shape[1], erp.shape[0], images)

    def views_from_array(self, erp: np.ndarray) -> torch.Tensor:
        """RGB uint8 ERP ``(H, W, 3)`` -> normalised views ``(V, 3, S_h, S_w)`` float32."""
        # Transpose while still uint8 (4x less memory traffic than a strided float conversion).
        chw = np.ascontiguousarray(self._projector.render(erp).transpose(0, 3, 1, 2))  # (V, 3, S_h, S_w) uint8
        return torch.from_numpy(chw).to(torch.float32).mul_(self._scale).add_(self._offset)

    def metadata(self, erp_width: int, erp_height: int, source: object = None) -> dict:
        """The per-image metadata: the plan, its views, tile metas, source path and ERP size (W, H)."""
        return {
            "view_plan": self._view_plan,
            "views": self._view_plan.to_dict()["views"],
            "tile_metas": self.tile_metas,
            "source": str(source) if isinstance(source, (str, Path)) else None,
            "erp_size": (int(erp_width), int(erp_height)),
        }

    def preprocess(self, images: ImageSource | Sequence[ImageSource], return_tensors: str | None = "pt",
                   **kwargs: Any) -> BatchFeature:
        """Images -> ``BatchFeature({"pixel_values": (B, V, 3, S_h, S_w)})``."""
        if kwargs:
            raise TypeError(f"unexpected preprocess arguments {sorted(kwargs)}; the view plan is fixed at construction")
        if return_tensors not in (None, "pt", "np"):
            raise ValueError(f"return_tensors must be 'pt', 'np' or None, got {return_tensors!r}")
        batch = list(images) if isinstance(images, (list, tuple)) else [images]
        pixel_values = torch.stack([self(image) for image in batch])  # (B, V, 3, S_h, S_w)
        if return_tensors == "np":
            return BatchFeature({"pixel_values": pixel_values.numpy()})
        return BatchFeature({"pixel_values": pixel_values})

    def to_dict(self) -> dict[str, Any]:
        out = {key: getattr(self, key) for key in CONFIG_KEYS}
        for key in ("image_size", "image_mean", "image_std", "anyres_e2p_pitch_range"):
            out[key] = list(out[key])
        if getattr(self, "auto_map", None):
            out["auto_map"] = self.auto_map
        out["image_processor_type"] = type(self).__name__
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={getattr(self, k)!r}' for k in CONFIG_KEYS)})"


def _triple(name: str, value: Sequence[float], positive: bool = False) -> list[float]:
    values = [float(v) for v in (value if isinstance(value, (list, tuple, np.ndarray)) else [value] * 3)]
    if len(values) != 3 or (positive and min(values) <= 0):
        raise ValueError(f"{name} must be 3 floats{' > 0' if positive else ''} (one per RGB channel), got {value!r}")
    return values


def _positive_int(name: str, value: int, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)
