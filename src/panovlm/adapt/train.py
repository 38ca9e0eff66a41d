"""Training of ``model.kind: adapt`` with Lightning: the adapter's stage table, module and runner.

| stage    | trains (default)                                              | loss                          |
|----------|---------------------------------------------------------------|-------------------------------|
| vision   | projector (+ vision LoRA, + VICReg head)                      | vicreg_loss (overlap only)    |
| finetune | LM LoRA + projector (+ vision LoRA, + VICReg head)            | ar_loss + w * vicreg_loss     |

``w`` is ``model.default_overlap_weight`` in views mode, 0 in native mode
(``stages.finetune.vicreg_loss_weight`` may only be null or 0, as the core's stage table allows). Group names are the core's (``language_model``, ``projector``, ``vision_tower``,
``vicreg_projector``), so ``stages.<stage>.train`` overrides them the same way. Every stage saves
``RUN_DIR/<stage>/model_final`` with merged weights; the next stage starts from it. The run folder
is the core's (``RUN_DIR/state.json``, ``.lock``, ``<stage>/checkpoints``), and ``--resume``
continues it the same way: see :func:`run_adapt_training`.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch

from panovlm.adapt.config import AdaptSettings
from panovlm.adapt.data import AdaptDataModule, model_inputs
from panovlm.adapt.model import PanoAdapter
from panovlm.config.stage_config import StageConfig
from panovlm.training.optim import build_optimizer
from panovlm.training.state import RunState

logger = logging.getLogger(__name__)
FINAL = "model_final"


def stage_groups(stage: str, settings: AdaptSettings, overlap: bool) -> tuple[str, ...]:
    groups = ["language_model"] if stage == "finetune" else []
    groups += ["projector"] if settings.train_projector else []
    groups += ["vision_tower"] if settings.lora_vision else []
    groups += ["vicreg_projector"] if overlap and settings.overlap_head_dim > 0 else []
    return tuple(groups)


def loss_weights(stage: str, cfg: StageConfig, settings: AdaptSettings) -> dict[str, float]:
    """Output field -> weight of ``stage`` (zero weights dropped)."""
    if stage == "vision":
        weights = {"vicreg_loss": 1.0 if cfg.vicreg_loss_weight is None else cfg.vicreg_loss_weight}
    else:
        default = settings.default_overlap_weight if settings.adapt_mode == "views" else 0.0
        weights = {"ar_loss": 1.0 if cfg.ar_loss_weight is None else cfg.ar_loss_weight,
                   "vicreg_loss": default if cfg.vicreg_loss_weight is None else cfg.vicreg_loss_weight}
    return {k: v for k, v in weights.items() if v > 0}


def set_trainable(adapter: PanoAdapter, groups: tuple[str, ...]) -> dict[str, int]:
    """Freeze all, then unfreeze ``groups``; LM / vision groups train their LoRA adapters only when attached."""
    fam = adapter.family
    adapter.requires_grad_(False)
    for name, param in adapter.base.named_parameters():
        lora = "lora_" in name
        in_lm, in_vision = name.startswith(fam.lm_prefix), name.startswith(fam.vision_prefix)
        on = (("language_model" in groups and in_lm and lora)
              or ("vision_tower" in groups and in_vision and (lora or not adapter.settings.lora_vision))
              or ("projector" in groups and any(name.startswith(p + ".") for p in fam.projector_names)))
        param.requires_grad_(on)
    if adapter.overlap_head is not None:
        adapter.overlap_head.requires_grad_("vicreg_projector" in groups)
    counts = {g: 0 for g in groups}
    for name, param in adapter.named_parameters():
        if param.requires_grad:
            counts[_group(name, fam)] = counts.get(_group(name, fam), 0) + param.numel()
    if not any(counts.values()):
        raise ValueError(f"no trainable parameters for groups {list(groups)}")
    return counts


def _group(name: str, fam: Any) -> str:
    name = name.removeprefix("base.")
    if name.startswith("overlap_head"):
        return "vicreg_projector"
    if any(name.startswith(p + ".") for p in fam.projector_names):
        return "projector"
    return "language_model" if name.startswith(fam.lm_prefix) else "vision_tower"


class AdaptModule(L.LightningModule):
    """Thin Lightning wrapper: weighted ``ar_loss`` / ``vicreg_loss`` of ``PanoAdapter.forward``."""

    def __init__(self, adapter: PanoAdapter, stage_cfg: StageConfig, weights: dict[str, float]) -> None:
        super().__init__()
        self.adapter, self.stage_cfg, self.weights = adapter, stage_cfg, weights

    def _step(self, batch: dict, split: str) -> torch.Tensor | None:
        if batch["input_ids"] is None:  # every sample of the batch was bad (already logged)
            return None
        out = self.adapter(**model_inputs(batch), overlap="vicreg_loss" in self.weights)
        loss = torch.stack([w * getattr(out, k) for k, w in self.weights.items()]).sum()
        size = batch["input_ids"].shape[0]
        logged = {f"{split}/{k}": getattr(out, k).detach() for k in ("ar_loss", "vicreg_loss", "invariance",
                                                                     "variance", "covariance") if getattr(out, k) is not None}
        self.log_dict({**logged, f"{split}/loss": loss.detach()}, batch_size=size, on_step=split == "train",
                      on_epoch=split == "val", prog_bar=False)
        return loss

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor | None:
        return self._step(batch, "train")

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._step(batch, "val")

    def configure_optimizers(self) -> dict:
        return build_optimizer(self.adapter, self.stage_cfg, int(self.trainer.estimated_stepping_batches))


def run_adapt_stage(config: Any, settings: AdaptSettings, stage: str, out: Path, init: Path | None,
                    state: RunState, continue_ckpt: Path | None = None) -> dict:
    """Train one adapter stage into ``out/<stage>``; returns its record.

    ``continue_ckpt``: a checkpoint of this stage to continue exactly (weights with the LoRA adapters,
    optimizer, scheduler, loop, data position and RNG states: Lightning's ``ckpt_path``).
    """
    from panovlm.training.runner import build_trainer

    cfg = config.stages.get(stage)
    L.seed_everything(config.seed, workers=True, verbose=False)
    adapter = PanoAdapter.from_pretrained(init) if init else PanoAdapter.from_settings(settings, seed=config.seed)
    weights = loss_weights(stage, cfg, adapter.settings)
    if "vicreg_loss" in weights:
        adapter.check_overlap()  # refuse a plan whose tiles do not overlap, before any step
    if stage == "finetune" or adapter.settings.lora_vision:
        adapter.add_lora()  # before the checkpoint is restored: it holds these adapters' weights
    if config.trainer.gradient_checkpointing:
        adapter.base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        adapter.base.enable_input_require_grads()  # frozen embeddings: checkpointed blocks still need grads
    groups = cfg.train if cfg.train is not None else stage_groups(stage, adapter.settings, "vicreg_loss" in weights)
    counts = set_trainable(adapter, groups)
    logger.info("adapt stage %s: %d visual tokens per panorama, loss weights %s, trains %s, %s", stage,
                adapter.visual_tokens, weights, counts, f"resuming {continue_ckpt}" if continue_ckpt else "fresh")
    module = AdaptModule(adapter.train(), cfg, weights)
    data = AdaptDataModule(config, cfg.batch_size, adapter.processor, adapter.settings.max_text_length)
    trainer = build_trainer(config, stage, out / stage)
    state.update(stage, status="running", init_from=str(init) if init else None, trainable=counts,
                 resumed_from=str(continue_ckpt) if continue_ckpt else None)
    start = time.monotonic()
    trainer.fit(module, datamodule=data, ckpt_path=str(continue_ckpt) if continue_ckpt else None)
    adapter.merge_lora()
    final = adapter.save_pretrained(out / stage / FINAL)
    (final / "run_config.yaml").write_text(record_config(config, adapter))
    record = {"status": "completed", "model_dir": str(final), "global_step": int(trainer.global_step),
              "seconds": round(time.monotonic() - start, 1), "visual_tokens_per_panorama": adapter.visual_tokens,
              "metrics": {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}}
    state.update(stage, **record)
    return record


def record_config(config: Any, adapter: PanoAdapter) -> str:
    """The resolved run config with the view size actually used and the visual-token count as a header."""
    from panovlm.config.run_config import apply_overrides

    used = apply_overrides(config, [f"model.view_size={adapter.settings.view_size}"])
    view = adapter.plan.views[0]
    header = (f"# visual tokens per panorama: {adapter.visual_tokens} ({adapter.family.name}, "
              f"{adapter.settings.adapt_mode}: {len(adapter.plan)} views of {view.height}x{view.width} px)\n")
    return header + used.to_yaml()


def run_adapt_training(config: Any, stage: str | tuple[str, ...] = "all", out_dir: str | Path = "runs/adapt",
                       resume: bool | str | Path = False) -> dict:
    """The ``model.kind: adapt`` branch of ``panovlm.training.runner.run_training``.

    ``resume=True`` skips the stages ``RUN/state.json`` records as completed and continues a running
    one from its newest valid checkpoint; ``resume=<checkpoint>`` continues the first stage trained
    from that file (a checkpoint of that stage only). Without ``resume`` a folder that already holds
    a planned stage is refused.
    """
    from panovlm.adapt.config import adapt_settings
    from panovlm.training.guards import RunLock, check_writable

    settings = adapt_settings(config.model.settings)
    plan_stages = settings.stages if stage == "all" else ((stage,) if isinstance(stage, str) else tuple(stage))
    bad = [s for s in plan_stages if s not in ("vision", "finetune")]
    if bad:
        raise ValueError(f"model.kind=adapt trains the stages vision and finetune, got {bad}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    check_writable(out)
    with RunLock(out):
        return _run_plan(config, settings, plan_stages, out, resume)


def _continue_from(resume: bool | str | Path, plan: tuple[str, ...]) -> Path | None:
    """The checkpoint file of ``resume=<file>``, checked to belong to the first planned stage."""
    from panovlm.training.resume import check_checkpoint_file, checkpoint_stage

    if isinstance(resume, bool):
        return None
    ckpt = check_checkpoint_file(Path(resume))
    if checkpoint_stage(ckpt) != plan[0]:
        raise ValueError(f"--resume {ckpt}: model.kind=adapt continues a checkpoint of the first stage trained "
                         f"({plan[0]!r}, RUN/{plan[0]}/checkpoints/*.ckpt); starting a stage from another stage's "
                         "checkpoint is not supported, start it from that stage's model_final instead")
    return ckpt


def _run_plan(config: Any, settings: AdaptSettings, plan: tuple[str, ...], out: Path,
              resume: bool | str | Path) -> dict:
    from panovlm.training.checkpointing import newest_valid_checkpoint
    from panovlm.training.runner import check_fresh

    state = RunState.load(out / "state.json")
    ckpt = _continue_from(resume, plan)
    if resume is False:
        check_fresh(state, plan, out)
    results: dict = {"run_dir": str(out), "stages": {}}
    init = None
    for name in plan:
        if resume is True and state.status(name) == "completed":
            logger.info("stage %s already completed in %s; skipping", name, out)
            results["stages"][name] = state.record(name)
        else:
            newest = newest_valid_checkpoint(out / name / "checkpoints") if resume is True else None
            continued = ckpt if ckpt is not None and name == plan[0] else newest
            results["stages"][name] = run_adapt_stage(config, settings, name, out, init, state, continued)
        init = Path(results["stages"][name]["model_dir"])
    results["final_model_dir"] = str(init)
    return results
