"""Callbacks and loggers of one stage: checkpoints, learning-rate monitor, progress bar, metric sinks.

Checkpoints (``RUN_DIR/<stage>/checkpoints/``): ``last.ckpt`` every ``checkpoint_every_n_steps``
optimizer steps (full state: weights, optimizer, scheduler, loops, so ``--resume`` continues a killed
run) and ``best-*.ckpt`` by validation loss. Lightning writes local checkpoints inside an fsspec
transaction (temporary file, then rename), so a kill during a save never leaves a truncated file.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ModelCheckpoint, RichProgressBar
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger

from panovlm.config.run_config import RunConfig

LAST = "last.ckpt"


def progress_bar_enabled(setting: bool | None) -> bool:
    """Explicit setting wins; otherwise a rich bar on an interactive terminal unless ``CI=true``."""
    if setting is not None:
        return setting
    return sys.stderr.isatty() and os.environ.get("CI", "").lower() not in ("true", "1")


def build_callbacks(config: RunConfig, stage_dir: Path) -> list[Callback]:
    ckpt_dir = stage_dir / "checkpoints"
    callbacks: list[Callback] = [
        ModelCheckpoint(dirpath=ckpt_dir, save_top_k=0, save_last=True,
                        every_n_train_steps=config.trainer.checkpoint_every_n_steps),
        ModelCheckpoint(dirpath=ckpt_dir, monitor="val/loss", mode="min", save_top_k=1, save_on_train_epoch_end=False,
                        filename="best-epoch{epoch:02d}-step{step}-loss{val/loss:.4f}", auto_insert_metric_name=False),
        LearningRateMonitor(logging_interval="step"),
    ]
    if progress_bar_enabled(config.trainer.progress_bar):
        callbacks.append(RichProgressBar())
    return callbacks


def build_loggers(config: RunConfig, stage: str, stage_dir: Path) -> list[Logger]:
    """CSV and TensorBoard under the stage dir; W&B (imported lazily) when ``logging.wandb_project`` is set."""
    log = config.logging
    loggers: list[Logger] = []
    if log.csv:
        loggers.append(CSVLogger(save_dir=stage_dir, name="csv"))
    if log.tensorboard:
        loggers.append(TensorBoardLogger(save_dir=stage_dir, name="tensorboard"))
    if log.wandb_project:
        try:
            import wandb  # noqa: F401
        except ImportError as err:
            raise ImportError("logging.wandb_project is set but wandb is not installed: "
                              "pip install 'panovlm[wandb]'") from err
        from lightning.pytorch.loggers import WandbLogger

        name = f"{log.run_name or stage_dir.parent.name}/{stage}"
        loggers.append(WandbLogger(project=log.wandb_project, entity=log.wandb_entity, name=name,
                                   save_dir=str(stage_dir), config=config.to_dict(), tags=[stage]))
    return loggers
