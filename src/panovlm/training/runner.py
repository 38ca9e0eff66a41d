"""Stage orchestration: build or load the model, train each stage with Lightning, save it in HF format.

Run layout::

    RUN_DIR/state.json                      stages done / running (atomic)
    RUN_DIR/logs/<stage>_<YYYYMMDD_HHMMSS>.log
    RUN_DIR/.lock                           the process training into RUN_DIR (panovlm.training.guards)
    RUN_DIR/<stage>/checkpoints/step-*.ckpt full training state every N steps / minutes (resume;
                                            panovlm.training.checkpointing), last.ckpt -> the newest
    RUN_DIR/<stage>/checkpoints/best-*.ckpt best value of the stage's monitored metric
    RUN_DIR/<stage>/csv/, tensorboard/      metrics
    RUN_DIR/<stage>/model_final/            model.safetensors + config + processor + run_config.yaml

A stage starts from ``RUN_DIR/<previous stage>/model_final`` when that exists (``from_pretrained``;
a failed load is fatal), otherwise from the config's models. ``resume=True`` skips completed stages
and continues a running one from its newest valid checkpoint with optimizer, scheduler, loop, data
position and RNG state (a truncated or damaged newest file is logged and the previous one used).
``resume=<checkpoint file>`` applies to the first stage trained: its own checkpoint continues exactly,
another stage's checkpoint gives only the starting weights (:mod:`panovlm.training.resume`).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.utilities.rank_zero import rank_zero_only
from transformers import AutoTokenizer
from transformers.utils import logging as hf_logging

from panovlm.config.run_config import RunConfig, apply_overrides
from panovlm.models.feature_cache import FeatureCache
from panovlm.models.loading import load_model
from panovlm.models.lora import apply_lora, merge_lora
from panovlm.models.modeling_panollava import PanoLLaVaForConditionalGeneration
from panovlm.models.processing_panollava import PanoLLaVaProcessor
from panovlm.models.tiny import tiny_model, tiny_processor
from panovlm.stages import STAGE_NAMES, get_stage, in_stage_order
from panovlm.training.callbacks import build_callbacks, build_loggers, progress_bar_enabled
from panovlm.training.checkpointing import AtomicCheckpointIO, checkpoint_bytes, files_kept, newest_valid_checkpoint
from panovlm.training.datamodule import PanoramaDataModule
from panovlm.training.guards import GracefulStop, RunLock, TrainingInterrupted, check_free_disk, check_writable
from panovlm.training.logging_setup import silence_litlogger_tip, stage_log_file
from panovlm.training.module import NonFiniteLossError, NonFiniteModelError, PanoVLMModule, nonfinite_parameters
from panovlm.training.resume import check_checkpoint_file, checkpoint_stage, load_checkpoint_weights
from panovlm.training.stages import recalibrate_batchnorm, set_trainable
from panovlm.training.state import RunState

logger = logging.getLogger(__name__)
FINAL = "model_final"


def stage_plan(stage: str | Sequence[str]) -> tuple[str, ...]:
    """The stages to run: "all", one stage name, or several names in the stage table's order."""
    if stage == "all":
        return STAGE_NAMES
    names = (stage,) if isinstance(stage, str) else tuple(stage)
    unknown = [n for n in names if n not in STAGE_NAMES]
    if not names or unknown:
        raise ValueError(f"stage must be one of {list(STAGE_NAMES) + ['all']} or a list of stages, got {stage!r}")
    if not in_stage_order(names):
        raise ValueError(f"stages must be distinct and in the order {list(STAGE_NAMES)}, got {list(names)}")
    return names


def build_model(config: RunConfig) -> tuple[Any, Any]:
    """A fresh (model, processor) from the config's model block: the tiny/test preset or named components."""
    m = config.model
    if m.preset is not None:
        model = tiny_model(test=m.preset == "test", seed=config.seed, vision_init=m.vision_init,
                           language_init=m.language_init, **m.settings)
        return model, tiny_processor(config=model.config)
    source = m.tokenizer_source
    if source is None:
        raise ValueError("model.language is a config dict, so model.tokenizer must name a tokenizer (HF id or dir)")
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = PanoLLaVaForConditionalGeneration.from_components(m.vision, m.language, tokenizer, **m.settings)
    return model, PanoLLaVaProcessor.from_model_config(model.config, tokenizer)


def precision_for(config: RunConfig) -> str:
    """``auto``: bf16 mixed precision on a GPU, fp32 on CPU (bf16 on CPU is opt-in)."""
    if config.trainer.precision != "auto":
        return config.trainer.precision
    on_gpu = torch.cuda.is_available() and config.trainer.accelerator in ("auto", "gpu", "cuda")
    return "bf16-mixed" if on_gpu else "32-true"


def build_trainer(config: RunConfig, stage: str, stage_dir: Path, **extra: Any) -> Any:
    cfg, tr = config.stages.get(stage), config.trainer
    kwargs = dict(
        accelerator=tr.accelerator, devices=tr.devices, num_nodes=tr.num_nodes, strategy=tr.strategy,
        precision=precision_for(config), max_epochs=cfg.epochs, max_steps=cfg.max_steps,
        accumulate_grad_batches=cfg.accumulate_grad_batches, gradient_clip_val=cfg.gradient_clip_val,
        log_every_n_steps=tr.log_every_n_steps, val_check_interval=tr.val_check_interval,
        limit_val_batches=tr.limit_val_batches, num_sanity_val_steps=0, deterministic=tr.deterministic,
        enable_progress_bar=progress_bar_enabled(tr.progress_bar), enable_model_summary=False,
        callbacks=build_callbacks(config, stage, stage_dir), logger=build_loggers(config, stage, stage_dir),
        default_root_dir=str(stage_dir),
    )
    if not tr.strategy.startswith(("deepspeed", "fsdp")):  # those strategies write sharded checkpoints themselves
        kwargs["plugins"] = [AtomicCheckpointIO()]
    kwargs.update(extra)
    return L.Trainer(**kwargs)


def _init_dir(out: Path, stage: str) -> Path | None:
    index = STAGE_NAMES.index(stage)
    if index == 0:
        return None
    previous = out / STAGE_NAMES[index - 1] / FINAL
    return previous if previous.exists() else None


def save_final(model: Any, processor: Any, config: RunConfig, target: Path, lora: Any = None) -> Path:
    """HF ``save_pretrained`` (safetensors) + processor + resolved run config, swapped in atomically.

    With ``lora`` (the peft wrapper of ``model``) the adapters are merged first, so the saved model is a
    plain ``PanoLLaVaForConditionalGeneration`` that ``from_pretrained`` loads without peft.
    """
    bad = nonfinite_parameters(model)
    if bad:
        raise NonFiniteModelError(f"not saving {target}: trainable weights are NaN/inf ({', '.join(bad)})")
    tmp = target.with_name(f".{target.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    if lora is not None:
        model = merge_lora(lora)
    model.save_pretrained(tmp)
    processor.save_pretrained(tmp)
    (tmp / "run_config.yaml").write_text(config.to_yaml())
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)
    return target


def check_fresh(state: RunState, plan: Sequence[str], out: Path) -> None:
    for stage in plan:
        if state.status(stage) != "pending" or (out / stage / "checkpoints").exists():
            raise FileExistsError(f"{out} already holds stage {stage!r} (status {state.status(stage)!r}); pass "
                                  f"--resume to continue that run, or choose a new --out")


def attach_feature_cache(model: Any, cache: FeatureCache | None) -> bool:
    """Serve a frozen vision tower from ``cache``; a trainable one (or no cache) computes every step."""
    frozen = not any(p.requires_grad for p in model.vision_tower.parameters())
    model.vision_tower.feature_cache = cache if frozen else None
    return frozen and cache is not None


def run_stage(config: RunConfig, stage: str, out: Path, state: RunState, resume: bool,
              cache: FeatureCache | None = None, init_ckpt: Path | None = None,
              continue_ckpt: Path | None = None) -> dict:
    """Train one stage and save its final model; returns its record (model dir, checkpoints, metrics).

    ``cache``: the run's frozen-encoder feature cache, used when this stage keeps the tower frozen.
    ``init_ckpt``: a checkpoint whose weights the stage starts from; ``continue_ckpt``: one it continues.
    """
    stage_dir, cfg, row = out / stage, config.stages.get(stage), get_stage(stage)
    silence_litlogger_tip()
    if not progress_bar_enabled(config.trainer.progress_bar):
        hf_logging.disable_progress_bar()  # "Loading weights" / "Writing model shards" bars
    L.seed_everything(config.seed, workers=True, verbose=False)
    init = _init_dir(out, stage)
    model, processor = load_model(init) if init is not None else build_model(config)
    if init_ckpt is not None:
        load_checkpoint_weights(model, init_ckpt)
        init = init_ckpt
    lora = None
    if row.uses_lora and model.config.use_lora:
        # Adapters are injected into the model's own LM modules; train the unwrapped model, merge at the end.
        lora = apply_lora(model)
        model = lora.get_base_model()
    counts = set_trainable(model, stage, cfg)
    # from_pretrained returns eval mode and Lightning expects train mode. After set_trainable, so that
    # VisionBackbone.train() sees which parts are frozen and keeps them (and their BatchNorms) in eval.
    model.train()
    cached = attach_feature_cache(model, cache)
    module = PanoVLMModule(model, stage, cfg, gradient_checkpointing=config.trainer.gradient_checkpointing,
                           nonfinite=config.checkpoint.nonfinite_loss)
    data = PanoramaDataModule(config, stage, processor, model.config.vision_token, model.config.system_prompt)
    trainer = build_trainer(config, stage, stage_dir)
    ckpt_dir, last = stage_dir / "checkpoints", stage_dir / "checkpoints" / "last.ckpt"
    newest = newest_valid_checkpoint(ckpt_dir) if resume and continue_ckpt is None else None
    ckpt_path = str(continue_ckpt) if continue_ckpt is not None else str(newest) if newest else None
    if trainer.is_global_zero:
        check_room(config, model, stage_dir)
    if config.model.recalibrate_batchnorm and init is None and ckpt_path is None:
        recalibrate_batchnorm(model, data)
    start = time.monotonic()
    with stage_log_file(out, stage, trainer.is_global_zero) as log_path:
        logger.info("stage %s: init from %s, %s, feature cache %s, log %s", stage, init or "the config's models",
                    f"resuming {ckpt_path}" if ckpt_path else "fresh optimizer", "on" if cached else "off", log_path)
        if trainer.is_global_zero:
            state.update(stage, status="running", init_from=str(init) if init else None, log=str(log_path),
                         trainable=counts)
        fit(trainer, module, data, ckpt_path, ckpt_dir)
        final = stage_dir / FINAL
        if trainer.is_global_zero:
            save_final(module.model, processor, config, final, lora=lora)
        trainer.strategy.barrier()
        best = next((c.best_model_path for c in trainer.checkpoint_callbacks if c.monitor == row.monitor), "")
        record = {
            "status": "completed", "model_dir": str(final), "last_ckpt": str(last) if last.exists() else None,
            "best_ckpt": best or None, "global_step": int(trainer.global_step),
            "seconds": round(time.monotonic() - start, 1),
            "metrics": {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1},
        }
        if trainer.is_global_zero:
            state.update(stage, **record)
        logger.info("stage %s done: step %d, %s", stage, record["global_step"], record["metrics"])
        if cached:
            logger.info("feature cache after stage %s: %s", stage, cache.stats())
        model.vision_tower.feature_cache = None
    stop = next(c for c in trainer.callbacks if isinstance(c, GracefulStop))
    if stop.signum is not None:  # the signal came after the last batch: the stage finished, the run stops here
        raise TrainingInterrupted(f"stage {stage} completed; stopping on {signal.Signals(stop.signum).name}. "
                                  f"Resume with: {stop.resume_hint}", stop.signum)
    return record


def check_room(config: RunConfig, model: Any, stage_dir: Path) -> None:
    """Refuse to train when the stage folder cannot be written or its disk cannot hold the checkpoints kept."""
    stage_dir.mkdir(parents=True, exist_ok=True)
    check_writable(stage_dir)
    one = checkpoint_bytes(model)
    need = int(config.checkpoint.min_free_gb * 1e9) if config.checkpoint.min_free_gb is not None else \
        one * files_kept(config.checkpoint)
    check_free_disk(stage_dir, need, f"{files_kept(config.checkpoint)} checkpoints of {one / 1e9:.2f} GB "
                                     "(checkpoint.keep_last) and the final model")


def fit(trainer: Any, module: Any, data: Any, ckpt_path: str | None, ckpt_dir: Path) -> None:
    """``trainer.fit``; a NaN / inf loss is re-raised naming the last good checkpoint to resume from."""
    try:
        trainer.fit(module, datamodule=data, ckpt_path=ckpt_path)
    except NonFiniteLossError as err:
        good = newest_valid_checkpoint(ckpt_dir)
        raise NonFiniteLossError(f"{err}; last good checkpoint: {good or 'none written yet'}") from err


def _launch_rank() -> int:
    """Global rank of this process as the launcher set it (RANK / LOCAL_RANK / SLURM_PROCID ...), before any Trainer."""
    return int(getattr(rank_zero_only, "rank", 0))


def run_training(config: RunConfig, stage: str | Sequence[str] = "all", out_dir: str | Path = "runs/panovlm",
                 resume: bool | str | Path = False, overrides: Sequence[str] = ()) -> dict:
    """Train ``stage`` (a stage of :mod:`panovlm.stages`, "all", or a list of stages in order) into ``out_dir``.

    A stage whose predecessor did not run in ``out_dir`` starts from the config's models. ``resume``:
    ``True`` continues the run in ``out_dir``; a checkpoint path starts or continues the first stage (above).

    Returns ``{"run_dir", "stages": {stage: record}, "final_model_dir"}``; each record has ``model_dir``,
    ``best_ckpt``, ``last_ckpt``, ``global_step``, ``seconds`` and the final ``metrics``.
    """
    config = apply_overrides(config, overrides)
    if config.model.kind == "adapt":  # an off-the-shelf HF VLM: its own stages and wrapper (panovlm.adapt)
        from panovlm.adapt.train import run_adapt_training

        return run_adapt_training(config, stage, out_dir, resume)
    plan = stage_plan(stage)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if _launch_rank() != 0:  # DDP children train into the folder that rank 0 holds
        return _run_plan(config, plan, out, resume)
    check_writable(out)
    with RunLock(out):
        return _run_plan(config, plan, out, resume)


def _run_plan(config: RunConfig, plan: Sequence[str], out: Path, resume: bool | str | Path) -> dict:
    state = RunState.load(out / "state.json")
    ckpt = None if isinstance(resume, bool) else check_checkpoint_file(Path(resume))
    continues = ckpt is not None and checkpoint_stage(ckpt) == plan[0]
    if ckpt is not None:
        logger.info("stage %s %s %s", plan[0], "continues from" if continues else "starts from the weights of", ckpt)
    resume = resume is True
    if not resume and not continues and _launch_rank() == 0:  # DDP children start after rank 0 wrote the run dir
        check_fresh(state, plan, out)
    results: dict = {"run_dir": str(out), "stages": {}}
    mb = config.trainer.feature_cache_mb
    cache = FeatureCache(mb * 2**20) if mb > 0 else None
    for name in plan:
        if resume and state.status(name) == "completed":
            logger.info("stage %s already completed in %s; skipping", name, out)
            results["stages"][name] = state.record(name)
            continue
        first = ckpt is not None and name == plan[0]
        results["stages"][name] = run_stage(config, name, out, state, resume, cache,
                                            init_ckpt=ckpt if first and not continues else None,
                                            continue_ckpt=ckpt if first and continues else None)
    results["final_model_dir"] = results["stages"][plan[-1]]["model_dir"]
    return results
