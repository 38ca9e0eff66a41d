"""Helpers shared by the subcommands: Windows-style path arguments and the one-line "model not available" error."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from huggingface_hub import try_to_load_from_cache
from huggingface_hub.errors import HFValidationError

TINY_HINT = ("for the offline CPU preset use --config configs/tiny.yaml "
             "(scripts: CONFIG=configs/tiny.yaml ./scripts/<script>.sh, or set CONFIG in scripts\\config.bat)")


def cli_path(value: str) -> Path:
    r"""A path argument. ``runs\vlm_resampler\best.ckpt`` (typed as on Windows) is read with ``/`` on POSIX
    unless a file of that literal name exists; on Windows ``Path`` accepts both separators already."""
    path = Path(value)
    if os.sep == "/" and "\\" in value and not path.exists():
        return Path(value.replace("\\", "/"))
    return path


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def unavailable_model(names: Iterable[object]) -> str | None:
    """The first name that is an HF id (or a path) found neither on disk nor in the Hugging Face cache."""
    for name in names:
        if not isinstance(name, str) or Path(name).exists():
            continue  # a config dict (random init) or a local folder
        try:
            cached = try_to_load_from_cache(name, "config.json")
        except HFValidationError:
            return name  # not a valid repo id, so a local path that does not exist
        if not isinstance(cached, str):
            return name
    return None


def model_unavailable_message(name: str) -> str:
    reason = "the hub is off (HF_HUB_OFFLINE=1)" if hub_offline() else "the hub could not be reached"
    return (f"cannot load model {name!r}: not a local folder, not in the Hugging Face cache, and {reason}; "
            f"{TINY_HINT}")
