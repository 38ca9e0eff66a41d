"""Supported base-model families: what differs between Qwen2.5-VL and InternVL, in one table.

A :class:`Family` says, for one ``transformers`` model type, how images become pixel inputs (the
family's own image processor, pinned to our view size so it never resizes), how one image's
placeholder is expanded in the chat text, how many pixels one visual token covers (patch size x
spatial merge), and which module outputs the visual tokens the LM receives (the hook point of the
overlap loss). Nothing else in ``panovlm.adapt`` asks which family a model is.

Token layouts (pinned by ``tests/adapt/test_token_rays.py`` on a direction-encoding panorama):

* ``qwen2_5_vl``: 14 px patches, 2 x 2 spatial merge -> one token per 28 x 28 px; the vision tower
  reorders tokens into attention windows and restores the row-major order after its merger, so the
  output of ``model.model.visual`` (``pooler_output``, ``(sum_i h_i * w_i, D)``) is row-major per image.
* ``internvl``: 14 px patches, pixel shuffle 0.5 -> one token per 28 x 28 px, row-major;
  ``model.model.multi_modal_projector`` outputs ``(num_images, h * w, D)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class Family:
    """How one model family takes images; see the module docstring."""

    name: str
    model_class: str  # transformers class name of the conditional-generation model
    token_px: int  # pixels per visual token side (patch size x merge)
    image_token: str  # the placeholder the chat template emits once per image (expanded by ``expand``)
    special_tokens: tuple[str, ...]  # tokens a locally built tokenizer must have
    expand: Callable[[int], str]  # visual token count -> the text that replaces one ``image_token``
    pixel_inputs: Callable[[object, np.ndarray], dict[str, Tensor]]  # (image processor, (N, H, W, 3) uint8)
    visual_module: Callable[[nn.Module], nn.Module]  # the module whose output is the LM's visual tokens
    visual_tokens: Callable[[object], Tensor]  # that module's output -> (num_images * h * w, D)
    projector_names: tuple[str, ...]  # attribute paths trained as the "projector" group
    vision_prefix: str  # parameter-name prefix of the vision tower
    vision_lora: tuple[str, ...]  # its attention projections (LoRA targets when lora_vision)
    lm_prefix: str = "model.language_model."  # parameter-name prefix of the language model


def _qwen_pixels(image_processor: object, views: np.ndarray) -> dict[str, Tensor]:
    _, h, w, _ = views.shape
    # Pin smart_resize to the view size: a multiple of 28 inside [min, max] pixels is left unchanged.
    out = image_processor(images=list(views), size={"shortest_edge": h * w, "longest_edge": h * w},
                          return_tensors="pt")
    return {"pixel_values": out["pixel_values"], "image_grid_thw": out["image_grid_thw"]}


def _internvl_pixels(image_processor: object, views: np.ndarray) -> dict[str, Tensor]:
    _, h, w, _ = views.shape
    out = image_processor(images=list(views), size={"height": h, "width": w}, crop_to_patches=False,
                          return_tensors="pt")
    return {"pixel_values": out["pixel_values"]}  # (N, 3, H, W): one tile per view


def _qwen_tokens(output: object) -> Tensor:
    return output.pooler_output  # (sum_i h_i * w_i, D), row-major per image


def _flat_tokens(output: Tensor) -> Tensor:
    return output.reshape(-1, output.shape[-1])  # (N, h * w, D) -> (N * h * w, D)


FAMILIES: dict[str, Family] = {
    "qwen2_5_vl": Family(
        name="qwen2_5_vl",
        model_class="Qwen2_5_VLForConditionalGeneration",
        token_px=28,
        image_token="<|image_pad|>",
        special_tokens=("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"),
        expand=lambda n: "<|image_pad|>" * n,
        pixel_inputs=_qwen_pixels,
        visual_module=lambda model: model.model.visual,
        visual_tokens=_qwen_tokens,
        projector_names=("model.visual.merger",),
        vision_prefix="model.visual.",
        vision_lora=("qkv", "proj"),
    ),
    "internvl": Family(
        name="internvl",
        model_class="InternVLForConditionalGeneration",
        token_px=28,
        image_token="<IMG_CONTEXT>",
        special_tokens=("<img>", "</img>", "<IMG_CONTEXT>", "<video>"),
        expand=lambda n: "<img>" + "<IMG_CONTEXT>" * n + "</img>",
        pixel_inputs=_internvl_pixels,
        visual_module=lambda model: model.model.multi_modal_projector,
        visual_tokens=_flat_tokens,
        projector_names=("model.multi_modal_projector",),
        vision_prefix="model.vision_tower.",
        vision_lora=("q_proj", "k_proj", "v_proj", "projection_layer"),
    ),
}


def get_family(model_type: str) -> Family:
    """The family of a ``config.model_type``; the error lists the supported ones."""
    if model_type not in FAMILIES:
        raise ValueError(f"base model type {model_type!r} is not supported by the adapter; "
                         f"supported families: {sorted(FAMILIES)}")
    return FAMILIES[model_type]


def model_class(family: Family) -> type:
    import transformers

    return getattr(transformers, family.model_class)


def submodule(model: nn.Module, path: str) -> nn.Module:
    """``model.a.b.c`` from ``"a.b.c"``; the error names the missing attribute."""
    module = model
    for part in path.split("."):
        if not hasattr(module, part):
            raise AttributeError(f"{type(model).__name__} has no submodule {path!r} (missing {part!r})")
        module = getattr(module, part)
    return module


def check_tokenizer(family: Family, tokenizer: object, special: Sequence[str] | None = None) -> None:
    """Raise unless every special token of the family is a single known token of ``tokenizer``."""
    missing = [t for t in (special or family.special_tokens)
               if tokenizer.convert_tokens_to_ids(t) in (None, tokenizer.unk_token_id)]
    if missing:
        raise ValueError(f"the tokenizer lacks the {family.name} special tokens {missing}")


def visual_grid(family: Family, height: int, width: int) -> tuple[int, int]:
    """Token grid ``(rows, cols)`` of one image of ``height x width`` px; both must be multiples of ``token_px``."""
    unit = family.token_px
    if height % unit or width % unit or height < unit or width < unit:
        raise ValueError(f"{family.name} views must be positive multiples of {unit} px "
                         f"(patch x merge), got {height}x{width}")
    return height // unit, width // unit


def device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device
