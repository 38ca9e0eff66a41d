"""Building blocks shared by every PanoLLaVA head (one definition, reused, never copied).

``PanoLLaVaVisionMixin`` owns the path ``pixel_values -> vision_tower -> resampler`` and the
overlap loss of the vision stage; ``PanoLLaVaProjector`` is the ``projector`` module group
(ray positional encoding + Linear to the LM width).

Shapes: B panoramas, V views, S patch tokens per view on the (gh, gw) grid, S' resampler tokens
per view on ``resampler.output_grid`` (h, w) or a query set, Dv vision width, Dl latent width
(``latent_dimension``), Dp VICReg width, Dlm LM width.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from ..geometry import ViewPlan
from ..losses.matching import check_overlap
from ..losses.overlap import overlap_loss
from ..losses.projector import VICRegProjector
from ..plans import plan_mismatch
from .configuration_panollava import PanoLLaVaConfig
from .modeling_outputs import VisionStageOutput
from .positional import RayPositionalEncoding
from .resamplers import build_resampler, count_tokens
from .vision import VisionBackbone, patch_grid

logger = logging.getLogger(__name__)


def build_vision_tower(config: PanoLLaVaConfig) -> nn.Module:
    """``VisionBackbone`` around a randomly initialised HF vision model of ``config.vision_config``."""
    return VisionBackbone(VisionBackbone.build_vision_model(config.vision_config), image_size=config.image_hw)


def build_resampler_for(config: PanoLLaVaConfig, vision_tower: nn.Module) -> nn.Module:
    return build_resampler(config.resampler_type, vision_tower.hidden_size, config.latent_dimension,
                           vision_tower.grid_hw, **config.resampler_options())


def build_vicreg_projector(config: PanoLLaVaConfig) -> nn.Module:
    return VICRegProjector(config.latent_dimension, config.vicreg_projector_dim,
                           hidden_dim=config.vicreg_projector_hidden_dim, depth=config.vicreg_projector_depth)


def infer_tokens_per_view(config: PanoLLaVaConfig) -> int:
    """S' of ``config`` by arithmetic: the backbone's patch grid, then the resampler's ``count_tokens``.

    Nothing is built; the backbone's own grid rule is used, so the count cannot disagree with a built
    model's (``PanoLLaVaForConditionalGeneration`` records the built one in ``vision_tokens_per_view``).
    """
    grid = patch_grid(config.vision_config, tuple(config.image_hw))
    return count_tokens(config.resampler_type, grid, **config.resampler_options())


def tokens_per_view(config: PanoLLaVaConfig) -> int:
    """S' of ``config``: its recorded ``vision_tokens_per_view``, else counted (the config is not changed)."""
    if config.vision_tokens_per_view is not None:
        return int(config.vision_tokens_per_view)
    return infer_tokens_per_view(config)


class PanoLLaVaProjector(nn.Module):
    """Resampler tokens -> LM embeddings: optional ray positional encoding, then ``Linear(Dl -> Dlm)``.

    The encoding tells the LM which direction every token looks (yaw/pitch of its ray in the plan);
    the global view gets its own rays, so it is never mistaken for tile 0.
    """

    def __init__(self, latent_dim: int, lm_dim: int, use_positional_encoding: bool = True,
                 num_frequencies: int = 8, pe_init: str = "zero", token_norm: bool = False) -> None:
        super().__init__()
        self.positional = None
        if use_positional_encoding:
            self.positional = RayPositionalEncoding(latent_dim, num_frequencies=num_frequencies, init=pe_init)
        # Resampler tokens can be an order of magnitude longer than the encoding; a LayerNorm puts the
        # content on a fixed scale so the direction is not a few per cent of every token.
        self.token_norm = nn.LayerNorm(latent_dim) if token_norm else None
        self.linear = nn.Linear(latent_dim, lm_dim)

    def forward(self, tokens: torch.Tensor, plan: ViewPlan, grid_hw: tuple[int, int] | None) -> torch.Tensor:
        """``(B, V, S', Dl)`` -> ``(B, V * S', Dlm)`` in view order, row-major inside a view."""
        if self.token_norm is not None:
            tokens = self.token_norm(tokens)  # (B, V, S', Dl)
        if self.positional is not None:
            encoding = self.positional(plan, grid_hw, tokens.device, tokens.dtype)  # (V, S', Dl)
            tokens = tokens + encoding.unsqueeze(0)  # (B, V, S', Dl)
        projected = self.linear(tokens)  # (B, V, S', Dlm)
        return projected.flatten(1, 2)  # (B, V * S', Dlm)


def as_views(pixel_values: torch.Tensor) -> torch.Tensor:
    """Accept ``(B, V, 3, S, S)`` or ``(B, 3, S, S)`` (one view); return the 5-D form."""
    if not isinstance(pixel_values, torch.Tensor):
        raise TypeError(f"pixel_values must be a torch.Tensor, got {type(pixel_values).__name__}")
    if pixel_values.ndim == 4:
        return pixel_values.unsqueeze(1)  # (B, 1, 3, S, S)
    if pixel_values.ndim != 5:
        raise ValueError(f"pixel_values must be (B, V, 3, S, S) or (B, 3, S, S), got shape {tuple(pixel_values.shape)}")
    return pixel_values


class PanoLLaVaVisionMixin:
    """``vision_tower`` + ``resampler`` (+ ``vicreg_projector``) behaviour shared by all heads."""

    config: PanoLLaVaConfig

    def resolve_plan(self, view_plan: ViewPlan | None, num_views: int) -> ViewPlan:
        """The batch's plan wins, else ``config.view_plan()``; its length must match V."""
        plan = view_plan if view_plan is not None else self.config.view_plan()
        if not isinstance(plan, ViewPlan):
            raise TypeError(f"view_plan must be a panovlm.geometry.ViewPlan, got {type(plan).__name__}")
        if len(plan) != num_views:
            source = "the batch's view_plan" if view_plan is not None else "config.view_plan()"
            raise ValueError(f"pixel_values has {num_views} views per panorama but {source} has {len(plan)} "
                             f"({plan.strategy}); pass the processor's view_plan with the batch")
        return plan

    def check_plan(self, view_plan: ViewPlan) -> None:
        """Raise unless ``view_plan`` looks where ``config.view_plan()`` looks (every view's kind, direction, fov)."""
        mismatch = plan_mismatch(view_plan, self.config.view_plan())
        if mismatch is not None:
            raise ValueError(f"the given view_plan is not the plan of this model's config ({self.config.plan_spec}): "
                             f"{mismatch}; build the processor with PanoLLaVaProcessor.from_model_config(model.config, "
                             "tokenizer) or load it from the model's folder")

    def encode_views(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """``(B, V, 3, S, S)`` -> resampler tokens ``(B, V, S', Dl)``."""
        batch, views = pixel_values.shape[:2]
        patches = self.vision_tower(pixel_values.flatten(0, 1))  # (B * V, S, Dv)
        tokens = self.resampler(patches)  # (B * V, S', Dl)
        return tokens.view(batch, views, tokens.shape[1], tokens.shape[2])  # (B, V, S', Dl)

    def vision_stage(self, pixel_values: torch.Tensor, view_plan: ViewPlan | None = None,
                     pairing_strategy: str | None = None) -> VisionStageOutput:
        """Overlap loss of the VICReg-projected resampler tokens of overlapping views (matched by ray).

        ``pairing_strategy`` (any of ``panovlm.pairs.PAIRING_STRATEGIES``) overrides ``config.pairing_strategy``.
        """
        pixel_values = as_views(pixel_values)
        plan = self.resolve_plan(view_plan, pixel_values.shape[1])
        grid = self.resampler.output_grid
        strategy = pairing_strategy or self.config.pairing_strategy
        check_overlap(plan, grid, strategy, self.config.vicreg_include_global)
        tokens = self.encode_views(pixel_values)  # (B, V, S', Dl)
        embedded = self.vicreg_projector(tokens)  # (B, V, S', Dp)
        features = embedded.view(*embedded.shape[:2], grid[0], grid[1], embedded.shape[-1])  # (B, V, h, w, Dp)
        terms = self._compute_vicreg_overlap_loss(features, plan, strategy)
        weight = float(self.config.vicreg_loss_weight)
        loss = terms["loss"] * weight
        return VisionStageOutput(
            loss=loss, vicreg_loss=loss, vicreg_raw=terms["loss"].detach(), vicreg_weight=weight,
            vicreg_dim=int(embedded.shape[-1]), invariance=_detached(terms.get("invariance")),
            variance=_detached(terms.get("variance")), covariance=_detached(terms.get("covariance")),
            num_pairs=_as_int(terms.get("num_pairs")),
        )

    def _compute_vicreg_overlap_loss(self, features: torch.Tensor, plan: ViewPlan,
                                     pairing_strategy: str | None = None) -> dict:
        """VICReg terms of projected features ``(B, V, h, w, Dp)`` laid out as ``plan`` (see ``overlap_loss``)."""
        cfg = self.config
        return overlap_loss(features, plan, mode=cfg.overlap_mode, pairing_strategy=pairing_strategy or cfg.pairing_strategy,
                            include_global=cfg.vicreg_include_global, vicreg_mode=cfg.vicreg_mode,
                            weights=cfg.vicreg_weights, pair_chunk=cfg.vicreg_pair_chunk)


def _detached(value: object) -> object:
    return value.detach() if isinstance(value, torch.Tensor) else value


def _as_int(value: object) -> int | None:
    if value is None:
        return None
    return int(value.item()) if isinstance(value, torch.Tensor) else int(value)
