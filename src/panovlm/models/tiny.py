"""The tiny offline preset: a random-init SigLIP-architecture vision model + Qwen2-architecture LM.

No weights can be downloaded here, so the embedded default is built from configs plus the
byte-level BPE tokenizer shipped in ``panovlm/assets/tokenizer`` (made by
``scripts/build_tokenizer.py``). The LM's vocabulary size comes from that tokenizer.

* ``tiny_config()``: vision h128 x 4 layers at 128 px (8 x 8 patches of 16 px), MLP resampler with
  2 x 2 pooling (16 tokens per view, 144 per 9-view panorama), Qwen2 h256 x 2 layers, tied
  embeddings. 128 px views match the angular resolution of PanoShapes' 512 x 256 panoramas (a 90
  degree view spans 128 ERP columns), so larger views would only upsample; a training step of
  4 panoramas x 9 views takes about 0.2 s on a 2-core CPU.
* ``tiny_config(test=True)``: vision h32 x 1 layer at 64 px (4 x 4 patches), LM h32 x 1 layer: a few
  milliseconds per step, for unit tests.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

from .configuration_panollava import PanoLLaVaConfig

TOKENIZER_DIR = "assets/tokenizer"

TINY_VISION: dict[str, Any] = {
    "model_type": "siglip_vision_model", "hidden_size": 128, "intermediate_size": 512, "num_hidden_layers": 4,
    "num_attention_heads": 4, "patch_size": 16, "image_size": 128,
}
TINY_TEXT: dict[str, Any] = {
    "model_type": "qwen2", "hidden_size": 256, "intermediate_size": 1024, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "tie_word_embeddings": True,
    "max_position_embeddings": 4096,
}
TINY_SETTINGS: dict[str, Any] = {
    "latent_dimension": 128, "resampler_hidden_dim": 512, "resampler_pool": 2, "vicreg_projector_dim": 128,
    "max_text_length": 128,
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
def _cached_tokenizer() -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tokenizer_path())


def tiny_tokenizer() -> Any:
    """A fresh copy of the shipped tokenizer (ChatML template, ``<|vision|>`` special, eos ``<|im_end|>``)."""
    import copy

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
    from .components import config_from_components
    from .modeling_parts import infer_tokens_per_view

    vision, text, settings = _parts(test)
    config = config_from_components(dict(vision), dict(text), tiny_tokenizer(), **{**settings, **overrides})
    config.vision_tokens_per_view = infer_tokens_per_view(config)
    return config


def tiny_model(test: bool = False, seed: int | None = 0, **overrides: Any) -> Any:
    """A random-init ``PanoLLaVaForConditionalGeneration`` of the preset (seeded for reproducibility)."""
    import torch

    from .modeling_panollava import PanoLLaVaForConditionalGeneration

    vision, text, settings = _parts(test)
    if seed is not None:
        torch.manual_seed(seed)
    return PanoLLaVaForConditionalGeneration.from_components(dict(vision), dict(text), tiny_tokenizer(),
                                                             **{**settings, **overrides})


def tiny_processor(test: bool = False, config: PanoLLaVaConfig | None = None, **overrides: Any) -> Any:
    """``PanoLLaVaProcessor`` matching ``tiny_config(test, **overrides)`` (or the given ``config``)."""
    from .processing_panollava import PanoLLaVaProcessor

    if config is None:
        config = tiny_config(test, **overrides)
    return PanoLLaVaProcessor.from_model_config(config, tiny_tokenizer())


__all__ = ["tiny_specs", "tiny_config", "tiny_model", "tiny_processor", "tiny_tokenizer", "tokenizer_path"]
