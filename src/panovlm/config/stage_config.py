"""Per-stage hyper-parameters of a run (``stages.<name>`` in the run config) and their defaults.

The defaults are the embedded default's: the tiny preset trained on PanoShapes on a 2-core CPU.
Which module groups a stage trains and which loss terms count come from the stage table
(:mod:`panovlm.stages`); a ``StageConfig`` only overrides the groups and the LM term's weight.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

from panovlm.config.typed import check
from panovlm.stages import MODULE_GROUPS, STAGE_NAMES, get_stage

__all__ = ["MODULE_GROUPS", "STAGE_NAMES", "StageConfig", "StageSet"]


@dataclass(frozen=True)
class StageConfig:
    """Hyper-parameters of one stage; ``train`` defaults to the stage table (:mod:`panovlm.stages`).

    ``max_text_length``: text tokens per sample; null reads the model config's ``max_text_length``
    (its owner, also the processor's default), a number overrides it for this stage. Stages that read
    no text ignore it. ``vicreg_loss_weight`` is the old spelling of the model config's
    ``vicreg_loss_weight`` (the overlap loss's one weight): ``RunConfig`` moves it there.
    """

    epochs: int = 1
    batch_size: int = 8
    lr: float = 1e-3
    max_text_length: int | None = None
    max_steps: int = -1  # > 0 stops the stage early (smoke tests, benchmarks)
    warmup_ratio: float = 0.1
    schedule: Literal["cosine", "linear", "constant"] = "cosine"
    min_lr_ratio: float = 0.0
    weight_decay: float = 0.01
    accumulate_grad_batches: int = 1
    gradient_clip_val: float | None = 1.0
    vicreg_loss_weight: float | None = None  # moved into model.vicreg_loss_weight by RunConfig
    ar_loss_weight: float | None = None  # None: 1.0
    train: tuple[str, ...] | None = None  # module groups; None: the stage table's groups
    unfreeze_last_n_vision_blocks: int = 0  # 0 frozen encoder, N > 0 last N blocks, -1 whole encoder

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "accumulate_grad_batches"):
            check(getattr(self, name) >= 1, name, getattr(self, name), "an integer >= 1")
        length = self.max_text_length
        check(length is None or length >= 1, "max_text_length", length, "null (the model's) or an integer >= 1")
        check(self.lr > 0, "lr", self.lr, "a float > 0")
        check(self.max_steps == -1 or self.max_steps >= 1, "max_steps", self.max_steps, "-1 or an integer >= 1")
        check(0 <= self.warmup_ratio < 1, "warmup_ratio", self.warmup_ratio, "a float in [0, 1)")
        check(0 <= self.min_lr_ratio <= 1, "min_lr_ratio", self.min_lr_ratio, "a float in [0, 1]")
        check(self.weight_decay >= 0, "weight_decay", self.weight_decay, "a float >= 0")
        clip = self.gradient_clip_val
        check(clip is None or clip > 0, "gradient_clip_val", clip, "null or a float > 0")
        for name in ("vicreg_loss_weight", "ar_loss_weight"):
            value = getattr(self, name)
            check(value is None or value >= 0, name, value, "null or a float >= 0")
        for group in self.train or ():
            check(group in MODULE_GROUPS, "train", self.train, f"module groups from {list(MODULE_GROUPS)}")
        n = self.unfreeze_last_n_vision_blocks
        check(n >= -1, "unfreeze_last_n_vision_blocks", n, "-1 (whole encoder), 0 (frozen) or N > 0")

    def text_length(self, model_max_text_length: int) -> int:
        """Text tokens per sample: this stage's ``max_text_length``, else the model config's."""
        return self.max_text_length if self.max_text_length is not None else int(model_max_text_length)


def _stage(**kw: Any) -> Any:
    return field(default_factory=lambda: StageConfig(**kw))


@dataclass(frozen=True)
class StageSet:
    """The three stages. Defaults: the tiny preset on a 2-core CPU (quickstart: 400 panoramas -> 8 + 10
    epochs of about 100 caption steps of 8 conversations (per image: the scene caption, and the
    direction questions together; tiny.yaml turns on ``data.conversations: per_image`` and skips the
    vision stage, whose overlap loss needs a token grid the Perceiver does not keep; run with the
    MLP resampler it is 2 epochs of 50 steps of 8 panoramas). Many panoramas seen a few times, not few seen many times: with
    240 panoramas and 14 epochs the LM memorised the training answers (docs/training.md).

    The tiny preset starts like a real run from SigLIP and Qwen2.5: its vision tower knows *what* and its
    LM can look a word up in its context (``model.vision_init`` / ``language_init``). The encoder stays
    frozen in every stage and its features are computed once and cached (``trainer.feature_cache_mb``);
    the resampler stage aligns the resampler to the frozen LM, as in LLaVA, and finetune trains the LM
    too, at a lower rate so that the lookup it brought survives. For ``model.vision_init: random``
    unfreeze the encoder (``unfreeze_last_n_vision_blocks: -1`` in each stage), for
    ``language_init: random`` train the LM in the resampler stage, as the ablation does.
    """

    vision: StageConfig = _stage(epochs=2, batch_size=8, lr=1e-3)
    # 8 epochs: the alignment against the frozen LM was still falling at 4 (val loss 0.94 -> 0.46 on
    # the seed where 4 left the colour unread; docs/training.md, section 11).
    resampler: StageConfig = _stage(epochs=8, batch_size=8, lr=1e-3, max_text_length=320)
    # 10 epochs: the LM's lookup of the later views went on improving to epoch 8 (direction F1 0.77 /
    # 0.80 at 3 epochs, 0.87 / 0.90 at 10 on seeds 0 / 1; docs/training.md, section 11).
    finetune: StageConfig = _stage(epochs=10, batch_size=8, lr=3e-4, max_text_length=320)

    def __post_init__(self) -> None:
        for name in STAGE_NAMES:
            cfg, row = getattr(self, name), get_stage(name)
            for term in ("vicreg_loss", "ar_loss"):
                value = getattr(cfg, f"{term}_weight")
                check(not value or term in row.loss_terms, f"{name}.{term}_weight", value,
                      f"null or 0: the {name} stage computes only {list(row.loss_terms)}")

    def get(self, stage: str) -> StageConfig:
        check(stage in STAGE_NAMES, "stage", stage, f"one of {list(STAGE_NAMES)}")
        return getattr(self, stage)


# The fields of StageSet are the rows of the stage table, in its order.
if tuple(f.name for f in fields(StageSet)) != STAGE_NAMES:
    raise ImportError(f"StageSet fields {[f.name for f in fields(StageSet)]} differ from the stage table "
                      f"{list(STAGE_NAMES)} (panovlm.stages)")
