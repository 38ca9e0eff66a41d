"""The stage table: one frozen row per training stage, and the only place that names the stages.

Everything that behaves differently per stage reads a field of the row instead of comparing stage
names: the model (``needs_text``: overlap loss or causal LM), the LightningModule (``loss_terms``,
``monitor``), the data module (``needs_text``), the runner (``uses_lora``, the order of the rows)
and the checkpoint callbacks (``monitor``, ``monitor_mode``). Module groups are the model's
attribute names (``docs/architecture.md``).

| stage     | trains (default)                       | loss terms  | text | LoRA | monitor  |
|-----------|----------------------------------------|-------------|------|------|----------|
| vision    | resampler + vicreg_projector           | vicreg_loss | no   | no   | val/loss |
| resampler | resampler + projector                  | ar_loss     | yes  | no   | val/loss |
| finetune  | resampler + projector + language_model | ar_loss     | yes  | yes  | val/loss |

A run config may override a stage's groups (``stages.<name>.train``) and the weight of its LM term
(``stages.<name>.ar_loss_weight``); the overlap loss's weight is the model config's
``vicreg_loss_weight`` (applied inside the model). This module imports nothing from the package, so
every layer (the models included) may read it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

MODULE_GROUPS: tuple[str, ...] = ("vision_tower", "resampler", "vicreg_projector", "projector", "language_model")
LOSS_TERMS: tuple[str, ...] = ("vicreg_loss", "ar_loss")  # output fields of the model that a stage may sum
MONITOR_MODES: tuple[str, ...] = ("min", "max")


@dataclass(frozen=True)
class Stage:
    """A row of the stage table."""

    name: str
    train: tuple[str, ...]  # module groups that train by default
    loss_terms: tuple[str, ...]  # model output fields summed into the training loss
    needs_text: bool  # False: samples carry views only and the model runs the overlap loss
    uses_lora: bool  # LoRA adapters are attached (when the model config asks for them) in this stage
    monitor: str = "val/loss"  # the validation metric that picks the best checkpoint
    monitor_mode: str = "min"

    def __post_init__(self) -> None:
        for group in self.train:
            if group not in MODULE_GROUPS:
                raise ValueError(f"stage {self.name!r}: train group {group!r} must be one of {list(MODULE_GROUPS)}")
        if not self.loss_terms or any(term not in LOSS_TERMS for term in self.loss_terms):
            raise ValueError(f"stage {self.name!r}: loss_terms {list(self.loss_terms)} must be non-empty, "
                             f"from {list(LOSS_TERMS)}")
        if not self.monitor.startswith("val/"):
            raise ValueError(f"stage {self.name!r}: monitor {self.monitor!r} must be a validation metric (val/...)")
        if self.monitor_mode not in MONITOR_MODES:
            raise ValueError(f"stage {self.name!r}: monitor_mode {self.monitor_mode!r} must be one of "
                             f"{list(MONITOR_MODES)}")

    @property
    def logs_collapse(self) -> bool:
        """Whether validation logs the collapse diagnostics of the VICReg embeddings (the overlap loss's stages)."""
        return "vicreg_loss" in self.loss_terms


# In training order: each stage starts from the previous one's final model.
STAGES: dict[str, Stage] = {row.name: row for row in (
    Stage("vision", ("resampler", "vicreg_projector"), ("vicreg_loss",), needs_text=False, uses_lora=False),
    Stage("resampler", ("resampler", "projector"), ("ar_loss",), needs_text=True, uses_lora=False),
    Stage("finetune", ("resampler", "projector", "language_model"), ("ar_loss",), needs_text=True, uses_lora=True),
)}
STAGE_NAMES: tuple[str, ...] = tuple(STAGES)


def get_stage(name: str) -> Stage:
    """The row of stage ``name``; an unknown name is an error listing the stages."""
    if name not in STAGES:
        raise ValueError(f"stage must be one of {list(STAGE_NAMES)}, got {name!r}")
    return STAGES[name]


def in_stage_order(names: Sequence[str]) -> bool:
    """True when ``names`` are distinct stages, at least one, in the table's order."""
    names = list(names)
    return bool(names) and set(names) <= set(STAGE_NAMES) and names == sorted(set(names), key=STAGE_NAMES.index)
