"""``PanoLLaVaProcessor``: panorama image processor + tokenizer + chat template in one object.

``processor(text=..., images=...)`` gives generation prompts: the ``<|vision|>`` placeholder at the
start of the (first) user turn, expanded to N = V * S' copies (``vision_tokens_per_view`` S'), left
padded, with ``pixel_values`` (B, V, 3, S, S). The expanded ids are the real LM sequence, so
``generate`` output can be sliced at ``input_ids.shape[1]``. ``training_example`` builds the
training form (one placeholder) with the same fusion code; ``expand_vision`` expands a padded batch
of it (what the training data module does before a batch reaches the model).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from typing import Any

import torch
from transformers.feature_extraction_utils import BatchFeature
from transformers.processing_utils import ProcessorMixin

from ..data.image import PanoramaImageProcessor
from .fusion import (
    DEFAULT_VISION_TOKEN,
    build_generation_prompt,
    build_training_example,
    ensure_chat_template,
    expand_vision_placeholders,
    pad_batch,
    vision_span,
)
from .modeling_parts import tokens_per_view

# False when this file runs as exported remote code (a flat module that transformers loaded from a model folder).
IN_PACKAGE = __name__.startswith("panovlm.")
# ``training_example``'s default system prompt: the processor's own.
OWN_PROMPT = object()


class PanoLLaVaProcessor(ProcessorMixin):
    """Args:
    image_processor: a ``PanoramaImageProcessor`` (its plan fixes V).
    tokenizer: the LM's tokenizer with ``vision_token`` registered.
    chat_template: overrides the tokenizer's template (``None``: the tokenizer's own, else ChatML).
    vision_token: the placeholder string.
    vision_tokens_per_view: S', resampler tokens per view (the model config's ``vision_tokens_per_view``).
    system_prompt: system message prepended when a conversation has none.
    max_length: default truncation length of ``training_example``.
    view_tag_ids: per view, the token ids of its direction word placed before its vision tokens (the model
        config's ``tag_ids()``; ``None``: no tags).
    """

    def __init__(self, image_processor: Any = None, tokenizer: Any = None, chat_template: str | None = None,
                 vision_token: str = DEFAULT_VISION_TOKEN, vision_tokens_per_view: int | None = None,
                 system_prompt: str | None = None, max_length: int = 512, view_tag_ids: list | None = None,
                 **kwargs: Any) -> None:
        self.vision_token = vision_token
        self.view_tag_ids = None if view_tag_ids is None else [[int(i) for i in ids] for ids in view_tag_ids]
        self.vision_tokens_per_view = vision_tokens_per_view
        self.system_prompt = system_prompt
        self.max_length = int(max_length)
        if chat_template is None and tokenizer is not None:
            ensure_chat_template(tokenizer)
        super().__init__(image_processor, tokenizer, chat_template=chat_template, **kwargs)
        if tokenizer is not None and chat_template is not None:
            tokenizer.chat_template = chat_template

    @classmethod
    def from_model_config(cls, config: Any, tokenizer: Any) -> PanoLLaVaProcessor:
        """A processor whose view plan, placeholder and token count are those of ``config`` (left unchanged)."""
        return cls(image_processor=image_processor_for(config), tokenizer=tokenizer, vision_token=config.vision_token,
                   vision_tokens_per_view=tokens_per_view(config), system_prompt=config.system_prompt,
                   max_length=config.max_text_length, view_tag_ids=config.tag_ids())

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
        """N = V * S' vision features (placeholder copies) of one panorama; view tags come on top."""
        return self.image_processor.num_views * self._tokens_per_view()

    def _tokens_per_view(self) -> int:
        if self.vision_tokens_per_view is None:
            raise ValueError("vision_tokens_per_view is not set; build the processor with from_model_config(config, "
                             "tokenizer) or pass vision_tokens_per_view=config.vision_tokens_per_view")
        return int(self.vision_tokens_per_view)

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
        if not padding and len({len(p) for p in prompts}) > 1:
            raise ValueError("prompts of different lengths need padding=True")
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        input_ids = pad_batch(prompts, pad_id, "left")  # (B, T)
        attention_mask = pad_batch([[1] * len(p) for p in prompts], 0, "left")  # (B, T)
        if images is not None and expand_vision:  # every row grows by N - 1, so the left padding stays aligned
            input_ids, attention_mask, _ = self.expand_vision(input_ids, attention_mask)  # (B, T + N - 1)
        data["input_ids"], data["attention_mask"] = input_ids, attention_mask
        return BatchFeature(data)

    def expand_vision(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                      labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """One placeholder per row -> the vision span (labels there -100): ``fusion.expand_vision_placeholders``."""
        return expand_vision_placeholders(input_ids, self.vision_token_id, self.vision_span, attention_mask, labels)

    @property
    def vision_span(self) -> list[int]:
        """The ids one placeholder becomes: per view its tag ids (if any) and S' placeholder copies."""
        return vision_span(self.vision_token_id, self.image_processor.num_views, self._tokens_per_view(),
                           self.view_tag_ids)

    def apply_chat_template(self, conversation: Sequence[Any], chat_template: str | None = None, tokenize: bool = False,
                            return_dict: bool = False, add_generation_prompt: bool = True,
                            continue_final_message: bool = False, return_tensors: str | None = "pt",
                            processor_kwargs: dict | None = None, **kwargs: Any) -> Any:
        """Generation prompts from HF's multimodal messages form (what ``pipeline("image-text-to-text")`` sends).

        ``conversation``: one conversation or a list of them, each a list of ``{"role", "content"}`` where
        ``content`` is a string or a list of ``{"type": "text", "text"}`` / ``{"type": "image", "url" | "path" |
        "image"}`` items. At most one panorama per conversation; its placeholder goes where training puts it
        (the start of the first user turn), wherever the image item sits. ``tokenize=False`` returns the
        prompt text(s) with one placeholder; ``tokenize=True`` the ``__call__`` inputs (a ``BatchFeature``
        with ``return_dict``, else the ``input_ids``).
        """
        if chat_template is not None:
            raise ValueError("chat_template cannot be overridden here: prompts must be formatted as in training")
        if continue_final_message or not add_generation_prompt:
            raise ValueError("PanoLLaVaProcessor prompts end with the assistant header (add_generation_prompt=True, "
                             "continue_final_message=False); prefilling an assistant answer is not supported")
        if kwargs:
            raise TypeError(f"unexpected arguments {sorted(kwargs)}")
        conversations = [conversation] if conversation and isinstance(conversation[0], dict) else list(conversation)
        texts, images = zip(*(_split_messages(c) for c in conversations), strict=True)
        with_image = [image is not None for image in images]
        if any(with_image) and not all(with_image):
            raise ValueError("either every conversation of a batch has an image or none has one "
                             f"(image present: {list(with_image)})")
        if not tokenize:
            prompts = [self.tokenizer.decode(build_generation_prompt(self.tokenizer, t, self.vision_token,
                                                                     add_vision=any(with_image),
                                                                     system_prompt=self.system_prompt))
                       for t in texts]
            return prompts[0] if len(prompts) == 1 and isinstance(conversation[0], dict) else prompts
        inputs = self(text=list(texts), images=list(images) if any(with_image) else None,
                      return_tensors=return_tensors or "pt", **dict(processor_kwargs or {}))
        return inputs if return_dict else inputs["input_ids"]

    def training_example(self, messages: Sequence[dict], max_length: int | None = None, add_vision: bool = True,
                         sample_id: str | None = None, system_prompt: str | None | object = OWN_PROMPT,
                         ) -> dict[str, list[int]]:
        """``{"input_ids", "labels"}`` of one conversation (one placeholder; see ``fusion``).

        ``system_prompt``: the processor's own unless given (``None``: no system message).
        """
        prompt = self.system_prompt if system_prompt is OWN_PROMPT else system_prompt
        return build_training_example(self.tokenizer, messages, max_length or self.max_length, self.vision_token,
                                      system_prompt=prompt, add_vision=add_vision, sample_id=sample_id)

    def decode_generated(self, sequences: torch.Tensor, prompt_length: int) -> list[str]:
        """Text of the new tokens of ``generate`` output (prompt cut at ``prompt_length``), stripped."""
        return [t.strip() for t in self.batch_decode(sequences[:, prompt_length:], skip_special_tokens=True)]

    @property
    def model_input_names(self) -> list[str]:
        return ["pixel_values", "input_ids", "attention_mask"]


def image_processor_for(config: Any) -> PanoramaImageProcessor:
    """The ``PanoramaImageProcessor`` of a ``PanoLLaVaConfig``: its ``plan_spec`` and normalisation."""
    return PanoramaImageProcessor.from_spec(config.plan_spec, image_mean=config.image_mean, image_std=config.image_std)


def _split_messages(conversation: Sequence[dict]) -> tuple[list[dict], Any]:
    """(messages with string contents, the conversation's image or None) of one HF-form conversation."""
    messages, found = [], []
    for i, message in enumerate(conversation):
        content = message.get("content", "")
        if isinstance(content, str):
            messages.append({"role": message["role"], "content": content})
            continue
        parts = []
        for item in content:
            kind = item.get("type")
            if kind == "text":
                parts.append(str(item.get("text", "")))
            elif kind == "image":
                source = next((item[k] for k in ("image", "url", "path") if item.get(k) is not None), None)
                if source is None:
                    raise ValueError(f"message {i}: an image item needs an 'image', 'url' or 'path' entry, got "
                                     f"keys {sorted(item)}")
                found.append(source)
            else:
                raise ValueError(f"message {i}: content type {kind!r} is not supported; use 'text' or 'image'")
        messages.append({"role": message["role"], "content": " ".join(p for p in parts if p)})
    if len(found) > 1:
        raise ValueError(f"a conversation holds {len(found)} images; PanoLLaVA reads one panorama per conversation")
    return messages, (found[0] if found else None)


def _as_batch(text: str | Sequence[Any] | None) -> list[Any] | None:
    if text is None:
        return None
    if isinstance(text, str):
        return [text]
    items = list(text)
    if items and isinstance(items[0], dict):  # one conversation
        return [items]
    return items


__all__ = ["PanoLLaVaProcessor", "image_processor_for"]
