"""The stage table: which module groups train in each stage and which loss terms count.

One table, one ``set_trainable``; nothing else in the package asks "which stage is this?" to decide
what trains. Module groups are the model's attribute names (``docs/architecture.md``):
``vision_tower``, ``resampler``, ``vicreg_projector``, ``projector``, ``language_model``.

| stage     | trains (default)                          | loss                 |
|-----------|-------------------------------------------|----------------------|
| vision    | resampler + vicreg_projector              | vicreg_loss (overlap)|
| resampler | resampler + projector                     | ar_loss              |
| finetune  | resampler + projector + language_model    | ar_loss              |

``language_model`` trains its LoRA adapters only when LoRA is attached (peft names them ``lora_``),
otherwise the full LM. The encoder is frozen unless the stage config unfreezes its last N blocks
(``unfreeze_last_n_vision_blocks=N``) or all of it (``-1``). The tiny preset starts from random
weights, so its run config unfreezes the whole encoder in the vision and resampler stages (see
``panovlm.config.stage_config.StageSet``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from torch import nn

from panovlm.config.stage_config import STAGE_NAMES, StageConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stage:
    """A row of the stage table."""

    name: str
    train: tuple[str, ...]
    loss_weights: tuple[tuple[str, float], ...]  # (output field, weight)
    monitor: str  # the validation metric that picks the best checkpoint


STAGES: dict[str, Stage] = {
    "vision": Stage("vision", ("resampler", "vicreg_projector"), (("vicreg_loss", 1.0),), "val/loss"),
    "resampler": Stage("resampler", ("resampler", "projector"), (("ar_loss", 1.0),), "val/loss"),
    "finetune": Stage("finetune", ("resampler", "projector", "language_model"), (("ar_loss", 1.0),), "val/loss"),
}
assert tuple(STAGES) == STAGE_NAMES


_UNUSED_VISION_HEADS: tuple[str, ...] = ("head", "pooler")


def get_stage(name: str) -> Stage:
    if name not in STAGES:
        raise ValueError(f"unknown stage {name!r}; choose from {list(STAGES)}")
    return STAGES[name]


def train_groups(stage: str, cfg: StageConfig) -> tuple[str, ...]:
    """The module groups that train: the config's ``train`` list, else the table's."""
    return cfg.train if cfg.train is not None else get_stage(stage).train


def loss_weights(stage: str, cfg: StageConfig) -> dict[str, float]:
    """Output field -> weight: the table's weights with the config's explicit weights on top."""
    weights = dict(get_stage(stage).loss_weights)
    for name, value in (("vicreg_loss", cfg.vicreg_loss_weight), ("ar_loss", cfg.ar_loss_weight)):
        if value is not None:
            weights[name] = value
    return {k: v for k, v in weights.items() if v > 0}


def _has_lora(module: nn.Module) -> bool:
    return any("lora_" in name for name, _ in module.named_parameters())


def set_trainable(model: nn.Module, stage: str, cfg: StageConfig) -> dict[str, int]:
    """Freeze everything, then unfreeze the stage's groups; returns trainable parameter counts per group."""
    from panovlm.models.vision import set_trainable_last_blocks

    model.requires_grad_(False)
    for group in train_groups(stage, cfg):
        module = getattr(model, group, None)
        if module is None:
            raise ValueError(f"stage {stage!r} trains {group!r} but the model has no such module group")
        if group == "language_model" and _has_lora(module):
            for name, param in module.named_parameters():
                param.requires_grad_("lora_" in name)
        else:
            module.requires_grad_(True)
    n = cfg.unfreeze_last_n_vision_blocks
    if n == -1:
        model.vision_tower.requires_grad_(True)
        # Pooling heads (SigLIP's attention-pool "head") run but never reach the loss, which only reads
        # patch tokens; trainable they would get no gradient (and DDP refuses unused parameters).
        for name in _UNUSED_VISION_HEADS:
            head = getattr(model.vision_tower.model, name, None)
            if isinstance(head, nn.Module):
                head.requires_grad_(False)
    elif n > 0:
        set_trainable_last_blocks(model.vision_tower, n)
    counts = trainable_counts(model)
    if not any(counts.values()):
        raise ValueError(f"stage {stage!r} has no trainable parameters (groups {train_groups(stage, cfg)})")
    logger.info("stage %s trains %s", stage, {k: v for k, v in counts.items() if v})
    return counts


def trainable_counts(model: nn.Module) -> dict[str, int]:
    """Trainable parameters per top-level module group (``other`` for anything outside the groups)."""
    counts: dict[str, int] = {}
    for name, param in model.named_parameters():
        if param.requires_grad:
            group = name.split(".", 1)[0]
            counts[group] = counts.get(group, 0) + param.numel()
    return counts
