"""The run config's ``checkpoint`` block: resume checkpoints of every stage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from panovlm.config.typed import check

NONFINITE_POLICIES: tuple[str, ...] = ("stop", "skip")


@dataclass(frozen=True)
class CheckpointSettings:
    """Resume checkpoints of a stage (``RUN_DIR/<stage>/checkpoints``, :mod:`panovlm.training.checkpointing`).

    ``step-*.ckpt`` every ``every_n_steps`` optimizer steps and ``time-*.ckpt`` every ``every_minutes``
    of training (null: off), each keeping the newest ``keep_last``; ``last.ckpt`` links the newest step
    checkpoint. ``min_free_gb`` null: the free space needed is estimated from the model and optimizer.
    ``nonfinite_loss``: ``stop`` ends the stage at a NaN/inf loss naming the step and the last good
    checkpoint; ``skip`` drops that batch (no optimizer step) and counts it.
    """

    every_n_steps: int = 50
    every_minutes: float | None = 10.0
    keep_last: int = 2
    min_free_gb: float | None = None
    nonfinite_loss: Literal["stop", "skip"] = "stop"

    def __post_init__(self) -> None:
        check(self.every_n_steps >= 1, "checkpoint.every_n_steps", self.every_n_steps, "an integer >= 1")
        check(self.every_minutes is None or self.every_minutes > 0, "checkpoint.every_minutes", self.every_minutes,
              "null (off) or a number of minutes > 0")
        check(self.keep_last >= 1, "checkpoint.keep_last", self.keep_last, "an integer >= 1")
        check(self.min_free_gb is None or self.min_free_gb >= 0, "checkpoint.min_free_gb", self.min_free_gb,
              "null (estimated) or a number of GB >= 0")
        check(self.nonfinite_loss in NONFINITE_POLICIES, "checkpoint.nonfinite_loss", self.nonfinite_loss,
              f"one of {list(NONFINITE_POLICIES)}")
