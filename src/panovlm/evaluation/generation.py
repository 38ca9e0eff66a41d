"""One generation call: encode prompts (with or without the panoramas), generate, decode, clean.

Blind mode (the text-only baseline) runs the same model with the images removed: the prompt is built
without the ``<|vision|>`` placeholder, so no vision tokens are spliced in, and ``pixel_values=None``.
The model is then exactly its language model reading the same chat prompt, which is what "what
vision adds" must be measured against.

Shapes: ``pixel_values`` (B, V, 3, S, S); ``input_ids`` / ``attention_mask`` (B, T), left-padded;
``generate`` returns (B, T + new) and only the new tokens are decoded.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from panovlm.data.datasets import read_samples
from panovlm.evaluation.text import clean_text
from panovlm.models.loading import load_model

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GenerationSettings:
    """Decoding settings; greedy (deterministic) unless ``temperature > 0``."""

    max_new_tokens: int = 32
    num_beams: int = 1
    temperature: float = 0.0

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.num_beams < 1:
            raise ValueError(f"num_beams must be >= 1, got {self.num_beams}")
        if not 0.0 <= self.temperature <= 5.0:
            raise ValueError(f"temperature must be in [0, 5] (0 = greedy), got {self.temperature}")

    def generate_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "num_beams": self.num_beams}
        if self.temperature > 0:
            kwargs.update(do_sample=True, temperature=self.temperature)
        else:
            kwargs.update(do_sample=False)
        return kwargs


def user_text(messages: Sequence[dict]) -> str:
    """The first user turn of a chat (the prompt the model was trained to answer)."""
    for message in messages:
        if message.get("role") == "user":
            return str(message["content"])
    raise ValueError(f"no user turn in messages {list(messages)!r}")


def prompt_messages(messages: Sequence[dict]) -> list[dict]:
    """The conversation up to (not including) its last assistant turn: what the model must answer."""
    last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=len(messages))
    prompt = [dict(m) for m in messages[:last]]
    if not any(m.get("role") == "user" for m in prompt):
        raise ValueError(f"no user turn before the last answer in messages {list(messages)!r}")
    return prompt


def encode(processor: Any, texts: list[str] | list[list[dict]], images: list[str | Path] | None) -> dict[str, torch.Tensor | None]:
    """Processor inputs for generation; ``images=None`` builds text-only (blind) prompts."""
    if images is None:
        batch = processor(text=texts, images=None, return_tensors="pt", padding=True)
        ids = batch["input_ids"]
        vision_id = getattr(processor, "vision_token_id", None)
        if vision_id is not None and bool((ids == vision_id).any()):
            raise ValueError("the processor put a vision placeholder into a blind (images=None) prompt")
        return {"input_ids": ids, "attention_mask": batch["attention_mask"], "pixel_values": None}
    batch = processor(text=texts, images=[str(p) for p in images], return_tensors="pt", padding=True)
    return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"],
            "pixel_values": batch["pixel_values"]}


@torch.inference_mode()
def generate_batch(model: Any, processor: Any, texts: list[str] | list[list[dict]], images: list[str | Path] | None,
                   settings: GenerationSettings, streamer: Any = None) -> list[str]:
    """Cleaned continuations for ``texts`` (user messages or conversations) about ``images`` (``None`` = blind)."""
    if hasattr(model, "answer"):  # a panovlm.adapt.PanoAdapter builds its base model's own chat input
        return [clean_text(t) for t in model.answer(texts, images, settings.generate_kwargs(), streamer)]
    inputs = encode(processor, texts, images)
    device = next(model.parameters()).device
    inputs = {k: (v.to(device) if v is not None else None) for k, v in inputs.items()}
    if inputs["pixel_values"] is not None:
        inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)
    prompt_len = inputs["input_ids"].shape[1]
    out = model.generate(**inputs, **settings.generate_kwargs(), streamer=streamer)  # (B, T + new)
    decoded = processor.batch_decode(out[:, prompt_len:], skip_special_tokens=True)
    return [clean_text(t) for t in decoded]


def caption_one(model_dir: str | Path, csv: str | Path, index: int = 0, max_new_tokens: int = 32) -> dict:
    """Answer one sample of ``csv`` -> ``{"image", "query", "prediction", "reference"}`` (quickstart example)."""
    samples, _ = read_samples(csv)
    if not 0 <= index < len(samples):
        raise IndexError(f"index {index} is out of range: {csv} has {len(samples)} readable samples")
    sample = samples[index]
    model, processor = load_model(model_dir)
    settings = GenerationSettings(max_new_tokens=max_new_tokens)
    prediction = generate_batch(model, processor, [prompt_messages(sample.messages)], [sample.image_path], settings)[0]
    return {"image": str(sample.image_path), "query": sample.meta.get("query", user_text(sample.messages)),
            "prediction": prediction, "reference": sample.references[-1]}
