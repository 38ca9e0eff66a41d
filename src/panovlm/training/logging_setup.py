"""Per-stage log files and Lightning's console noise.

``stage_log_file`` adds ``RUN_DIR/logs/<stage>_<YYYYMMDD_HHMMSS>.log`` to the root logger (and to
Lightning's own loggers, which do not propagate when they installed their own console handler)
for the duration of one stage. The litlogger advertisement Lightning prints at every ``fit`` is
dropped by a logging filter, and its warning about modules in eval mode at the start of training is
ignored: ``VisionBackbone.train()`` keeps a frozen tower in eval mode on purpose. Nothing else
Lightning says is touched.
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_LIGHTNING_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric")
_RANK_ZERO_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero")


class _DropLitloggerTip(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in record.getMessage()


def silence_litlogger_tip() -> None:
    """Drop Lightning's "Tip: ... litlogger" line and route Lightning's records through the root logger.

    Lightning installs its own console handler when it is imported before logging is configured,
    which printed every line twice; one handler (the CLI's) is enough. Idempotent.
    """
    for name in _LIGHTNING_LOGGERS:
        lightning_logger = logging.getLogger(name)
        for handler in list(lightning_logger.handlers):
            lightning_logger.removeHandler(handler)
        lightning_logger.propagate = True
    warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode at the start of training")
    for name in _RANK_ZERO_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropLitloggerTip) for f in logger.filters):
            logger.addFilter(_DropLitloggerTip())


@contextlib.contextmanager
def stage_log_file(run_dir: Path, stage: str, is_global_zero: bool = True) -> Iterator[Path]:
    """Log to ``RUN_DIR/logs/<stage>_<timestamp>.log`` while the block runs (rank 0 only writes)."""
    path = Path(run_dir) / "logs" / f"{stage}_{time.strftime('%Y%m%d_%H%M%S')}.log"
    if not is_global_zero:
        yield path
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(FORMAT, datefmt="%H:%M:%S"))
    handler.setLevel(logging.INFO)
    targets = [logging.getLogger()] + [logging.getLogger(n) for n in _LIGHTNING_LOGGERS
                                       if not logging.getLogger(n).propagate]
    root = logging.getLogger()
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    for target in targets:
        target.addHandler(handler)
    try:
        yield path
    finally:
        for target in targets:
            target.removeHandler(handler)
        handler.close()
