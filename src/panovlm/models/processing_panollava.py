"""``PanoLLaVaProcessor``: panorama image processor + tokenizer + chat template in one object.

``processor(text=..., images=...)`` gives generation prompts: the ``<|vision|>`` placeholder at the
start of the (first) user turn, expanded to N = V * S' copies (``vision_tokens_per_view`` S'), left
padded, with ``pixel_values`` (B, V, 3, S, S). The expanded ids are the real LM sequence, so
``generate`` output can be sliced at ``input_ids.shape[1]``. ``training_example`` builds the
training form (one placeholder; the model expands it) with the same fusion code.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from typing import Any

import torch
from transformers.feature_extraction_utils import BatchFeature
from transformers.processing_utils import ProcessorMixin

from .fusion import DEFAULT_VISION_TOKEN, build_generation_prompt, build_training_example, pad_batch

# False when this file runs as exported remote code (a flat module that transformers loaded from a model folder).
IN_PACKAGE = __name__.startswith("panovlm.")


class PanoLLaVaProcessor(ProcessorMixin):
    """Args:
    image_processor: a ``PanoramaImageProcessor`` (its plan fixes V).
    tokenizer: the LM's tokenizer with ``vision_token`` registered.
    chat_template: overrides the tokenizer's template (``None``: the tokenizer's own, else ChatML).
    vision_token: the placeholder string.
    vision_tokens_per_view: S', resampler tokens per view (the model config's ``vision_tokens_per_view``).
    system_prompt: system message prepended when a conversation has none.
    max_length: default truncation length of ``training_example``.
    """

    def __init__(self, image_processor: Any = None, tokenizer: Any = None, chat_template: str | None = None,
                 vision_token: str = DEFAULT_VISION_TOKEN, vision_tokens_per_view: int | None = None,
                 system_prompt: str | None = None, max_length: int = 512, **kwargs: Any) -> None:
        self.vision_token = vision_token
        self.vision_tokens_per_view = vision_tokens_per_view
        self.system_prompt = system_prompt
        self.max_length = int(max_length)
        if chat_template is None and tokenizer is not None:
            from .fusion import ensure_chat_template

            ensure_chat_template(tokenizer)
        super().__init__(image_processor, tokenizer, chat_template=chat_template, **kwargs)
        if tokenizer is not None and chat_template is not None:
            tokenizer.chat_template = chat_template

    @classmethod
    def from_model_config(cls, config: Any, tokenizer: Any) -> PanoLLaVaProcessor:
        """A processor whose image settings, placeholder and token count are those of ``config``."""
        from ..data.image import PanoramaImageProcessor

        if config.vision_tokens_per_view is None:
            from .modeling_parts import infer_tokens_per_view

            config.vision_tokens_per_view = infer_tokens_per_view(config)
        image_processor = PanoramaImageProcessor(
            image_size=list(config.image_hw), crop_strategy=config.crop_strategy, fov_deg=config.fov_deg,
            overlap_ratio=config.overlap_ratio, image_mean=config.image_mean, image_std=config.image_std,
            anyres_e2p_closed_loop=config.anyres_e2p_closed_loop,
            anyres_e2p_pitch_range=config.anyres_e2p_pitch_range, global_mode=config.global_mode,
            cubemap_poles=config.cubemap_poles)
        return cls(image_processor=image_processor, tokenizer=tokenizer, vision_token=config.vision_token,
                   vision_tokens_per_view=config.vision_tokens_per_view, system_prompt=config.system_prompt,
                   max_length=config.max_text_length)

    def save_pretrained(self, save_directory: str | os.PathLike, push_to_hub: bool = False, **kwargs: Any) -> Any:
        """transformers' ``save_pretrained`` plus ``auto_map`` and the remote code (``panovlm.hub.remote_code``)."""
        if not IN_PACKAGE:
            return super().save_pretrained(save_directory, push_to_hub=push_to_hub, **kwargs)
        if push_to_hub:
            raise ValueError("save_pretrained(push_to_hub=True) would upload before the remote code is written; "
                             "use processor.push_to_hub(repo_id) or `panovlm push DIR REPO_ID`")
        result = super().save_pretrained(save_directory, **kwargs)
        # Imported by name so that the exported copy of this file does not bundle the generator.
        remote = importlib.import_module("panovlm.hub.remote_code")
        remote.add_processor_auto_map(save_directory)
        remote.write_remote_code(save_directory)
        return result

    @property
    def view_plan(self) -> Any:
        """The image processor's ViewPlan (pass it to the model as ``view_plan`` when it differs from the config's)."""
        return self.image_processor.view_plan

    @property
    def vision_token_id(self) -> int:
        return int(self.tokenizer.convert_tokens_to_ids(self.vision_token))

    @property
    def num_vision_tokens(self) -> int:
        """N = V * S' positions one panorama takes in the LM sequence."""
        if self.vision_tokens_per_view is None:
            raise ValueError("vision_tokens_per_view is not set; build the processor with from_model_config(config, "
                             "tokenizer) or pass vision_tokens_per_view=config.vision_tokens_per_view")
        return self.image_processor.num_views * int(self.vision_tokens_per_view)

    def __call__(self, text: str | Sequence[Any] | None = None, images: Any = None, return_tensors: str = "pt",
                 padding: bool | str = True, expand_vision: bool = True, **kwargs: Any) -> BatchFeature:
        """Generation inputs: ``pixel_values`` (if images), ``input_ids`` / ``attention_mask`` left-padded.

        ``text``: a user message, a list of them, or a list of conversations (lists of ``{role, content}``).
        ``images``: a path / PIL image / array, or a list with one per text. Without images the prompt
        has no placeholder (text-only use).
        """
        if kwargs:
            raise TypeError(f"unexpected arguments {sorted(kwargs)}")
        if return_tensors != "pt":
            raise ValueError(f"return_tensors must be 'pt', got {return_tensors!r}")
        texts = _as_batch(text)
        data: dict[str, torch.Tensor] = {}
        if images is not None:
            image_list = list(images) if isinstance(images, (list, tuple)) else [images]
            if texts is None:
                texts = [""] * len(image_list)
            if len(image_list) != len(texts):
                raise ValueError(f"got {len(image_list)} images for {len(texts)} texts; pass one image per text")
            data["pixel_values"] = self.image_processor.preprocess(image_list, return_tensors="pt")["pixel_values"]
        if texts is None:
            raise ValueError("pass text, images or both")
        prompts = [build_generation_prompt(self.tokenizer, t, self.vision_token, add_vision=images is not None,
                                           system_prompt=self.system_prompt) for t in texts]
        if images is not None and expand_vision:
            vid, num = self.vision_token_id, self.num_vision_tokens
            prompts = [[tok for i in p for tok in ([i] * num if i == vid else [i])] for p in prompts]
        if not padding and len({len(p) for p in prompts}) > 1:
            raise ValueError("prompts of different lengths need padding=True")
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        data["input_ids"] = pad_batch(prompts, pad_id, "left")
        data["attention_mask"] = pad_batch([[1] * len(p) for p in prompts], 0, "left")
        return BatchFeature(data)

    def training_example(self, messages: Sequence[dict], max_length: int | None = None, add_vision: bool = True,
                         sample_id: str | None = None) -> dict[str, list[int]]:
        """``{"input_ids", "labels"}`` of one conversation (one placeholder; see ``fusion``)."""
        return build_training_example(self.tokenizer, messages, max_length or self.max_length, self.vision_token,
                                      system_prompt=self.system_prompt, add_vision=add_vision, sample_id=sample_id)

    def decode_generated(self, sequences: torch.Tensor, prompt_length: int) -> list[str]:
        """Text of the new tokens of ``generate`` output (prompt cut at ``prompt_length``), stripped."""
        return [t.strip() for t in self.batch_decode(sequences[:, prompt_length:], skip_special_tokens=True)]

    @property
    def model_input_names(self) -> list[str]:
        return ["pixel_values", "input_ids", "attention_mask"]


def _as_batch(text: str | Sequence[Any] | None) -> list[Any] | None:
    if text is None:
        return None
    if isinstance(text, str):
        return [text]
    items = list(text)
    if items and isinstance(items[0], dict):  # one conversation
        return [items]
    return items


__all__ = ["PanoLLaVaProcessor"]
