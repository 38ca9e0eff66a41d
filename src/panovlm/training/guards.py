"""Run guards: one run per output folder, room to write checkpoints, a clean stop on SIGINT / SIGTERM.

- :class:`RunLock`: ``RUN_DIR/.lock`` (created with ``O_EXCL``) names the process that holds the
  folder; a second run into it is refused with that pid, host and command. A lock left by a process
  that no longer exists on this host (killed with SIGKILL) is stale: it is logged and taken over.
- :func:`check_output_dir`: the folder is writable and its disk has room for the checkpoints the
  config keeps, or the run is refused before training with the path and the numbers.
- :class:`GracefulStop`: the first SIGINT / SIGTERM during training asks for a stop; at the end of the
  running batch a checkpoint is written and :class:`TrainingInterrupted` says how to resume. A second
  signal stops at once.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import signal
import socket
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from lightning.pytorch.callbacks import Callback

logger = logging.getLogger(__name__)
LOCK_NAME = ".lock"


class RunLockedError(RuntimeError):
    """Another live process trains into the same output folder."""


class OutputDirError(OSError):
    """The output folder cannot take the run (not writable, or not enough free disk)."""


class TrainingInterrupted(RuntimeError):
    """Training stopped on a signal after writing a checkpoint; the message says how to resume."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


class RunLock:
    """Exclusive ownership of a run folder for the life of one training process (a context manager)."""

    def __init__(self, out: Path) -> None:
        self.path = Path(out) / LOCK_NAME
        self.held = False

    def _owner(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text())
        except (OSError, json.JSONDecodeError):  # being written right now, or damaged: treat as unknown
            return {}

    def _stale(self, owner: dict[str, Any]) -> bool:
        pid = owner.get("pid")
        return isinstance(pid, int) and owner.get("host") == socket.gethostname() and not _pid_alive(pid)

    def acquire(self) -> RunLock:
        record = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
                  "command": " ".join(sys.argv)}
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                if not self._stale(owner):
                    raise RunLockedError(
                        f"{self.path.parent} is in use by another run: pid {owner.get('pid', '?')} on host "
                        f"{owner.get('host', '?')} since {owner.get('started', '?')} "
                        f"({owner.get('command', 'command unknown')}); wait for it, stop it, or choose another --out "
                        f"(delete {self.path} only if that process is gone)") from None
                logger.warning("removing the stale lock %s of pid %s (no such process on this host)", self.path,
                               owner.get("pid"))
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as handle:
                json.dump(record, handle)
            self.held = True
            return self
        raise RunLockedError(f"could not take the lock {self.path}: another run took it first")

    def release(self) -> None:
        if self.held and self._owner().get("pid") == os.getpid():
            self.path.unlink(missing_ok=True)
        self.held = False

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def check_writable(out: Path) -> None:
    """Create and remove a file in ``out``; OutputDirError naming the folder if that fails."""
    probe = out / f".write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as err:
        raise OutputDirError(err.errno or errno.EACCES,
                             f"output folder {out} is not writable ({err.strerror or err}); choose another --out "
                             "or fix its permissions") from err


def check_free_disk(out: Path, need_bytes: int, what: str) -> None:
    """OutputDirError when the disk holding ``out`` has less than ``need_bytes`` free."""
    free = shutil.disk_usage(out).free
    if free < need_bytes:
        raise OutputDirError(errno.ENOSPC,
                             f"not enough free disk for {what} in {out}: {free / 1e9:.2f} GB free, "
                             f"{need_bytes / 1e9:.2f} GB needed; free space, lower checkpoint.keep_last, "
                             "or set checkpoint.min_free_gb")


class GracefulStop(Callback):
    """SIGINT / SIGTERM during training -> checkpoint at the end of the running batch, then TrainingInterrupted."""

    def __init__(self, stage: str, ckpt_dir: Path, resume_hint: str) -> None:
        self.stage, self.ckpt_dir, self.resume_hint = stage, ckpt_dir, resume_hint
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:  # the second signal: stop now, without a checkpoint
            self._restore()
            raise KeyboardInterrupt
        self.signum = signum
        logger.warning("received %s: stopping after the running batch (send it again to stop at once)",
                       signal.Signals(signum).name)

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handler)

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.signum is None:
            return
        path = self.ckpt_dir / f"interrupt-{trainer.global_step:08d}.ckpt"
        trainer.save_checkpoint(path)
        name = signal.Signals(self.signum).name
        raise TrainingInterrupted(f"stage {self.stage} stopped by {name} at step {trainer.global_step}; checkpoint "
                                  f"{path} written. Resume with: {self.resume_hint}", self.signum)

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        self._restore()

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self._restore()


__all__ = ["GracefulStop", "OutputDirError", "RunLock", "RunLockedError", "TrainingInterrupted", "check_free_disk",
           "check_writable"]
