"""``--resume CKPT``: start a stage from a Lightning checkpoint's weights, or continue that stage exactly.

Which stage wrote a checkpoint is read from where it lies: ``<run>/<stage>/checkpoints/*.ckpt`` (this
project's layout) or ``<anything>_<stage>/checkpoints/*.ckpt`` (the seed scripts' ``runs/vlm_<stage>/``). A
checkpoint of the stage being trained continues exactly where it stopped (weights, optimizer, scheduler,
loop and data position: Lightning's ``ckpt_path``). Any other checkpoint only gives the weights: the stage
starts at step 0 with a fresh optimizer, as it would from the previous stage's ``model_final``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from panovlm.config.stage_config import STAGE_NAMES
from panovlm.hub.state import fill_tied_keys, match_state, read_lightning_state

logger = logging.getLogger(__name__)


def checkpoint_stage(path: Path) -> str | None:
    """The stage whose ``checkpoints/`` folder holds ``path``, or ``None`` when the layout does not say."""
    if path.parent.name != "checkpoints":
        return None
    name = path.parent.parent.name
    for stage in STAGE_NAMES:
        if name == stage or name.endswith(f"_{stage}"):
            return stage
    return None


def check_checkpoint_file(path: Path) -> Path:
    """``path`` if it is a file; else FileNotFoundError naming it (a folder is refused: give the .ckpt)."""
    if path.is_dir():
        raise FileNotFoundError(f"--resume {path} is a folder; give a Lightning checkpoint file "
                                "(e.g. .../checkpoints/last.ckpt), or plain --resume to continue the run in --out")
    if not path.is_file():
        raise FileNotFoundError(f"--resume {path}: no such checkpoint file")
    return path


def load_checkpoint_weights(model: torch.nn.Module, path: Path) -> None:
    """Load the model tensors of Lightning checkpoint ``path`` into ``model``; every key must fit."""
    state, extra = read_lightning_state(path)
    fill_tied_keys(model, state)
    match_state(state, model.state_dict(), path, f"the run config's {type(model).__name__}")
    model.load_state_dict(state, strict=True)
    logger.info("weights loaded from %s (written at step %s); fresh optimizer", path, extra.get("global_step", "?"))
