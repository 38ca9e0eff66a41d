"""Heads without the language model, built from the same module classes.

* ``PanoLLaVaForVICReg``: stage-1 training alone (``vision_tower``, ``resampler``, ``vicreg_projector``).
* ``PanoLLaVaForFeatureExtraction``: ``vision_tower`` + ``resampler`` -> pooled ``(B, Dl)`` embedding.

Their parameter names match ``PanoLLaVaForConditionalGeneration``'s, so either loads the other's
checkpoint (the LM / projector weights are simply not used).
"""

from __future__ import annotations

from typing import Any

import torch

from ..geometry import ViewPlan
from .configuration_panollava import PanoLLaVaConfig
from .modeling_outputs import PanoLLaVaFeatureOutput, VisionStageOutput
from .modeling_panollava import PanoLLaVaPreTrainedModel
from .modeling_parts import (
    PanoLLaVaVisionMixin,
    as_views,
    build_resampler_for,
    build_vicreg_projector,
    build_vision_tower,
)

POOLINGS: tuple[str, ...] = ("mean", "max", "first")
# Parts of a full checkpoint a head does not have: expected when loading it, not worth a load report.
_NOT_IN_HEADS = [r"^language_model\.", r"^projector\."]


class PanoLLaVaForVICReg(PanoLLaVaVisionMixin, PanoLLaVaPreTrainedModel):
    """Vision stage only: ``forward(pixel_values, view_plan=None) -> VisionStageOutput``."""

    _keys_to_ignore_on_load_unexpected = _NOT_IN_HEADS

    def __init__(self, config: PanoLLaVaConfig) -> None:
        super().__init__(config)
        self.vision_tower = build_vision_tower(config)
        self.resampler = build_resampler_for(config, self.vision_tower)
        self.vicreg_projector = build_vicreg_projector(config)
        self.post_init()

    def forward(self, pixel_values: torch.Tensor, view_plan: ViewPlan | None = None, **kwargs: Any) -> VisionStageOutput:
        return self.vision_stage(pixel_values, view_plan)


class PanoLLaVaForFeatureExtraction(PanoLLaVaVisionMixin, PanoLLaVaPreTrainedModel):
    """Panorama embedding: resampler tokens of all views pooled by ``mean`` / ``max`` / ``first``."""

    _keys_to_ignore_on_load_unexpected = [*_NOT_IN_HEADS, r"^vicreg_projector\."]

    def __init__(self, config: PanoLLaVaConfig) -> None:
        super().__init__(config)
        self.vision_tower = build_vision_tower(config)
        self.resampler = build_resampler_for(config, self.vision_tower)
        self.post_init()

    def forward(self, pixel_values: torch.Tensor, pooling: str = "mean", view_plan: ViewPlan | None = None,
                **kwargs: Any) -> PanoLLaVaFeatureOutput:
        """``(B, V, 3, S, S)`` -> ``pooled_output (B, Dl)``, ``last_hidden_state (B, V * S', Dl)``."""
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {list(POOLINGS)}, got {pooling!r}")
        pixel_values = as_views(pixel_values)
        self.resolve_plan(view_plan, pixel_values.shape[1])
        tokens = self.encode_views(pixel_values).flatten(1, 2)  # (B, V * S', Dl)
        if pooling == "mean":
            pooled = tokens.mean(dim=1)
        elif pooling == "max":
            pooled = tokens.amax(dim=1)
        else:
            pooled = tokens[:, 0]
        return PanoLLaVaFeatureOutput(pooled_output=pooled, last_hidden_state=tokens)


__all__ = ["PanoLLaVaForVICReg", "PanoLLaVaForFeatureExtraction", "POOLINGS"]
