"""AdamW with named parameter groups and a warmup-then-decay schedule.

Groups are ``<module group>`` and ``<module group>.no_decay``: biases, norm weights and other 1-D
parameters get no weight decay. The schedule is sized from the number of *optimizer* steps
(Lightning's ``estimated_stepping_batches``, which already divides by gradient accumulation and
honours ``max_steps``), so warmup is a fraction of the steps that really happen.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from panovlm.config.stage_config import StageConfig

_NO_DECAY_MARKERS = ("norm", "bias", "ln_", "layernorm", "embedding_norm")


def _no_decay(name: str, param: torch.Tensor) -> bool:
    lowered = name.lower()
    return param.ndim < 2 or any(marker in lowered for marker in _NO_DECAY_MARKERS)


def param_groups(named_params: Iterable[tuple[str, nn.Parameter]], weight_decay: float) -> list[dict]:
    """Trainable parameters grouped by top-level module and by decay / no decay; each group has a ``name``."""
    groups: dict[str, dict] = {}
    for name, param in named_params:
        if not param.requires_grad:
            continue
        module = name.split(".", 1)[0]
        key = f"{module}.no_decay" if _no_decay(name, param) else module
        group = groups.setdefault(key, {"name": key, "params": [], "weight_decay": 0.0 if key.endswith(
            ".no_decay") else weight_decay})
        group["params"].append(param)
    if not groups:
        raise ValueError("no trainable parameters: the stage table froze every module group")
    return list(groups.values())


def lr_lambda(total_steps: int, warmup_ratio: float, schedule: str, min_lr_ratio: float = 0.0):
    """Multiplier of the base lr at optimizer step ``s``: linear warmup, then cosine / linear / constant."""
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    warmup = int(round(total_steps * warmup_ratio))

    def fn(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if schedule == "constant":
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        if schedule == "cosine":
            decay = 0.5 * (1.0 + math.cos(math.pi * progress))
        elif schedule == "linear":
            decay = 1.0 - progress
        else:
            raise ValueError(f"schedule must be cosine, linear or constant, got {schedule!r}")
        return min_lr_ratio + (1.0 - min_lr_ratio) * decay

    return fn


def build_optimizer(model: nn.Module, cfg: StageConfig, total_steps: int) -> dict:
    """The ``configure_optimizers`` return value: AdamW + a per-step LambdaLR."""
    optimizer = torch.optim.AdamW(param_groups(model.named_parameters(), cfg.weight_decay), lr=cfg.lr,
                                  betas=(0.9, 0.98), eps=1e-8)
    scheduler = LambdaLR(optimizer, lr_lambda(total_steps, cfg.warmup_ratio, cfg.schedule, cfg.min_lr_ratio))
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step", "frequency": 1}}
