"""The tiny offline preset: a small ResNet vision tower + Qwen2-architecture LM, both pretrained here.

No weights can be downloaded here, so the embedded default is built from configs plus the
byte-level BPE tokenizer shipped in ``panovlm/assets/tokenizer`` (made by
``scripts/build_tokenizer.py``). The LM's vocabulary size comes from that tokenizer.

* ``tiny_config()``: HF ``ResNetModel`` (32-64-128 channels, stride 16: an 8 x 8 grid at 128 px),
  the ``cubemap`` plan with poles (six views: front, right, behind, left, above, below) with view
  tags, a Perceiver resampler of 4 latents per view (24 vision tokens per panorama), Qwen2 h256 x 2
  layers, tied embeddings. 128 px views match the angular resolution of PanoShapes' 512 x 256
  panoramas (a 90 degree view spans 128 ERP columns), so larger views would only upsample.
* ``tiny_model()`` starts, like a real run from SigLIP and Qwen2.5, from shipped weights:
  the vision tower from ``panovlm/assets/tiny_vision`` (``scripts/pretrain_tiny_encoder.py``: single
  PanoShapes views against what they show, never where) and the LM from
  ``panovlm/assets/tiny_language`` (``scripts/pretrain_tiny_lm.py``: scenes written as text in the
  layout of this plan, never a panorama). ``vision_init`` / ``language_init="random"`` keep a random
  init (the ablation). The resampler and projector always start random: the stages train them.
* ``tiny_config(test=True)``: vision h32 x 1 layer at 64 px (4 x 4 patches), LM h32 x 1 layer: a few
  milliseconds per step, for unit tests.
"""

from __future__ import annotations

import copy
import functools
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from transformers import AutoTokenizer

from .components import config_from_components, match_projector_scale
from .configuration_panollava import PanoLLaVaConfig
from .modeling_panollava import PanoLLaVaForConditionalGeneration
from .processing_panollava import PanoLLaVaProcessor

TOKENIZER_DIR = "assets/tokenizer"
VISION_DIR = "assets/tiny_vision"
LANGUAGE_DIR = "assets/tiny_language"
INITS: tuple[str, ...] = ("pretrained", "random")

# A small ResNet: shapes a few patches wide are read by convolutions far sooner than by a 16 px patch
# embedding (docs/training.md, "Shape needs convolutions"); stride 16 gives the same 8 x 8 grid.
TINY_VISION: dict[str, Any] = {
    "model_type": "resnet", "embedding_size": 32, "hidden_sizes": [32, 64, 128], "depths": [1, 1, 2],
    "layer_type": "basic", "downsample_in_first_stage": False, "image_size": 128,
}
TINY_TEXT: dict[str, Any] = {
    "model_type": "qwen2", "hidden_size": 256, "intermediate_size": 1024, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "tie_word_embeddings": True,
    "max_position_embeddings": 4096,
}
# No ray encoding: the Perceiver's latents have one ray per view, so the encoding is a per-view offset
# on every vision token, which the view tags (the question's own direction words) already say and
# the pretrained LM never saw. The projector starts at the LM's word-embedding scale, so that the
# frozen LM's lookup is not drowned by vision tokens 17 times longer than its words. Both measured
# in docs/training.md, section 11.
TINY_SETTINGS: dict[str, Any] = {
    "crop_strategy": "cubemap", "cubemap_poles": True, "view_tags": True,
    "resampler_type": "perceiver", "resampler_num_queries": 4, "resampler_depth": 2, "resampler_num_heads": 4,
    "latent_dimension": 128, "vicreg_projector_dim": 128,
    "max_text_length": 128, "use_positional_encoding": False, "pe_token_norm": True,
    "projector_init": "embedding_scale",
}
TEST_VISION: dict[str, Any] = {
    "model_type": "siglip_vision_model", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
    "num_attention_heads": 2, "patch_size": 16, "image_size": 64,
}
TEST_TEXT: dict[str, Any] = {
    "model_type": "qwen2", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
    "num_attention_heads": 2, "num_key_value_heads": 1, "tie_word_embeddings": True,
    "max_position_embeddings": 2048,
}
TEST_SETTINGS: dict[str, Any] = {"latent_dimension": 32, "vicreg_projector_dim": 32, "max_text_length": 96}


def tokenizer_path() -> str:
    """Directory of the shipped tokenizer files."""
    return str(resources.files("panovlm").joinpath(TOKENIZER_DIR))


@functools.lru_cache(maxsize=1)
def vision_weights_path() -> str:
    """Directory of the shipped pretrained tiny vision tower (``save_pretrained`` layout + card)."""
    return str(resources.files("panovlm").joinpath(VISION_DIR))


@functools.lru_cache(maxsize=1)
def language_weights_path() -> str:
    """Directory of the shipped pretrained tiny LM (``save_pretrained`` layout + card)."""
    return str(resources.files("panovlm").joinpath(LANGUAGE_DIR))


def load_pretrained_language(model: Any) -> None:
    """Copy the shipped tiny LM weights into ``model.language_model`` (every tensor but the tied head)."""
    path = Path(language_weights_path()) / "model.safetensors"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: rebuild it with scripts/pretrain_tiny_lm.py, or set "
                                "model.language_init: random")
    lm = model.language_model
    missing, unexpected = lm.load_state_dict(load_file(str(path)), strict=False)
    tied = {"lm_head.weight"} if lm.config.tie_word_embeddings else set()
    if set(missing) - tied or unexpected:
        raise ValueError(f"{path} does not fit the tiny preset's LM ({type(lm).__name__}): missing "
                         f"{sorted(set(missing) - tied)}, unexpected {sorted(unexpected)}")
    lm.tie_weights()


def load_pretrained_vision(model: Any) -> None:
    """Copy the shipped tiny vision weights into ``model.vision_tower`` (every tensor, shapes checked)."""
    path = Path(vision_weights_path()) / "model.safetensors"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: rebuild it with scripts/pretrain_tiny_encoder.py, or set "
                                "model.vision_init: random")
    state = load_file(str(path))
    tower = model.vision_tower.model
    try:
        tower.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ValueError(f"{path} does not fit the tiny preset's vision tower ({type(tower).__name__}): {err}") from err


@functools.lru_cache(maxsize=1)
def _cached_tokenizer() -> Any:
    return AutoTokenizer.from_pretrained(tokenizer_path())


def tiny_tokenizer() -> Any:
    """A fresh copy of the shipped tokenizer (ChatML template, ``<|vision|>`` special, eos ``<|im_end|>``)."""
    tokenizer = copy.deepcopy(_cached_tokenizer())
    tokenizer.padding_side = "left"
    return tokenizer


def _parts(test: bool) -> tuple[dict, dict, dict]:
    vision, text, settings = (TEST_VISION, TEST_TEXT, TEST_SETTINGS) if test else (TINY_VISION, TINY_TEXT, TINY_SETTINGS)
    # The vocabulary is the shipped tokenizer's, rounded up to a multiple of 64 (never hard-coded).
    vocab = -(-len(_cached_tokenizer()) // 64) * 64
    return dict(vision), {**text, "vocab_size": vocab}, dict(settings)


def tiny_specs(test: bool = False) -> tuple[dict, dict]:
    """(vision config dict, text config dict) of the preset, usable wherever a model name is accepted."""
    vision, text, _ = _parts(test)
    return vision, text


def tiny_config(test: bool = False, **overrides: Any) -> PanoLLaVaConfig:
    """The preset's ``PanoLLaVaConfig``; ``overrides`` are config fields (e.g. ``resampler_type="qformer"``)."""
    vision, text, settings = _parts(test)
    # vision_tokens_per_view stays unset, as in any config made from parts: the model records it when built,
    # and the processor counts it (modeling_parts.tokens_per_view).
    return config_from_components(dict(vision), dict(text), tiny_tokenizer(), **{**settings, **overrides})


def _check_init(name: str, value: str | None, test: bool) -> str:
    value = value or ("random" if test else "pretrained")
    if value not in INITS or (test and value == "pretrained"):
        valid = ["random"] if test else list(INITS)
        raise ValueError(f"{name} must be one of {valid} for the {'test' if test else 'tiny'} preset, got {value!r}")
    return value


def tiny_model(test: bool = False, seed: int | None = 0, vision_init: str | None = None,
               language_init: str | None = None, **overrides: Any) -> Any:
    """A ``PanoLLaVaForConditionalGeneration`` of the preset (seeded for reproducibility).

    ``vision_init`` / ``language_init``: "pretrained" (the tiny preset's default: the shipped vision
    tower / LM weights) or "random" (the test preset's only choice); the resampler and projector are
    always random-init.
    """
    vision_init = _check_init("vision_init", vision_init, test)
    language_init = _check_init("language_init", language_init, test)
    vision, text, settings = _parts(test)
    if seed is not None:
        torch.manual_seed(seed)
    model = PanoLLaVaForConditionalGeneration.from_components(dict(vision), dict(text), tiny_tokenizer(),
                                                              **{**settings, **overrides})
    if vision_init == "pretrained":
        load_pretrained_vision(model)
    if language_init == "pretrained":
        load_pretrained_language(model)
    if model.config.projector_init == "embedding_scale":
        match_projector_scale(model)  # again: from_components matched it to the random LM
    return model


def tiny_processor(test: bool = False, config: PanoLLaVaConfig | None = None, **overrides: Any) -> Any:
    """``PanoLLaVaProcessor`` matching ``tiny_config(test, **overrides)`` (or the given ``config``)."""
    if config is None:
        config = tiny_config(test, **overrides)
    return PanoLLaVaProcessor.from_model_config(config, tiny_tokenizer())


__all__ = ["load_pretrained_vision", "vision_weights_path", "tiny_specs", "tiny_config", "tiny_model", "tiny_processor", "tiny_tokenizer", "tokenizer_path"]
