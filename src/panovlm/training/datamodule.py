"""Dataset, collate and LightningDataModule for the three training stages.

The processor runs in the data-loader workers: ``__getitem__`` loads one panorama, renders its views
with the ``PanoramaImageProcessor`` (V, 3, S, S) and tokenises the conversation with
``processor.training_example`` (one ``<|vision|>`` placeholder). The collated batch keeps that compact
form; before the batch moves to the device the data module expands it with ``processor.expand_vision``
(N = V * S' copies), so the model gets the LM sequence itself and only checks it. Shapes: B samples,
V views, S view size, T text tokens.

In the vision stage samples carry views only (its loss reads no text). Bad samples are never replaced: a bad CSV row is reported by ``read_samples``; a bad image or an
empty label is either an error naming the file and row (``data.strict``) or a skipped sample,
logged with its file and row and counted in the batch (``batch["skipped"]``, logged as
``data/skipped``). A batch whose samples were all bad is skipped by the LightningModule.
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

from panovlm.config.run_config import RunConfig
from panovlm.data.augment import TextTurner, rotate_erp, turn_sample
from panovlm.data.conversations import conversations_per_image, shuffle_turns
from panovlm.data.datasets import read_samples
from panovlm.data.io import load_image
from panovlm.models.fusion import IGNORE_INDEX, pad_batch
from panovlm.stages import get_stage
from panovlm.training.loader import (
    ResumableLoader,
    ResumableLoaderState,
    ResumableRandomSampler,
    TrackedDataset,
    batches_done,
    validation_follows,
)

logger = logging.getLogger(__name__)


class PanoramaDataset(Dataset):
    """Samples -> dicts of ``pixel_values`` (V, 3, S, S), ``input_ids`` (T,), ``labels`` (T,), or None if bad.

    Merged conversations get their questions in a new random order at every access
    (``turn_seed=None``, training) or in one fixed shuffled order per sample (``turn_seed`` given,
    validation): see :func:`panovlm.data.datasets.shuffle_turns`.
    """

    def __init__(self, samples: Sequence[Any], processor: Any, max_length: int, vision_token: str,
                 system_prompt: str | None, strict: bool = False, with_text: bool = True,
                 turn_seed: int | None = None, turner: TextTurner | None = None) -> None:
        if vision_token != processor.vision_token:
            raise ValueError(f"vision_token {vision_token!r} is not the processor's {processor.vision_token!r}; the "
                             "training examples are built by the processor")
        self.samples = list(samples)
        self.turner = turner  # set: random quarter-turn yaw rotation at every access (training only)
        self._unturnable: set[str] = set()
        self.turn_seed = turn_seed
        self.with_text = with_text
        self.processor = processor
        self.max_length = max_length
        self.vision_token = vision_token
        self.system_prompt = system_prompt
        self.strict = strict

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict | None:
        rng = None if self.turn_seed is None else random.Random(self.turn_seed * 1_000_003 + index)
        sample = shuffle_turns(self.samples[index], rng)
        sample, quarter_turns = self._turn(sample)
        try:
            pixel_values = self._views(sample.image_path, quarter_turns)  # (V, 3, S, S)
            if not self.with_text:
                return {"pixel_values": torch.as_tensor(pixel_values)}
            example = self.processor.training_example(sample.messages, self.max_length, sample_id=sample.sample_id,
                                                      system_prompt=self.system_prompt)
        except ValueError as err:  # ImageLoadError is a ValueError; so is an empty-label sample
            where = f"sample {sample.sample_id} (image {sample.image_path})"
            if self.strict:
                raise ValueError(f"bad {where}: {err} (set data.strict=false to skip bad samples)") from err
            logger.warning("skipping bad %s: %s", where, err)
            return None
        return {
            "pixel_values": torch.as_tensor(pixel_values),
            "input_ids": torch.tensor(example["input_ids"], dtype=torch.long),
            "labels": torch.tensor(example["labels"], dtype=torch.long),
        }

    def _turn(self, sample: Any) -> tuple[Any, int]:
        """The sample turned by a random number of quarter turns (0 without rotation or when its text cannot be)."""
        if self.turner is None:
            return sample, 0
        quarter_turns = random.randrange(4)
        if quarter_turns == 0 or not self.with_text:
            return sample, quarter_turns
        return turn_sample(sample, self.turner, quarter_turns, self._unturnable)

    def _views(self, path: Path, quarter_turns: int) -> torch.Tensor:
        image_processor = self.processor.image_processor
        if quarter_turns == 0:
            return image_processor(path)
        erp = load_image(path, max_pixels=image_processor.max_pixels, strict_aspect=image_processor.strict_aspect)
        return image_processor.views_from_array(rotate_erp(erp, quarter_turns))


class Collator:
    """Right-pads ``input_ids`` with the pad token and ``labels`` with -100; stacks views to (B, V, 3, S, S).

    Every sample of a run shares the processor's ViewPlan, so the batch carries that one plan
    (``panovlm.compat.SeedCollator`` adds the seed API's ``tile_metas_batch``).
    """

    def __init__(self, pad_token_id: int, view_plan: Any) -> None:
        if pad_token_id is None:
            raise ValueError("the tokenizer has no pad token; set tokenizer.pad_token before training")
        self.pad_token_id = int(pad_token_id)
        self.view_plan = view_plan

    def __call__(self, items: Sequence[dict | None]) -> dict:
        kept = [item for item in items if item is not None]
        skipped = len(items) - len(kept)
        if not kept:
            return {"pixel_values": None, "skipped": skipped}
        batch = {
            "pixel_values": torch.stack([item["pixel_values"] for item in kept]),  # (B, V, 3, S, S)
            "view_plan": self.view_plan,
            "skipped": skipped,
        }
        if "input_ids" in kept[0]:
            batch.update(self._pad_text(kept))
        return batch

    def _pad_text(self, kept: Sequence[dict]) -> dict[str, torch.Tensor]:
        ids = [item["input_ids"] for item in kept]
        return {"input_ids": pad_batch(ids, self.pad_token_id, "right"),  # (B, T)
                "attention_mask": pad_batch([[1] * len(i) for i in ids], 0, "right"),  # (B, T)
                "labels": pad_batch([item["labels"] for item in kept], IGNORE_INDEX, "right")}  # (B, T)


def _worker_init(_: int) -> None:
    # Each worker renders views with cv2/numpy; one torch thread per worker keeps the cores for training.
    torch.set_num_threads(1)


class PanoramaDataModule(ResumableLoaderState, L.LightningDataModule):
    """Train / val loaders of one stage, read from ``config.data`` with the stage's batch size and text length."""

    def __init__(self, config: RunConfig, stage: str, processor: Any, vision_token: str,
                 system_prompt: str | None) -> None:
        super().__init__()
        self.config, self.stage, self.processor = config, stage, processor
        self.stage_cfg = config.stages.get(stage)
        self.vision_token = vision_token
        self.system_prompt = config.data.system_prompt or system_prompt
        self.train_set: PanoramaDataset | None = None
        self.val_set: PanoramaDataset | None = None

    def _path(self, name: str) -> Path:
        path = Path(self.config.data.data_dir) / name
        if not path.is_file():
            raise FileNotFoundError(f"data file {path} does not exist (data.data_dir={self.config.data.data_dir!r}, "
                                    f"file {name!r}); generate PanoShapes with `panovlm synth --out DIR`")
        return path

    def _dataset(self, name: str, limit: int | None, turn_seed: int | None, train: bool = False) -> PanoramaDataset:
        samples, report = read_samples(self._path(name), strict=self.config.data.strict)
        needs_text = get_stage(self.stage).needs_text
        if not needs_text:  # views only: one sample per panorama, not one per question
            samples = list({str(sample.image_path): sample for sample in reversed(samples)}.values())[::-1]
        elif self.config.data.conversations == "per_image":
            samples = conversations_per_image(samples, self.config.data.max_turns)
        if limit is not None:
            samples = samples[:limit]
        if not samples:
            raise ValueError(f"data file {self._path(name)} has no usable samples ({report.summary()})")
        # A stage without text reads only the views, so its samples are not tokenised (no text length limit).
        rotate = train and self.config.data.rotation == "quarter_turns"
        length = self.stage_cfg.text_length(self.processor.max_length)
        return PanoramaDataset(samples, self.processor, length, self.vision_token,
                               self.system_prompt, strict=self.config.data.strict, with_text=needs_text,
                               turn_seed=turn_seed,
                               turner=TextTurner(self.config.data.rotation_phrases) if rotate else None)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None:
            self.train_set = self._dataset(self.config.data.train_file, self.config.data.max_train_samples, None,
                                           train=True)
            self.val_set = self._dataset(self.config.data.val_file, self.config.data.max_val_samples, self.config.seed)

    def plain_loader(self, dataset: Dataset) -> DataLoader:
        """The stage's batches of ``dataset`` in file order, without resumable state."""
        return self._loader(dataset, train=False)

    def _loader(self, dataset: Dataset, train: bool) -> DataLoader:
        workers = self.config.data.num_workers
        tracked = TrackedDataset(dataset, workers)  # a failing or dying load names its sample
        kwargs = dict(
            batch_size=self.stage_cfg.batch_size,
            num_workers=workers,
            collate_fn=Collator(self.processor.tokenizer.pad_token_id, self.processor.image_processor.view_plan),
            pin_memory=torch.cuda.is_available(),
            persistent_workers=workers > 0,
            worker_init_fn=_worker_init if workers > 0 else None,
        )
        if not train:
            return DataLoader(tracked, shuffle=False, **kwargs)
        # Same shuffle draws as DataLoader(shuffle=True); resumable mid-epoch (panovlm.training.loader).
        return ResumableLoader(tracked, sampler=ResumableRandomSampler(tracked), position=self._batches_done,
                               validation_follows=self._validation_follows, **kwargs)

    def _batches_done(self) -> int:
        return batches_done(self.trainer)

    def on_before_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        # One placeholder per row -> the V * S' copies the model writes the vision tokens over (labels -100 there).
        if batch.get("input_ids") is None:
            return batch
        ids, mask, labels = self.processor.expand_vision(batch["input_ids"], batch["attention_mask"], batch["labels"])
        return {**batch, "input_ids": ids, "attention_mask": mask, "labels": labels}

    def _validation_follows(self, done: int) -> bool:
        return validation_follows(self.trainer, self.config.data.num_workers, done)

    def transfer_batch_to_device(self, batch: dict, device: torch.device, dataloader_idx: int) -> dict:
        # Only tensors move; the ViewPlan (a frozen dataclass) and the tile metas stay as they are.
        return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, train=False)
