"""Dataset and collate of the adapter: samples -> the base model's chat input + pixel inputs.

The same readers as the core (``panovlm.data.datasets.read_samples``: QuIC-360 CSV, instruction CSV,
LLaVA JSON) and the same bad-sample policy (``data.strict``: stop, else skip, count and log).
``AdaptDataModule`` gives the loaders; its train loader is the core's resumable one
(:mod:`panovlm.training.loader`: same order as ``shuffle=True``, restarts mid-epoch on ``--resume``).
``data.rotation: quarter_turns`` turns each training sample by a random number of quarter turns,
image and direction words together, exactly as the core does (:mod:`panovlm.data.augment`).
``data.conversations: per_image`` merges each panorama's questions into leak-free multi-turn
conversations with the core's :func:`~panovlm.data.conversations.conversations_per_image` (the
views go into the first user turn only); :func:`~panovlm.data.conversations.shuffle_turns` reorders
their turns at every training access and once, with a fixed seed, for validation.
Shapes: ``input_ids`` / ``labels`` / ``attention_mask`` (B, T) right-padded; the views of the batch
concatenated over ``B * V`` images (``pixel_values``, and ``image_grid_thw`` (B * V, 3) for Qwen2.5-VL).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from panovlm.adapt.messages import AdaptProcessor, pad
from panovlm.data.augment import TextTurner, rotate_erp, turn_sample
from panovlm.data.conversations import conversations_per_image, shuffle_turns
from panovlm.data.io import load_image
from panovlm.training.loader import (
    ResumableLoader,
    ResumableLoaderState,
    ResumableRandomSampler,
    TrackedDataset,
    batches_done,
    validation_follows,
)

logger = logging.getLogger(__name__)


class AdaptDataset(Dataset):
    """Each item: ``input_ids``, ``labels`` (lists) and ``views`` ``(V, H, W, 3)`` uint8, or None if bad.

    Merged conversations get their turns in a new random order at every access (``turn_seed=None``,
    training) or in one fixed shuffled order per sample (``turn_seed`` given, validation), as in the
    core's ``PanoramaDataset``.
    """

    def __init__(self, samples: Sequence[Any], processor: AdaptProcessor, max_length: int, strict: bool = False,
                 turner: TextTurner | None = None, turn_seed: int | None = None) -> None:
        self.samples, self.processor, self.max_length, self.strict = list(samples), processor, max_length, strict
        self.turner = turner  # set: random quarter-turn yaw rotation at every access (training only)
        self.turn_seed = turn_seed
        self._unturnable: set[str] = set()

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict | None:
        # The core's seeding: validation's order depends on the sample only, never on the access.
        rng = None if self.turn_seed is None else random.Random(self.turn_seed * 1_000_003 + index)
        sample, quarter_turns = shuffle_turns(self.samples[index], rng), 0
        if self.turner is not None:  # python random: the resumable loader snapshots and restores its state
            sample, quarter_turns = turn_sample(sample, self.turner, random.randrange(4), self._unturnable)
        try:
            image = rotate_erp(load_image(sample.image_path), quarter_turns) if quarter_turns else sample.image_path
            views = self.processor.render(image)
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


class AdaptDataModule(ResumableLoaderState, L.LightningDataModule):
    """Train / val loaders of one adapter stage, read from ``config.data`` with the stage's batch size.

    The train loader's position and RNG states travel in this module's checkpoint state, as in the
    core's ``PanoramaDataModule`` (Lightning restores it before the resumed run's first ``iter()``).
    """

    def __init__(self, config: Any, batch_size: int, processor: AdaptProcessor, max_length: int) -> None:
        super().__init__()
        self.config, self.batch_size, self.processor, self.max_length = config, batch_size, processor, max_length
        self.train_set: AdaptDataset | None = None
        self.val_set: AdaptDataset | None = None

    def _dataset(self, name: str, limit: int | None, train: bool) -> AdaptDataset:
        from panovlm.data.datasets import read_samples

        data = self.config.data
        path = Path(data.data_dir) / name
        if not path.is_file():
            raise FileNotFoundError(f"data file {path} does not exist (data.data_dir={data.data_dir!r})")
        samples, report = read_samples(path, strict=data.strict)
        if data.conversations == "per_image":  # before the limit: it counts conversations, as in the core
            samples = conversations_per_image(samples, data.max_turns)
        samples = samples[:limit] if limit is not None else samples
        if not samples:
            raise ValueError(f"data file {path} has no usable samples ({report.summary()})")
        rotate = train and data.rotation == "quarter_turns"
        return AdaptDataset(samples, self.processor, self.max_length, strict=data.strict,
                            turner=TextTurner(data.rotation_phrases) if rotate else None,
                            turn_seed=None if train else self.config.seed)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None:
            data = self.config.data
            self.train_set = self._dataset(data.train_file, data.max_train_samples, train=True)
            self.val_set = self._dataset(data.val_file, data.max_val_samples, train=False)

    def _loader(self, dataset: AdaptDataset, train: bool) -> DataLoader:
        workers = self.config.data.num_workers
        tracked = TrackedDataset(dataset, workers)  # a failing or dying load names its sample
        kwargs = dict(batch_size=self.batch_size, num_workers=workers, collate_fn=AdaptCollator(self.processor),
                      persistent_workers=workers > 0)
        if not train:
            return DataLoader(tracked, shuffle=False, **kwargs)
        return ResumableLoader(tracked, sampler=ResumableRandomSampler(tracked), position=lambda: batches_done(
            self.trainer), validation_follows=lambda done: validation_follows(self.trainer, workers, done), **kwargs)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, train=False)

