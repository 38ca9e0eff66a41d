"""``panovlm export`` of an adapted VLM (``model.kind: adapt``): merged (default) or base + peft adapter.

Sources: a stage's ``model_final`` (LoRA already merged by training) or its Lightning checkpoint
(``RUN/<stage>/checkpoints/*.ckpt``: the unmerged LoRA + trained weights of ``AdaptModule``; read with
``torch.load(weights_only=True)``). The settings, tokenizer and image processor come from the stage's
``model_final`` (``Source.config_dir``). Output, either way: the base family's own folder
(``Qwen2_5_VLForConditionalGeneration.from_pretrained(OUT)`` loads it, no remote code), its tokenizer and
image processor, ``panovlm_adapt.json`` (view plan, direction tags, token budget: ``panovlm generate``
reads it) and a model card. ``keep_adapters`` (a checkpoint source only: ``model_final`` holds merged
weights) writes the base weights unmerged plus the peft adapter in ``OUT/adapter``.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from panovlm.adapt.model import ADAPT_FILE, PanoAdapter
from panovlm.hub.adapt_card import write_adapted_card
from panovlm.hub.adapt_check import check_adapted_folder
from panovlm.hub.card import read_json
from panovlm.hub.state import ConversionError, match_state, read_lightning_state

logger = logging.getLogger(__name__)
ADAPTER_DIR = "adapter"
MODULE_PREFIX = "adapter."  # AdaptModule keeps the PanoAdapter as ``self.adapter``


def load_adapted(source: Any) -> tuple[PanoAdapter, dict[str, int]]:
    """(the adapter with the source's weights, LoRA attached when the checkpoint has it; {dropped group: tensors})."""
    adapter = PanoAdapter.from_pretrained(source.config_dir)
    if source.kind == "model_dir":
        return adapter.eval(), {}
    state, source.extra = read_lightning_state(source.path, prefix=MODULE_PREFIX, module="AdaptModule")
    if any(".lora_A." in k or ".lora_B." in k for k in state):
        adapter.add_lora()  # the same adapters (names, shapes) as training injected: same settings
    match_state(state, adapter.state_dict(), source.path, f"the adapter of {source.config_dir / ADAPT_FILE}")
    adapter.load_state_dict(state, strict=True)
    _warn_if_behind(source)
    head = sum(1 for k in state if k.startswith("overlap_head."))
    return adapter.eval(), ({"vicreg_projector": head} if head else {})


def _warn_if_behind(source: Any) -> None:
    """Say so when the checkpoint is older than the stage's end (max_steps not a multiple of every_n_steps)."""
    if source.run_dir is None or source.stage is None:
        return
    done = read_json(source.run_dir / "state.json").get("stages", {}).get(source.stage, {})
    step = source.extra.get("global_step")
    if done.get("status") == "completed" and step is not None and int(step) < int(done.get("global_step", 0)):
        logger.warning("%s is from step %d but stage %s ended at step %d: the export holds the older weights "
                       "(its model_final holds the final ones, merged)", source.path, step, source.stage,
                       done["global_step"])


def _check_request(source: Any, model_type: str, keep_adapters: bool) -> None:
    if model_type != "conditional-generation":
        raise ConversionError(f"--model-type {model_type}: {source.config_dir / ADAPT_FILE} is an adapted VLM, which "
                              "exports as conditional-generation only (its family's generation class)")
    if keep_adapters and source.kind == "model_dir":
        ckpt = source.path.parent / "checkpoints" / "last.ckpt"
        hint = (f"pass its checkpoint {ckpt}" if ckpt.exists()
                else "pass the stage's checkpoint (RUN/<stage>/checkpoints/*.ckpt)")
        raise ConversionError(f"--keep-adapters: {source.path} holds the LoRA merged into the weights (training merges "
                              f"them); {hint} to export base weights + peft adapter")


def export_adapted(source: Any, output_dir: Path, model_type: str = "conditional-generation",
                   keep_adapters: bool = False, metrics: Any = None,
                   card_options: Mapping[str, Any] | None = None) -> Any:
    """Write the export of ``source`` (a located ``convert.Source``) to ``output_dir``, check it, move it in place."""
    from panovlm.hub.convert import ExportResult

    _check_request(source, model_type, keep_adapters)
    adapter, dropped = load_adapted(source)
    options = dict(card_options or {})
    tmp = output_dir.with_name(f".{output_dir.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    adapter_dir = None
    if adapter.has_lora and keep_adapters:
        adapter.save_lora(tmp / ADAPTER_DIR, base_model_name_or_path=options.get("repo_id"))
        adapter.unload_lora()
        adapter_dir = ADAPTER_DIR
    elif keep_adapters:
        logger.info("%s has no LoRA adapters (this stage trained none); exporting its weights as they are", source.path)
    adapter.merge_lora()  # no-op unless the checkpoint's adapters are still attached
    adapter.save_pretrained(tmp, lora_adapter=adapter_dir)
    result = ExportResult(output_dir, model_type, source, merged_lora=adapter_dir is None, dropped=dropped)
    write_adapted_card(tmp, adapter, result, metrics=metrics, **options)
    check_adapted_folder(tmp, reference=adapter.base)
    if output_dir.exists():
        shutil.rmtree(output_dir)
    os.replace(tmp, output_dir)
    logger.info("exported adapted %s (%s) to %s", source.path, "base + peft adapter" if adapter_dir else "merged",
                output_dir)
    return result


__all__ = ["ADAPTER_DIR", "export_adapted", "load_adapted"]
