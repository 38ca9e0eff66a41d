"""Vision backbone: any HF vision model -> patch tokens on a known grid.

Shapes: ``N`` images (the views of a batch flattened, B*V), ``(gh, gw)`` the patch grid, ``D`` the
vision hidden size. ``forward((N, 3, H, W)) -> (N, gh*gw, D)``.

Prefix tokens (CLS, registers, distillation) are identified from the model type and its config,
never from whether the token count looks like a perfect square: a 16-token grid plus a CLS token
and a 17-token grid are otherwise indistinguishable.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable, Mapping

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PretrainedConfig, PreTrainedModel
from transformers.models.auto.modeling_auto import MODEL_MAPPING

from .component_spec import config_from_spec, hub_error
from .feature_cache import FeatureCache

logger = logging.getLogger(__name__)

# Tokens in front of the patch grid, per model type.
PREFIX_TOKENS: dict[str, Callable[[PretrainedConfig], int]] = {
    "siglip_vision_model": lambda c: 0,
    "clip_vision_model": lambda c: 1,
    "vit": lambda c: 1,
    "deit": lambda c: 2,  # CLS + distillation token
    "dinov2": lambda c: 1,
    "dinov2_with_registers": lambda c: 1 + int(c.num_register_tokens),
    "resnet": lambda c: 0,
    "convnext": lambda c: 0,
}

# Convolutional backbones: total stride of the last feature map, per model type (no patch_size to read).
# ResNet: stem conv 2 x max-pool 2, then x2 per later stage (and in the first when it downsamples).
CONV_STRIDES: dict[str, Callable[[PretrainedConfig], int]] = {
    "resnet": lambda c: 4 * 2 ** (len(c.depths) - 1 + int(c.downsample_in_first_stage)),
    "convnext": lambda c: int(c.patch_size) * 2 ** (len(c.depths) - 1),
}

# Where the list of transformer blocks lives, per model type (for partial unfreezing).
LAYER_PATHS: dict[str, str] = {
    "siglip_vision_model": "encoder.layers",
    "clip_vision_model": "encoder.layers",
    "vit": "layers",
    "deit": "layers",
    "dinov2": "encoder.layer",
    "dinov2_with_registers": "encoder.layer",
    "resnet": "encoder.stages",
    "convnext": "encoder.stages",
}
_FALLBACK_LAYER_PATHS = ("encoder.layers", "encoder.layer", "layers", "blocks")
# Norms applied to the output of the last block; they train with the last blocks.
_FINAL_NORMS = ("post_layernorm", "layernorm")
_HIDDEN_KEYS = ("hidden_size", "vision_hidden_size", "hidden_dim", "embed_dim")


def _pair(value: object, field: str) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return int(value[0]), int(value[1])
    raise ValueError(f"vision config {field} must be an int or an (h, w) pair, got {value!r}")


def patch_grid(config: PretrainedConfig, image_size: tuple[int, int]) -> tuple[int, int]:
    """Patch grid ``(gh, gw)`` of a vision config at ``image_size`` (H, W), a multiple of its patch size
    (a convolutional backbone's total stride, ``CONV_STRIDES``)."""
    stride = CONV_STRIDES.get(config.model_type)
    patch = (stride(config),) * 2 if stride else _pair(getattr(config, "patch_size", None), "patch_size")
    for side, p in zip(image_size, patch, strict=True):
        if side % p:
            raise ValueError(f"image_size {tuple(image_size)} is not a multiple of "
                             f"{'the total stride' if stride else 'patch_size'} {patch}")
    return image_size[0] // patch[0], image_size[1] // patch[1]


def _vision_tower(model: PreTrainedModel) -> PreTrainedModel:
    """Keep only the vision tower of a dual encoder (CLIPModel, SiglipModel)."""
    tower = getattr(model, "vision_model", None)
    if tower is None:
        return model
    if not isinstance(tower, PreTrainedModel):
        raise TypeError(f"{type(model).__name__}.vision_model is a {type(tower).__name__}, not a PreTrainedModel; "
                        "build the vision model class (e.g. SiglipVisionModel) directly")
    return tower


def vision_hidden_size(config: PretrainedConfig) -> int:
    """Token width ``D`` of a vision config (the first of its hidden-size keys that is set; for a
    convolutional backbone the width of its last stage)."""
    if config.model_type in CONV_STRIDES:
        return int(config.hidden_sizes[-1])
    for key in _HIDDEN_KEYS:
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    raise AttributeError(f"cannot find the hidden size of vision config {config.model_type!r}: "
                         f"none of {_HIDDEN_KEYS} is set")


class VisionBackbone(nn.Module):
    """Wraps an HF vision model; returns its ``last_hidden_state`` without prefix tokens.

    Args:
        model: an already built HF vision model (a dual encoder is reduced to its vision tower).
        image_size: (H, W) of the views fed to it; defaults to the config's ``image_size``. A size
            other than the config's uses the model's position-embedding interpolation.

    Attributes:
        hidden_size: token width ``D``.
        grid_hw: patch grid ``(gh, gw)`` = image_size // patch_size.
        num_prefix_tokens: CLS / register / distillation tokens dropped from the output.
        num_tokens: ``gh * gw``.
    """

    def __init__(self, model: PreTrainedModel, image_size: int | tuple[int, int] | None = None) -> None:
        super().__init__()
        self.model = _vision_tower(model)
        config = self.model.config
        self.model_type: str = config.model_type
        self.hidden_size: int = vision_hidden_size(config)
        self.config_image_size = _pair(getattr(config, "image_size", None), "image_size")
        self.image_size = _pair(image_size, "image_size") if image_size is not None else self.config_image_size
        self.grid_hw: tuple[int, int] = patch_grid(config, self.image_size)
        self._forward_kwargs = self._interpolation_kwargs()
        self.num_prefix_tokens: int = self._count_prefix_tokens()
        # Set by the trainer for stages that keep the tower frozen (a plain attribute, not a submodule).
        self.feature_cache: FeatureCache | None = None

    def train(self, mode: bool = True) -> VisionBackbone:
        """Train mode, except where the tower is frozen: a frozen tower (or a frozen BatchNorm in a partly
        trained one) runs as at inference, so its running statistics neither drift nor follow the batch."""
        super().train(mode)
        if mode:
            for module in self.model.modules():
                if not any(p.requires_grad for p in module.parameters()) and (
                        module is self.model or isinstance(module, nn.modules.batchnorm._BatchNorm)):
                    module.eval()
        return self

    def frozen_batchnorms(self) -> list[nn.modules.batchnorm._BatchNorm]:
        """The tower's BatchNorm layers whose parameters are all frozen (what ``train()`` keeps in eval)."""
        return [m for m in self.model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
                and not any(p.requires_grad for p in m.parameters())]

    @torch.no_grad()
    def recalibrate_batchnorm(self, batches: Iterable[torch.Tensor]) -> int:
        """Re-estimate the running statistics of the frozen BatchNorms as the plain average over
        ``batches`` of views ``(N, 3, H, W)`` (AdaBN); returns the number of views read.

        Other layers run as at inference and nothing trains; the feature cache is bypassed.
        """
        norms = self.frozen_batchnorms()
        if not norms:
            raise ValueError(f"{type(self.model).__name__} has no frozen BatchNorm layer to recalibrate")
        momenta = [m.momentum for m in norms]
        was_training = self.training
        self.eval()
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average: every batch counts the same
            m.train()
        views = 0
        try:
            for pixel_values in batches:
                self._grid_tokens(pixel_values)
                views += int(pixel_values.shape[0])
        finally:
            for m, momentum in zip(norms, momenta, strict=True):
                m.momentum = momentum
            self.train(was_training)
        if views == 0:
            raise ValueError("recalibrate_batchnorm got no views")
        return views

    @property
    def num_tokens(self) -> int:
        """Patch tokens per image, ``gh * gw``."""
        return self.grid_hw[0] * self.grid_hw[1]

    def _interpolation_kwargs(self) -> dict[str, bool]:
        if self.image_size == self.config_image_size or self.model_type in CONV_STRIDES:
            return {}  # convolutions take any size
        params = inspect.signature(self.model.forward).parameters
        if "interpolate_pos_encoding" in params:
            return {"interpolate_pos_encoding": True}
        if self.model_type in ("dinov2", "dinov2_with_registers"):
            return {}  # DINOv2 always interpolates its position embeddings
        raise ValueError(f"{type(self.model).__name__} cannot take {self.image_size} images (config image_size "
                         f"{self.config_image_size}) because it has no interpolate_pos_encoding argument")

    def _count_prefix_tokens(self) -> int:
        rule = PREFIX_TOKENS.get(self.model_type)
        if rule is not None:
            return rule(self.model.config)
        # Unknown type: accept it only if it emits exactly the grid (no prefix tokens to guess).
        h, w = self.image_size
        param = next(self.model.parameters())
        with torch.no_grad():
            seq = self._run(torch.zeros(1, 3, h, w, device=param.device, dtype=param.dtype)).shape[1]
        if seq == self.num_tokens:
            return 0
        raise ValueError(
            f"vision model type {self.model_type!r} emits {seq} tokens for a {self.grid_hw} patch grid; its "
            f"prefix tokens are unknown. Supported model types: {sorted(PREFIX_TOKENS)}")

    def _run(self, pixel_values: torch.Tensor) -> torch.Tensor:
        out = self.model(pixel_values=pixel_values, **self._forward_kwargs)
        hidden = out.last_hidden_state
        if hidden.ndim == 4:  # (N, D, gh, gw) convolutional outputs -> (N, gh*gw, D)
            hidden = hidden.flatten(2).transpose(1, 2)
        return hidden

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` -> patch tokens ``(N, gh*gw, D)``, row-major over the grid."""
        if pixel_values.ndim != 4 or tuple(pixel_values.shape[-2:]) != self.image_size:
            raise ValueError(f"pixel_values must be (N, 3, {self.image_size[0]}, {self.image_size[1]}), "
                             f"got {tuple(pixel_values.shape)}")
        cache = self.feature_cache
        if cache is not None and cache.usable(self.model):
            return cache.encode(self.model, pixel_values, self._grid_tokens)
        return self._grid_tokens(pixel_values)

    def _grid_tokens(self, pixel_values: torch.Tensor) -> torch.Tensor:
        param = next(self.model.parameters())
        hidden = self._run(pixel_values.to(param.dtype))  # (N, prefix + gh*gw, D)
        expected = self.num_prefix_tokens + self.num_tokens
        if hidden.shape[1] != expected:
            raise ValueError(f"{type(self.model).__name__} returned {hidden.shape[1]} tokens, expected "
                             f"{self.num_prefix_tokens} prefix + {self.num_tokens} grid tokens")
        return hidden[:, self.num_prefix_tokens:]  # (N, gh*gw, D)

    @staticmethod
    def build_vision_model(spec: str | Mapping | PretrainedConfig, **kwargs: object) -> PreTrainedModel:
        """Build an HF vision model from an id / local path, a config dict (random init) or a config.

        Dual encoders (CLIP, SigLIP) give their vision-model class (``CLIPVisionModel``,
        ``SiglipVisionModel``) so that the saved config round-trips as a vision config.
        ``kwargs`` go to ``from_pretrained`` (e.g. ``dtype``) or ``from_config``.
        """
        if isinstance(spec, str):
            try:
                config = AutoConfig.from_pretrained(spec)
            except OSError as err:
                raise hub_error(spec, err) from err
            vision_config = getattr(config, "vision_config", None)
            if vision_config is None:
                return _vision_tower(AutoModel.from_pretrained(spec, **kwargs))
            # The vision class loads the tower's weights from the dual checkpoint ("vision_model.*").
            return MODEL_MAPPING[type(vision_config)].from_pretrained(spec, **kwargs)
        if not isinstance(spec, (Mapping, PretrainedConfig)):
            raise TypeError(f"vision spec must be an HF id / path, a config dict or a PretrainedConfig, "
                            f"got {type(spec).__name__}")
        # Same parsing as the composite config, so a dict names the same vision config in both places.
        return AutoModel.from_config(config_from_spec(spec, vision=True), **kwargs)


def _layers(model: PreTrainedModel) -> nn.ModuleList:
    path = LAYER_PATHS.get(model.config.model_type)
    for candidate in (path,) if path else _FALLBACK_LAYER_PATHS:
        module: object = model
        for part in candidate.split("."):
            module = getattr(module, part, None)
        if isinstance(module, nn.ModuleList):
            return module
    raise ValueError(f"cannot find the block list of vision model type {model.config.model_type!r} "
                     f"(tried {path or _FALLBACK_LAYER_PATHS})")


def set_trainable_last_blocks(backbone: VisionBackbone | PreTrainedModel, n: int) -> int:
    """Freeze the backbone except its last ``n`` blocks (and the norm after them); returns the trainable count.

    Everything else in the backbone is frozen, whatever it was before. ``n = 0`` freezes
    everything; ``n`` may not exceed the number of blocks.
    """
    model = backbone.model if isinstance(backbone, VisionBackbone) else backbone
    layers = _layers(model)
    if not 0 <= n <= len(layers):
        raise ValueError(f"n (blocks to unfreeze) must be in [0, {len(layers)}], got {n}")
    backbone.requires_grad_(False)
    if n == 0:
        return 0
    trainable = list(layers[len(layers) - n:])
    trainable += [getattr(model, name) for name in _FINAL_NORMS if hasattr(model, name)]
    for module in trainable:
        module.requires_grad_(True)
    return sum(p.numel() for p in backbone.parameters() if p.requires_grad)
