"""Dataset and collate of the adapter: samples -> the base model's chat input + pixel inputs.

The same readers as the core (``panovlm.data.datasets.read_samples``: QuIC-360 CSV, instruction CSV,
LLaVA JSON) and the same bad-sample policy (``data.strict``: stop, else skip, count and log).
Shapes: ``input_ids`` / ``labels`` / ``attention_mask`` (B, T) right-padded; the views of the batch
concatenated over ``B * V`` images (``pixel_values``, and ``image_grid_thw`` (B * V, 3) for Qwen2.5-VL).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch
from torch.utils.data import Dataset

from panovlm.adapt.messages import AdaptProcessor, pad

logger = logging.getLogger(__name__)


class AdaptDataset(Dataset):
    """Each item: ``input_ids``, ``labels`` (lists) and ``views`` ``(V, H, W, 3)`` uint8, or None if bad."""

    def __init__(self, samples: Sequence[Any], processor: AdaptProcessor, max_length: int, strict: bool = False) -> None:
        self.samples, self.processor, self.max_length, self.strict = list(samples), processor, max_length, strict

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict | None:
        sample = self.samples[index]
        try:
            views = self.processor.render(sample.image_path)
            ids, labels = self.processor.training_ids(sample.messages, self.max_length)
        except ValueError as err:  # ImageLoadError is a ValueError; so are empty labels and over-long samples
            where = f"sample {sample.sample_id} (image {sample.image_path})"
            if self.strict:
                raise ValueError(f"bad {where}: {err} (set data.strict=false to skip bad samples)") from err
            logger.warning("skipping bad %s: %s", where, err)
            return None
        return {"input_ids": ids, "labels": labels, "views": views}


class AdaptCollator:
    """Right-pads the text and turns the views of the batch into the family's pixel inputs."""

    def __init__(self, processor: AdaptProcessor) -> None:
        self.processor = processor

    def __call__(self, items: Sequence[dict | None]) -> dict:
        kept = [item for item in items if item is not None]
        batch: dict[str, Any] = {"skipped": len(items) - len(kept)}
        if not kept:
            batch["input_ids"] = None
            return batch
        batch.update(pad([i["input_ids"] for i in kept], [i["labels"] for i in kept],
                         self.processor.tokenizer.pad_token_id, left=False))
        batch.update(self.processor.pixel_inputs([i["views"] for i in kept]))
        return batch


def model_inputs(batch: dict) -> dict[str, torch.Tensor]:
    """The tensors ``PanoAdapter.forward`` takes from a collated batch."""
    keys = ("input_ids", "attention_mask", "labels", "pixel_values", "image_grid_thw")
    return {k: batch[k] for k in keys if k in batch}
