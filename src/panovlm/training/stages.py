"""What trains and what counts in a stage: ``set_trainable`` and the loss weights, read from the stage table.

The table itself (which groups train, which loss terms count, whether text is read, LoRA, the
monitored metric) is :mod:`panovlm.stages`; nothing here or elsewhere compares stage names.

``language_model`` trains its LoRA adapters only when LoRA is attached (peft names them ``lora_``),
otherwise the full LM. The encoder is frozen unless the stage config unfreezes its last N blocks
(``unfreeze_last_n_vision_blocks=N``) or all of it (``-1``); see
``panovlm.config.stage_config.StageSet`` for the tiny preset's choices.
"""

from __future__ import annotations

import logging
from typing import Any

from torch import nn

from panovlm.config.stage_config import StageConfig
from panovlm.models.modeling_parts import as_views
from panovlm.models.vision import set_trainable_last_blocks
from panovlm.stages import STAGES, Stage, get_stage

__all__ = ["STAGES", "Stage", "get_stage", "loss_weights", "recalibrate_batchnorm", "set_trainable", "train_groups", "trainable_counts"]
logger = logging.getLogger(__name__)

_UNUSED_VISION_HEADS: tuple[str, ...] = ("head", "pooler")


def train_groups(stage: str, cfg: StageConfig) -> tuple[str, ...]:
    """The module groups that train: the config's ``train`` list, else the table's."""
    return cfg.train if cfg.train is not None else get_stage(stage).train


def loss_weights(stage: str, cfg: StageConfig) -> dict[str, float]:
    """Output field -> weight: the row's loss terms at weight 1, the config's ``ar_loss_weight`` on top.

    The overlap term arrives weighted by the model (``model.vicreg_loss_weight``, its one owner); a
    run config folds the old ``stages.<name>.vicreg_loss_weight`` into it (``RunConfig``).
    """
    if cfg.vicreg_loss_weight is not None:
        raise ValueError(f"stage {stage!r}: vicreg_loss_weight={cfg.vicreg_loss_weight} is not applied here; the "
                         "overlap-loss weight is the model config's vicreg_loss_weight (load_run_config moves "
                         "stages.<name>.vicreg_loss_weight there)")
    weights = dict.fromkeys(get_stage(stage).loss_terms, 1.0)
    if cfg.ar_loss_weight is not None:
        weights["ar_loss"] = cfg.ar_loss_weight
    return {k: v for k, v in weights.items() if v > 0}


def _has_lora(module: nn.Module) -> bool:
    return any("lora_" in name for name, _ in module.named_parameters())


def set_trainable(model: nn.Module, stage: str, cfg: StageConfig) -> dict[str, int]:
    """Freeze everything, then unfreeze the stage's groups; returns trainable parameter counts per group."""
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


def recalibrate_batchnorm(model: Any, data: Any) -> None:
    """``model.recalibrate_batchnorm``: the frozen tower's BatchNorm statistics from the training images
    of ``data`` (the stage's ``PanoramaDataModule``), read in file order; every rank reads all of
    them, so the statistics agree across ranks."""
    if not model.vision_tower.frozen_batchnorms():
        raise ValueError(f"model.recalibrate_batchnorm=true, but the vision tower "
                         f"({type(model.vision_tower.model).__name__}) has no frozen BatchNorm layer in this stage; "
                         "set it to false")
    data.setup("fit")
    loader = data.plain_loader(data.train_set)
    views = model.vision_tower.recalibrate_batchnorm(as_views(b["pixel_values"]).flatten(0, 1) for b in loader)
    logger.info("recalibrated %d frozen BatchNorm layers of the vision tower on %d training views",
                len(model.vision_tower.frozen_batchnorms()), views)
