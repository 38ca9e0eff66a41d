"""Frozen-encoder feature cache: a frozen vision tower's patch tokens, computed once per view.

When a stage keeps the vision tower frozen, its output for a view depends only on the view's pixels
and the tower's weights, so later epochs and later stages can reuse it. Entries are keyed by a hash
of the exact view tensor (its pixels, shape and dtype: a change of image, view plan, view size or
normalisation gives other pixels) together with a hash of the tower's weights and output dtype, so a
stale entry can never be returned (the autocast state is part of the key too). The cache holds tensors in memory, least recently used first out
once ``max_bytes`` is reached.

Shapes: ``N`` views, ``(N, 3, H, W)`` in, ``(N, T, D)`` out (``T`` patch tokens of width ``D``).
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from collections.abc import Callable

import torch
from torch import nn

logger = logging.getLogger(__name__)

# Config fields that make a vision model's forward random in train mode.
_DROPOUT_FIELDS: tuple[str, ...] = ("attention_dropout", "hidden_dropout_prob", "attention_probs_dropout_prob",
                                    "dropout", "hidden_dropout", "drop_path_rate")


def _tensor_digest(tensor: torch.Tensor) -> bytes:
    t = tensor.detach().contiguous().cpu()
    header = f"{t.dtype}|{tuple(t.shape)}|".encode()
    # reshape: a 0-dim buffer (BatchNorm's num_batches_tracked) cannot be viewed as bytes
    return hashlib.blake2b(header + t.reshape(-1).view(torch.uint8).numpy().tobytes(), digest_size=16).digest()


def weights_digest(module: nn.Module) -> bytes:
    """Hash of every parameter and buffer of ``module`` (names, dtypes, shapes and values)."""
    h = hashlib.blake2b(digest_size=16)
    for name, tensor in module.state_dict().items():
        h.update(name.encode())
        h.update(_tensor_digest(tensor))
    return h.digest()


def is_stochastic(module: nn.Module) -> bool:
    """Whether ``module`` in train mode could give two outputs for one input (active dropout, or a
    BatchNorm in train mode, whose output follows the batch)."""
    if any(isinstance(m, nn.Dropout) and m.p > 0 for m in module.modules()):
        return True
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training for m in module.modules()):
        return True
    config = getattr(module, "config", None)
    return any(float(getattr(config, name, 0.0) or 0.0) > 0.0 for name in _DROPOUT_FIELDS)


class FeatureCache:
    """LRU cache of per-view encoder outputs; ``hits`` / ``misses`` count lookups since creation."""

    def __init__(self, max_bytes: int) -> None:
        if max_bytes <= 0:
            raise ValueError(f"feature cache max_bytes must be > 0, got {max_bytes}")
        self.max_bytes = int(max_bytes)
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[bytes, torch.Tensor] = OrderedDict()
        self._weights: tuple[tuple, bytes] | None = None  # (parameter versions, weights digest)
        self._warned_stochastic = False

    def __len__(self) -> int:
        return len(self._entries)

    def usable(self, encoder: nn.Module) -> bool:
        """Only a frozen encoder whose forward is deterministic may be served from the cache."""
        if any(p.requires_grad for p in encoder.parameters()):
            return False
        if encoder.training and is_stochastic(encoder):
            if not self._warned_stochastic:
                logger.warning("feature cache off: the frozen vision tower is in train mode with active dropout or BatchNorm")
                self._warned_stochastic = True
            return False
        return True

    def _encoder_key(self, encoder: nn.Module) -> bytes:
        # In-place writes (optimizer steps, load_state_dict) bump a tensor's version counter, so the
        # full weights hash is recomputed only when some tensor changed.
        versions = tuple((t.data_ptr(), t._version) for t in encoder.state_dict(keep_vars=True).values())
        if self._weights is None or self._weights[0] != versions:
            self._weights = (versions, weights_digest(encoder))
        return self._weights[1]

    def encode(self, encoder: nn.Module, pixel_values: torch.Tensor,
               run: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """``run(pixel_values)`` ``(N, 3, H, W) -> (N, T, D)``, computing only the views not cached."""
        device = pixel_values.device.type
        autocast = f"{torch.is_autocast_enabled(device)}|{torch.get_autocast_dtype(device)}".encode()
        prefix = self._encoder_key(encoder) + autocast  # mixed precision changes the outputs
        keys = [prefix + _tensor_digest(view) for view in pixel_values]
        out: list[torch.Tensor | None] = [None] * len(keys)
        for i, key in enumerate(keys):
            if key in self._entries:
                self._entries.move_to_end(key)
                out[i] = self._entries[key]
        missing = [i for i, tokens in enumerate(out) if tokens is None]
        self.misses += len(missing)
        self.hits += len(keys) - len(missing)
        if missing:
            with torch.no_grad():
                fresh = run(pixel_values[missing])  # (M, T, D)
            for i, tokens in zip(missing, fresh, strict=True):
                out[i] = tokens.detach().clone()
                self._store(keys[i], out[i])
        return torch.stack(out)  # (N, T, D)

    def _store(self, key: bytes, tokens: torch.Tensor) -> None:
        size = tokens.numel() * tokens.element_size()
        self._entries[key] = tokens
        self.bytes += size
        while self.bytes > self.max_bytes and len(self._entries) > 1:
            _, old = self._entries.popitem(last=False)
            self.bytes -= old.numel() * old.element_size()

    def stats(self) -> dict[str, float]:
        lookups = self.hits + self.misses
        return {"entries": len(self._entries), "megabytes": round(self.bytes / 2**20, 1), "hits": self.hits,
                "misses": self.misses, "hit_rate": round(self.hits / lookups, 3) if lookups else 0.0}


__all__ = ["FeatureCache", "weights_digest", "is_stochastic"]
