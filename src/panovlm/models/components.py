"""Build the composite from its parts: HF ids / local paths (pretrained weights) or config dicts (random init).

The same code path serves SigLIP + Qwen2.5 on a machine with hub access and the tiny preset here.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import torch
from transformers import AutoModelForCausalLM, GenerationConfig

from ..directions import view_tag
from ..geometry import ViewPlan
from .attention import select_attn_implementation
from .component_spec import config_from_spec, hub_error
from .configuration_panollava import PanoLLaVaConfig
from .fusion import ensure_chat_template, ensure_vision_token
from .vision import VisionBackbone

logger = logging.getLogger(__name__)


def _round_up(n: int, multiple: int = 64) -> int:
    return -(-n // multiple) * multiple


def config_from_components(vision: Any, language: Any, tokenizer: Any = None, **settings: Any) -> PanoLLaVaConfig:
    """The composite config of ``from_components`` (no weights built); registers ``<|vision|>`` in ``tokenizer``."""
    vision_config = config_from_spec(vision, vision=True)
    text_config = config_from_spec(language, vision=False)
    text_config._attn_implementation = select_attn_implementation()
    if tokenizer is not None:
        ensure_chat_template(tokenizer)
        settings["vision_token_id"], _ = ensure_vision_token(tokenizer, settings.get("vision_token", "<|vision|>"))
        if len(tokenizer) > text_config.vocab_size:
            text_config.vocab_size = _round_up(len(tokenizer))
        text_config.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None \
            else tokenizer.eos_token_id
        text_config.eos_token_id = tokenizer.eos_token_id
    config = PanoLLaVaConfig(vision_config=vision_config, text_config=text_config, **settings)
    if tokenizer is not None and config.view_tags and config.view_tag_ids is None:
        config.view_tag_ids = view_tag_ids(config.view_plan(), tokenizer)
    return config


def view_tag_ids(plan: ViewPlan, tokenizer: Any) -> list[list[int]]:
    """Token ids of each view's direction word, with a leading space: as the word reads inside a sentence."""
    return [list(tokenizer.encode(" " + view_tag(view), add_special_tokens=False)) for view in plan.views]


def build_from_components(cls: type, vision: Any, language: Any, tokenizer: Any = None, **settings: Any) -> Any:
    """See ``PanoLLaVaForConditionalGeneration.from_components``."""
    config = config_from_components(vision, language, tokenizer, **settings)
    model = cls(config)
    load_component_weights(model, vision, language)
    if config.projector_init == "embedding_scale":
        match_projector_scale(model)
    if tokenizer is not None:
        model.generation_config.eos_token_id = tokenizer.eos_token_id
        model.generation_config.pad_token_id = config.text_config.pad_token_id
    return model


def match_projector_scale(model: Any) -> None:
    """Re-draw the projector's Linear so that, for unit-variance tokens (the LayerNormed resampler output),
    each output has the standard deviation of the LM's token embeddings; bias zero.

    Frozen-LM alignment starts from vision tokens the LM could have read as text: with nn.Linear's
    init the tiny preset's vision tokens were 17 times the norm of its word embeddings.
    Call it after the LM's weights are in place (it reads them).
    """
    embeddings = model.language_model.get_input_embeddings().weight.detach()
    linear = model.projector.linear
    std = float(embeddings.float().std()) / math.sqrt(linear.in_features)
    with torch.no_grad():
        linear.weight.normal_(0.0, std)
        if linear.bias is not None:
            linear.bias.zero_()


def load_component_weights(model: Any, vision: Any, language: Any) -> None:
    """Copy pretrained weights into ``model`` for every part named by an id / path (dicts stay random)."""
    if isinstance(vision, str):
        try:
            pretrained = VisionBackbone.build_vision_model(vision)
        except OSError as err:
            raise hub_error(vision, err) from err
        model.vision_tower.model.load_state_dict(pretrained.state_dict())
        logger.info("vision tower weights loaded from %s", vision)
    if isinstance(language, str):
        _load_language(model, language)


def _load_language(model: Any, name: str) -> None:
    try:
        lm = AutoModelForCausalLM.from_pretrained(name, attn_implementation=select_attn_implementation())
    except OSError as err:
        raise hub_error(name, err) from err
    vocab = model.language_model.config.vocab_size
    if lm.config.vocab_size != vocab:  # the tokenizer added tokens (e.g. <|vision|>) beyond the checkpoint's rows
        lm.resize_token_embeddings(vocab)
    model.language_model.load_state_dict(lm.state_dict())
    try:
        model.generation_config = GenerationConfig.from_pretrained(name)
    except OSError:  # a checkpoint without generation_config.json keeps the defaults from the config
        logger.info("%s has no generation_config.json; using defaults", name)
    logger.info("language model weights loaded from %s", name)
