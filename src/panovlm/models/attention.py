"""Attention implementation for the language model: flash_attention_2 where it can run, else sdpa.

flash-attn only runs on CUDA, so a CPU machine or a machine without the package uses PyTorch's
scaled-dot-product attention. ``DISABLE_FLASH_ATTN=1`` (or true/yes) forces sdpa, e.g. to compare
numerics or to dodge a broken flash-attn build. The choice is logged once per process.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os

logger = logging.getLogger(__name__)

_TRUTHY = {"1", "true", "yes", "on"}


def flash_attention_disabled() -> bool:
    """True when the ``DISABLE_FLASH_ATTN`` environment variable asks for sdpa."""
    return os.environ.get("DISABLE_FLASH_ATTN", "").strip().lower() in _TRUTHY


def _flash_attn_usable() -> bool:
    if importlib.util.find_spec("flash_attn") is None:
        return False
    import torch

    return torch.cuda.is_available()


def select_attn_implementation() -> str:
    """``"flash_attention_2"`` if flash-attn is installed, CUDA is present and not disabled; else ``"sdpa"``."""
    if flash_attention_disabled():
        choice, reason = "sdpa", "DISABLE_FLASH_ATTN is set"
    elif _flash_attn_usable():
        choice, reason = "flash_attention_2", "flash_attn is installed and CUDA is available"
    else:
        choice, reason = "sdpa", "flash_attn not installed or no CUDA (pip install flash-attn --no-build-isolation)"
    _log_once(choice, reason)
    return choice


@functools.cache
def _log_once(choice: str, reason: str) -> None:
    logger.info("language model attention: %s (%s)", choice, reason)
