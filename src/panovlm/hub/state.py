"""Model tensors of a Lightning checkpoint: read safely, and fit to a model, every key accounted for.

Shared by the export (``panovlm.hub.convert``), ``--resume CKPT`` (``panovlm.training.resume``) and
the visualiser's checkpoint loader.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from panovlm.hub.check import FolderError

LIGHTNING_PREFIX = "model."  # PanoVLMModule keeps the transformers model as ``self.model``
_LIST = 6  # keys shown per category in an error line


class ConversionError(FolderError):
    """A source that cannot become the requested export (one line: the file and what was expected)."""


def read_lightning_state(path: Path, prefix: str = LIGHTNING_PREFIX,
                         module: str = "PanoVLMModule") -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(model state dict without ``prefix``, {global_step, epoch}) of a Lightning checkpoint.

    ``prefix`` is the attribute the LightningModule keeps its model in (``model.``; the adapter's
    ``AdaptModule``: ``adapter.``), ``module`` its class name for the error message.
    """
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        reason = str(err).strip().splitlines()[-1][:200]
        raise ConversionError(f"{path}: refused: it holds objects that torch.load(weights_only=True) will not "
                              f"unpickle ({reason}); conversion never runs pickled code, re-save the checkpoint "
                              "with tensors only") from err
    except (OSError, RuntimeError, EOFError) as err:
        raise ConversionError(f"{path} is not a readable PyTorch checkpoint (truncated or corrupt?): {err}") from err
    if not isinstance(checkpoint, Mapping) or not isinstance(checkpoint.get("state_dict"), Mapping):
        keys = sorted(checkpoint)[:10] if isinstance(checkpoint, Mapping) else type(checkpoint).__name__
        raise ConversionError(f"{path} has no 'state_dict' entry (found {keys}); expected a Lightning checkpoint")
    state = checkpoint["state_dict"]
    foreign = sorted(k for k in state if not k.startswith(prefix))
    if foreign:
        raise ConversionError(f"{path}: {len(foreign)} tensor(s) outside the module's '{prefix}' attribute "
                              f"(first: {foreign[:_LIST]}); expected a {module} checkpoint")
    extra = {k: checkpoint[k] for k in ("global_step", "epoch") if k in checkpoint}
    return {k[len(prefix):]: v for k, v in state.items()}, extra


def match_state(state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor], source: Path,
                target: str) -> None:
    """Raise listing unmatched / missing / mis-shaped keys unless ``state`` fits ``expected`` exactly."""
    unmatched = sorted(set(state) - set(expected))
    missing = sorted(set(expected) - set(state))
    shapes = [f"{k} {tuple(state[k].shape)} != {tuple(expected[k].shape)}" for k in sorted(set(state) & set(expected))
              if tuple(state[k].shape) != tuple(expected[k].shape)]
    if not (unmatched or missing or shapes):
        return
    parts = [f"{len(items)} {label} {items[:_LIST]}{' ...' if len(items) > _LIST else ''}"
             for label, items in (("unmatched", unmatched), ("missing", missing), ("mismatched shapes", shapes))
             if items]
    raise ConversionError(f"{source} does not fit {target}: {'; '.join(parts)}; expected a checkpoint of this "
                          "architecture (same config.json)")


def fill_tied_keys(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Add the tied names ``model`` expects (lm_head = embed_tokens) that ``state`` holds under their origin only."""
    for tied, origin in (getattr(model, "all_tied_weights_keys", None) or {}).items():
        if tied not in state and origin in state:
            state[tied] = state[origin]
