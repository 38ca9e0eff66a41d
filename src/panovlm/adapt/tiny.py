"""Tiny random-init bases of each family, built in-process (no download): tests, benchmarks, CPU runs.

Each preset is the family's own ``transformers`` config / model class, a tokenizer made from the
project's shipped byte-level BPE tokenizer plus the family's special tokens and a chat template
with the family's image placeholder, and the family's own image processor (PIL backend; the
torchvision backend and the video processors need torchvision, which this machine lacks).
"""

from __future__ import annotations

from typing import Any

from panovlm.adapt.families import FAMILIES, Family

TINY_BASES: dict[str, str] = {"tiny-qwen2_5_vl": "qwen2_5_vl", "tiny-internvl": "internvl"}
# ChatML as both families' real templates write it, images as the family's placeholder text.
_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}IMAGE{% else %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
_PLACEHOLDER = {"qwen2_5_vl": "<|vision_start|><|image_pad|><|vision_end|>", "internvl": "<IMG_CONTEXT>\n"}
_TEXT = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, max_position_embeddings=4096, tie_word_embeddings=False)


def tiny_tokenizer(family: Family) -> Any:
    """The shipped tiny tokenizer + the family's special tokens + a ChatML template with its image placeholder."""
    from panovlm.models.tiny import tiny_tokenizer as base_tokenizer

    tokenizer = base_tokenizer()
    tokenizer.add_special_tokens({"additional_special_tokens": list(family.special_tokens)},
                                 replace_extra_special_tokens=False)
    tokenizer.chat_template = _TEMPLATE.replace("IMAGE", _PLACEHOLDER[family.name])
    return tokenizer


def tiny_image_processor(family: Family) -> Any:
    """The family's image processor (PIL backend) with mean = std = 0.5, so pixels read as rays in tests."""
    stats = dict(image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
    if family.name == "qwen2_5_vl":
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

        return Qwen2VLImageProcessorPil(patch_size=14, merge_size=2, temporal_patch_size=2, **stats)
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil

    return GotOcr2ImageProcessorPil(size={"height": 56, "width": 56}, crop_to_patches=False, **stats)


def _vocab(tokenizer: Any) -> int:
    return -(-len(tokenizer) // 64) * 64


def tiny_config(family: Family, tokenizer: Any) -> Any:
    """A random-init config of ``family`` sized for seconds-long CPU tests."""
    ids = tokenizer.convert_tokens_to_ids
    text = {**_TEXT, "vocab_size": _vocab(tokenizer), "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id, "bos_token_id": None}
    if family.name == "qwen2_5_vl":
        from transformers import Qwen2_5_VLConfig

        text["rope_parameters"] = {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 1, 1]}
        return Qwen2_5_VLConfig(
            text_config=text,
            vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=4, out_hidden_size=32,
                               patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=56,
                               fullatt_block_indexes=[1]),
            image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
            vision_start_token_id=ids("<|vision_start|>"), vision_end_token_id=ids("<|vision_end|>"),
            tie_word_embeddings=False)
    from transformers import InternVLConfig

    return InternVLConfig(
        text_config={**text, "model_type": "qwen2"},
        vision_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                           image_size=[56, 56], patch_size=[14, 14]),
        image_token_id=ids("<IMG_CONTEXT>"), image_seq_length=4, downsample_ratio=0.5,
        tie_word_embeddings=False)


def tiny_base(name: str, seed: int = 0) -> tuple[Any, Any, Any]:
    """(model, tokenizer, image processor) of the tiny preset ``name``; the error lists the presets."""
    import torch

    from panovlm.adapt.families import model_class

    if name not in TINY_BASES:
        raise ValueError(f"unknown tiny base {name!r}; choose from {sorted(TINY_BASES)}")
    family = FAMILIES[TINY_BASES[name]]
    tokenizer = tiny_tokenizer(family)
    torch.manual_seed(seed)
    model = model_class(family)(tiny_config(family, tokenizer))
    return model, tokenizer, tiny_image_processor(family)
