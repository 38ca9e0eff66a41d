"""The training data loader: resumable at the batch where a checkpoint was written, and naming failed samples.

The loader's ``state_dict`` is the epoch's shuffle seed, the batches the trainer finished and the RNG
states; the data module carries it in its own checkpoint state and hands it to ``load_state_dict``
before the resumed run's first ``iter()`` (Lightning restores data-module state before
``configure_optimizers``, which starts the loader through ``estimated_stepping_batches``, too early
for the fit loop's own loader-state restore). The resumed epoch then yields exactly the batches the
uninterrupted one had left, drawn with the same random numbers:

- :class:`ResumableRandomSampler` draws its seed from the global torch RNG exactly as
  ``torch.utils.data.RandomSampler`` does (one int64 per epoch, then ``randperm``), so a fresh run's
  order is today's; resumed, it reuses the saved seed and starts after the finished batches.
- python / numpy RNG states are snapshotted before each batch is fetched (Lightning fetches one batch
  ahead, so the state at save time is already past the next batch's augmentation draws); the torch
  state is the one at save time (it drives dropout in the steps).

Exact for ``num_workers=0``. With workers a mid-epoch resume keeps the epoch's order, but draws made
inside worker processes (``data.rotation``, merged-turn shuffles) restart from the workers' seeds and
persistent workers draw their iterator seed once per process; under a distributed sampler (DDP) the
finished batches are read again and dropped. See ``docs/reliability.md``.
"""

from __future__ import annotations

import logging
import multiprocessing
import random
import re
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler

logger = logging.getLogger(__name__)
_SNAPSHOTS = 4  # batches fetched ahead by Lightning (1) plus margin


class ResumableRandomSampler(RandomSampler):
    """``RandomSampler`` (no replacement, no generator) that can restart inside an epoch."""

    def __init__(self, data_source: Any) -> None:
        super().__init__(data_source)
        self.seed: int | None = None
        self._resume: tuple[int, int] | None = None  # (seed, first index) for the next epoch only

    def resume_at(self, seed: int, start: int) -> None:
        self._resume = (int(seed), int(start))

    def __iter__(self) -> Iterator[int]:
        if self._resume is not None:
            seed, start = self._resume
            self._resume = None
        else:  # the same draw as RandomSampler.__iter__, so a fresh run keeps its order
            seed, start = int(torch.empty((), dtype=torch.int64).random_().item()), 0
        self.seed = seed
        generator = torch.Generator()
        generator.manual_seed(seed)
        yield from torch.randperm(len(self.data_source), generator=generator).tolist()[start:]


def _host_rng() -> dict[str, Any]:
    # Plain lists and tuples only: Lightning loads checkpoints with torch.load(weights_only=True).
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"python": random.getstate(), "numpy": (name, keys.tolist(), int(pos), int(has_gauss), float(gauss))}


def _torch_rng() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng(state: dict[str, Any]) -> None:
    if "python" in state:
        random.setstate(state["python"])
    if "numpy" in state:
        name, keys, pos, has_gauss, gauss = state["numpy"]
        np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    if "torch" in state:
        torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _restore(state: dict[str, Any]) -> None:
    _set_rng(state["rng"])
    if state.get("validation_follows"):  # the skipped validation's DataLoader iterator seed draw
        torch.empty((), dtype=torch.int64).random_()


class TrackedDataset(Dataset):
    """Wraps a dataset of ``Sample``-backed items so that a failure names the sample (file, line, image).

    Each worker writes the index it is loading into a shared array, so when a worker process dies
    (killed, segfault in a decoder) the loader can still say which sample it was on.
    """

    def __init__(self, dataset: Any, num_workers: int) -> None:
        self.dataset = dataset
        self.loading = multiprocessing.get_context().Array("q", [-1] * max(1, num_workers), lock=False)

    def __len__(self) -> int:
        return len(self.dataset)

    def describe(self, index: int) -> str:
        sample = self.dataset.samples[index]
        meta = getattr(sample, "meta", {})
        line = meta.get("line", meta.get("item", "?"))
        return f"sample {sample.sample_id} (index {index}, row/line {line}, image {sample.image_path})"

    def __getitem__(self, index: int) -> Any:
        info = torch.utils.data.get_worker_info()
        self.loading[info.id if info is not None else 0] = index
        try:
            item = self.dataset[index]
        except (OSError, RuntimeError, MemoryError) as err:  # ValueError (bad sample) is handled by the dataset
            raise SampleLoadError(f"loading {self.describe(index)} failed: {type(err).__name__}: {err}") from err
        self.loading[info.id if info is not None else 0] = -1
        return item


class SampleLoadError(RuntimeError):
    """A sample could not be loaded; the message names its file row and image."""


_DEAD_WORKER = re.compile(r"DataLoader worker \(pid\(?s?\)? ?([\d, ]+)\)")


def batches_done(trainer: Any) -> int:
    """Batches of the current epoch whose training step finished (what a resumed epoch skips)."""
    return int(trainer.fit_loop.epoch_loop.batch_progress.current.processed)


def validation_follows(trainer: Any, num_workers: int, done: int) -> bool:
    """Whether ``trainer`` validates after batch ``done`` of this epoch (a fresh, worker-less val iterator)."""
    every = trainer.check_val_every_n_epoch
    if num_workers > 0 or trainer.limit_val_batches == 0 or (every and (trainer.current_epoch + 1) % every):
        return False  # persistent val workers draw their seed once per process: not replayable (reliability.md)
    at = trainer.val_check_batch  # None: validation by wall time, never right after a known batch
    last = trainer.num_training_batches
    return done == last if at is None else done % int(at) == 0 or done == last


class ResumableLoader(DataLoader):
    """A ``DataLoader`` with the ``state_dict`` / ``load_state_dict`` pair that Lightning checkpoints.

    ``position``: the number of batches of the current epoch whose training step finished (the data
    module reads it from the trainer), called when a checkpoint is written. ``validation_follows(done)``:
    whether the trainer validates right after that batch. Lightning does not rerun that validation
    on resume, and creating its loader's iterator drew one seed from the global torch RNG, so the
    resumed loader replays that draw.
    """

    def __init__(self, dataset: Any, *, position: Callable[[], int],
                 validation_follows: Callable[[int], bool] = lambda done: False, **kwargs: Any) -> None:
        super().__init__(dataset, **kwargs)
        self.position = position
        self.validation_follows = validation_follows
        self._snapshots: dict[int, dict[str, Any]] = {}
        self._to_load: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        done = int(self.position())
        host = self._snapshots.get(done, _host_rng())  # before the next batch's fetch
        sampler = self.sampler if isinstance(self.sampler, ResumableRandomSampler) else None
        return {"seed": None if sampler is None else sampler.seed, "done": done, "batches": len(self),
                "validation_follows": bool(self.validation_follows(done)), "rng": {**host, **_torch_rng()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._to_load = dict(state)

    def __iter__(self) -> Iterator[Any]:
        state, self._to_load = self._to_load, None
        mid_epoch = state is not None and 0 < state["done"] < state["batches"]
        if state is not None and not mid_epoch:
            _restore(state)  # a checkpoint between epochs: the next epoch draws as it would have
        first, drop = 0, 0
        if mid_epoch:
            if isinstance(self.sampler, ResumableRandomSampler) and state["seed"] is not None:
                self.sampler.resume_at(state["seed"], state["done"] * int(self.batch_size))
                first = state["done"]
            else:
                drop = state["done"]  # e.g. Lightning's DistributedSampler: deterministic per epoch, read again
            logger.info("data loader resumes at batch %d of %d of the epoch", state["done"], state["batches"])
        inner = super().__iter__()
        if mid_epoch:
            _restore(state)  # after the iterator's own seed draw, which the epoch already made
        yield from self._iterate(inner, first, drop)

    def _iterate(self, inner: Any, index: int, drop: int) -> Iterator[Any]:
        """Batches from ``index`` on, snapshotting the host RNG before each fetch; the first ``drop`` are read only."""
        self._snapshots = {}
        while True:
            self._snapshots[index] = _host_rng()
            self._snapshots.pop(index - _SNAPSHOTS, None)
            try:
                batch = next(inner)
            except StopIteration:
                return
            except (RuntimeError, ConnectionError) as err:  # a worker process died: name what it was loading
                # ConnectionError: the main process was receiving a tensor the dead worker had shared.
                if isinstance(err, SampleLoadError) or not (isinstance(err, ConnectionError) or
                                                            _DEAD_WORKER.search(str(err))):
                    raise
                raise SampleLoadError(f"a data-loader worker died ({err}); it was loading "
                                      f"{self._in_flight(inner)}") from err
            index += 1
            if index > drop:
                yield batch

    def _in_flight(self, inner: Any) -> str:
        dataset = self.dataset
        if not isinstance(dataset, TrackedDataset):
            return "an unknown sample"
        alive = {i for i, w in enumerate(getattr(inner, "_workers", [])) if w.is_alive()}
        dead = [i for i in range(len(dataset.loading)) if i not in alive and dataset.loading[i] >= 0]
        return "; ".join(dataset.describe(int(dataset.loading[i])) for i in dead) or "an unknown sample"


class ResumableLoaderState:
    """Data-module half of an exact resume: the train loader's position travels in the module's state.

    Lightning restores a data module's state before ``configure_optimizers``, whose
    ``estimated_stepping_batches`` builds (and starts) the train loader, so the state waits in
    ``_loader_state`` until ``train_dataloader`` builds the loader. The host class defines
    ``_loader(dataset, train)`` and ``train_set``.
    """

    _train_loader: ResumableLoader | None = None
    _loader_state: dict | None = None  # from a checkpoint, for the next train loader

    def train_dataloader(self) -> DataLoader:
        loader = self._loader(self.train_set, train=True)
        if self._loader_state is not None:
            loader.load_state_dict(self._loader_state)
            self._loader_state = None
        self._train_loader = loader
        return loader

    def state_dict(self) -> dict:
        return {} if self._train_loader is None else {"train_loader": self._train_loader.state_dict()}

    def load_state_dict(self, state_dict: dict) -> None:
        self._loader_state = state_dict.get("train_loader")


__all__ = ["ResumableLoader", "ResumableLoaderState", "ResumableRandomSampler", "SampleLoadError", "TrackedDataset", "batches_done",
           "validation_follows"]
