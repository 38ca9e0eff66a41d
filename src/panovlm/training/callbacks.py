"""Callbacks and loggers of one stage: checkpoints, learning-rate monitor, progress bar, metric sinks.

Checkpoints (``RUN_DIR/<stage>/checkpoints/``): step- and time-based resume checkpoints with the
full state (:mod:`panovlm.training.checkpointing`: cadence, atomic writes, newest valid file), an
interrupt checkpoint on SIGINT / SIGTERM (:class:`panovlm.training.guards.GracefulStop`) and
``best-*.ckpt`` by the stage row's monitored metric (``monitor`` in :mod:`panovlm.stages`).
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ModelCheckpoint, RichProgressBar
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger

from panovlm.config.run_config import RunConfig
from panovlm.stages import Stage, get_stage
from panovlm.training.checkpointing import checkpoint_callbacks
from panovlm.training.guards import GracefulStop

LAST = "last.ckpt"
logger = logging.getLogger(__name__)


class ProgressLog(Callback):
    """Logs step, loss and ETA every ``every_n_steps`` optimizer steps, and the monitored metric after each validation.

    The lines go to the terminal and to the stage's log file (``RUN_DIR/logs``), so a long stage shows
    its progress while it runs, with or without the progress bar.
    """

    def __init__(self, stage: str, every_n_steps: int, monitor: str) -> None:
        self.stage, self.every_n_steps, self.monitor = stage, every_n_steps, monitor
        self._start = 0.0
        self._first_step = 0
        self._last_logged = -1

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        self._start, self._first_step = time.monotonic(), trainer.global_step

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        step, estimated = trainer.global_step, trainer.estimated_stepping_batches
        total = None if math.isinf(estimated) else int(estimated)  # an iterable loader of unknown length
        # Under gradient accumulation several batches end on one optimizer step: log it once.
        if not trainer.is_global_zero or step == 0 or step == self._last_logged or \
                (step % self.every_n_steps and step != total):
            return
        self._last_logged = step
        elapsed = time.monotonic() - self._start
        done = max(1, step - self._first_step)
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs  # {} for a skipped batch
        loss_text = f"{float(loss):.4f}" if loss is not None else "n/a (batch skipped)"
        eta = f"ETA {elapsed / done * max(0, total - step):.0f} s" if total is not None else "ETA unknown"
        logger.info("stage %s: step %d/%s (epoch %d/%d) loss %s, %.0f s elapsed, %s", self.stage, step,
                    total if total is not None else "?", trainer.current_epoch + 1, trainer.max_epochs, loss_text,
                    elapsed, eta)

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        if trainer.is_global_zero and value is not None and not trainer.sanity_checking:
            logger.info("stage %s: validation at step %d: %s %.4f", self.stage, trainer.global_step, self.monitor,
                        float(value))


def progress_bar_enabled(setting: bool | None) -> bool:
    """Explicit setting wins; otherwise a rich bar on an interactive terminal unless ``CI=true``."""
    if setting is not None:
        return setting
    return sys.stderr.isatty() and os.environ.get("CI", "").lower() not in ("true", "1")


def best_checkpoint(ckpt_dir: Path, row: Stage) -> ModelCheckpoint:
    """``best-*.ckpt``: the best value (``row.monitor_mode``) of the stage row's monitored metric."""
    monitor = row.monitor
    return ModelCheckpoint(dirpath=ckpt_dir, monitor=monitor, mode=row.monitor_mode, save_top_k=1,
                           save_on_train_epoch_end=False,
                           filename=f"best-epoch{{epoch:02d}}-step{{step}}-{monitor.split('/')[-1]}{{{monitor}:.4f}}",
                           auto_insert_metric_name=False)


def build_callbacks(config: RunConfig, stage: str, stage_dir: Path) -> list[Callback]:
    ckpt_dir, row = stage_dir / "checkpoints", get_stage(stage)
    hint = f"panovlm train --out {stage_dir.parent} --resume (with this run's --config, --stage and --set options)"
    callbacks: list[Callback] = [
        *checkpoint_callbacks(config.checkpoint, ckpt_dir),
        best_checkpoint(ckpt_dir, row),
        LearningRateMonitor(logging_interval="step"),
        ProgressLog(stage, config.trainer.progress_every_n_steps, row.monitor),
        GracefulStop(stage, ckpt_dir, hint),
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
