"""Resume checkpoints: cadence (steps, minutes, keep the last K), atomic writes, and the newest valid file.

Layout of ``RUN_DIR/<stage>/checkpoints/``::

    step-00000120.ckpt   every checkpoint.every_n_steps optimizer steps (newest keep_last kept)
    time-00000133.ckpt   every checkpoint.every_minutes of training (newest keep_last kept)
    last.ckpt            link to the newest step-*.ckpt
    interrupt-*.ckpt     written on SIGINT / SIGTERM (panovlm.training.guards.GracefulStop)
    best-*.ckpt          best value of the stage's monitored metric

Every file holds the full state Lightning resumes from: weights, optimizer, scheduler, AMP scaler,
loop progress, callback states, and the train loader's position and RNG states
(:mod:`panovlm.training.loader`). :class:`AtomicCheckpointIO` writes each to a temporary file in the
same folder, fsyncs it, renames it over the target and fsyncs the folder, so a kill or power loss
leaves the old file or the new one. ``--resume`` takes the newest file that passes
:func:`check_checkpoint` (a torch zip archive whose members all match their CRC) and logs the ones
it passed over.
"""

from __future__ import annotations

import logging
import os
import zipfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import Callback, ModelCheckpoint

from panovlm.config.checkpoint_config import CheckpointSettings

logger = logging.getLogger(__name__)
RESUME_PATTERNS: tuple[str, ...] = ("last.ckpt", "step-*.ckpt", "time-*.ckpt", "interrupt-*.ckpt")


class CorruptCheckpointError(ValueError):
    """A checkpoint file is truncated or damaged; the message names it and what is wrong."""


def fsync_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """``write(handle)`` into ``path`` atomically: temporary file in the same folder, fsync, rename, fsync the folder.

    The data streams into the file (a checkpoint is never held twice in memory); a failed write removes
    the temporary file and leaves ``path`` as it was.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # the rename itself reaches the disk
    finally:
        os.close(folder)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's torch checkpoint IO with an fsync'ed temporary-file-and-rename write."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        if storage_options is not None:
            raise TypeError(f"AtomicCheckpointIO takes no storage_options, got {storage_options!r}")
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fsync_write(target, lambda handle: torch.save(checkpoint, handle))


def check_checkpoint(path: Path) -> Path:
    """``path`` if it is a complete torch checkpoint (zip archive, every member's CRC right), else the error.

    Reads the file once without unpickling it: a truncated file has no zip directory, a damaged one
    fails a CRC.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise CorruptCheckpointError(f"checkpoint {path} is unreadable ({type(err).__name__}: {err})") from err
    if bad is not None:
        raise CorruptCheckpointError(f"checkpoint {path} is damaged: member {bad!r} fails its CRC check")
    return path


def resume_candidates(ckpt_dir: Path) -> list[Path]:
    """The resume checkpoints of a stage folder, newest first (by write time; ``last.ckpt`` as the file it links)."""
    found = {path.resolve() for pattern in RESUME_PATTERNS for path in ckpt_dir.glob(pattern)
             if path.exists()}  # a dangling last.ckpt link points at a pruned file
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def newest_valid_checkpoint(ckpt_dir: Path) -> Path | None:
    """The newest checkpoint of ``ckpt_dir`` that :func:`check_checkpoint` accepts; each one passed over is logged."""
    for path in resume_candidates(ckpt_dir):
        try:
            return check_checkpoint(path)
        except CorruptCheckpointError as err:
            logger.warning("%s; trying the previous checkpoint", err)
    return None


def checkpoint_callbacks(settings: CheckpointSettings, ckpt_dir: Path) -> list[Callback]:
    """Step- and time-based resume checkpoints (Lightning ``ModelCheckpoint``), each keeping the newest K."""
    keep = dict(dirpath=ckpt_dir, monitor="step", mode="max", save_top_k=settings.keep_last,
                auto_insert_metric_name=False)
    callbacks: list[Callback] = [
        ModelCheckpoint(filename="step-{step:08d}", every_n_train_steps=settings.every_n_steps, save_last="link",
                        **keep),
    ]
    if settings.every_minutes is not None:
        callbacks.append(ModelCheckpoint(filename="time-{step:08d}",
                                         train_time_interval=timedelta(minutes=settings.every_minutes), **keep))
    return callbacks


def checkpoint_bytes(model: torch.nn.Module) -> int:
    """Estimated size of one checkpoint: every tensor of the model plus AdamW's two fp32 moments per trainable value."""
    weights = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    moments = sum(2 * 4 * p.numel() for p in model.parameters() if p.requires_grad)
    return weights + moments


def files_kept(settings: CheckpointSettings) -> int:
    """Checkpoint files that can exist at once: K step + K time + best + interrupt + the one being written."""
    return settings.keep_last * (2 if settings.every_minutes is not None else 1) + 3


__all__ = ["AtomicCheckpointIO", "CorruptCheckpointError", "check_checkpoint", "checkpoint_bytes",
           "checkpoint_callbacks", "files_kept", "fsync_write", "newest_valid_checkpoint", "resume_candidates"]
