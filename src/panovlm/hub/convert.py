"""Lightning checkpoint or saved stage model -> a self-contained export folder (the seed API's ``convert_to_hf``).

Sources: a run's Lightning checkpoint (``RUN/<stage>/checkpoints/last.ckpt`` / ``best-*.ckpt``, read with
``torch.load(weights_only=True)``: nothing is unpickled) or a saved model folder (``RUN/<stage>/model_final``).
A Lightning checkpoint holds only tensors, so the architecture (config.json) and the processor come from a
saved folder of the same run (``config_dir``; by default the stage's ``model_final``, else another
stage's). Every tensor is mapped to the chosen head or the conversion fails and lists the unmatched,
missing and mis-shaped keys; the parts a head does not have (the LM of a feature extractor) are dropped
by name, not by tolerance. LoRA adapters are merged into the LM unless ``keep_adapters`` (then the
base model is saved and the peft adapter written to ``OUT/adapter``). An adapted VLM (``model.kind: adapt``,
its ``model_final`` or checkpoint) goes to :mod:`panovlm.hub.adapt_export` instead.

The folder is written beside the target and moved into place when complete, then checked by reloading it.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from panovlm.adapt.model import is_adapted
from panovlm.config.stage_config import MODULE_GROUPS, STAGE_NAMES
from panovlm.hub.adapt_export import export_adapted
from panovlm.hub.card import write_model_card
from panovlm.hub.check import CONFIG_FILE, PROCESSOR_FILE, check_folder, read_model_config, read_model_dir_state
from panovlm.hub.state import ConversionError, fill_tied_keys, match_state, read_lightning_state
from panovlm.models.configuration_panollava import PanoLLaVaConfig
from panovlm.models.lora import apply_lora, merge_lora, save_lora
from panovlm.models.modeling_heads import PanoLLaVaForFeatureExtraction, PanoLLaVaForVICReg
from panovlm.models.modeling_panollava import PanoLLaVaForConditionalGeneration
from panovlm.models.processing_panollava import PanoLLaVaProcessor

logger = logging.getLogger(__name__)

MODEL_TYPES: dict[str, type] = {
    "conditional-generation": PanoLLaVaForConditionalGeneration,
    "vicreg": PanoLLaVaForVICReg,
    "feature-extraction": PanoLLaVaForFeatureExtraction,
}
# Module groups (top-level attributes) of the full model; each head holds a subset, with the same names.
GROUPS: tuple[str, ...] = MODULE_GROUPS
HEAD_GROUPS: dict[str, tuple[str, ...]] = {
    "conditional-generation": GROUPS,
    "vicreg": ("vision_tower", "resampler", "vicreg_projector"),
    "feature-extraction": ("vision_tower", "resampler"),
}
# Groups a stage trains for the first time: a checkpoint of an earlier stage holds them untrained.
FIRST_TRAINED: dict[str, str] = {"vision_tower": "vision", "resampler": "vision", "vicreg_projector": "vision",
                                 "projector": "resampler", "language_model": "resampler"}
FINAL = "model_final"
ADAPTER_DIR = "adapter"

@dataclass
class Source:
    """What is being converted: the weights, where the config/processor come from, and the run around it."""

    path: Path
    kind: str  # "lightning" | "model_dir"
    config_dir: Path
    stage: str | None = None
    run_dir: Path | None = None
    state_dict: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)
    extra: dict[str, Any] = field(default_factory=dict)  # global_step / epoch of a Lightning checkpoint


@dataclass
class ExportResult:
    output_dir: Path
    model_type: str
    source: Source
    merged_lora: bool
    dropped: dict[str, int]


# ---------------------------------------------------------------------------------------------- reading
def _stage_of(stage_dir: Path) -> str | None:
    return stage_dir.name if stage_dir.name in STAGE_NAMES else None


def locate(source: str | Path, config_dir: str | Path | None = None) -> Source:
    """Classify ``source`` and find the saved folder that gives its config and processor."""
    path = Path(source)
    if path.is_file():
        in_run = path.parent.name == "checkpoints"
        stage_dir = path.parent.parent if in_run else None
        stage = _stage_of(stage_dir) if stage_dir is not None else None
        run_dir = stage_dir.parent if stage is not None else None
        if config_dir is None:
            config_dir = _find_config_dir(path, stage_dir, run_dir)
        return Source(path, "lightning", Path(config_dir), stage, run_dir)
    if path.is_dir():
        if not (path / CONFIG_FILE).is_file():
            raise ConversionError(f"{path / CONFIG_FILE} is missing: a model folder needs the config.json that "
                                  "save_pretrained writes (or pass a Lightning .ckpt file)")
        stage = _stage_of(path.parent) if path.name == FINAL else None
        return Source(path, "model_dir", Path(config_dir) if config_dir else path, stage,
                      path.parent.parent if stage is not None else None)
    raise ConversionError(f"{path} does not exist; expected a Lightning checkpoint (.ckpt) or a saved model folder")


def _find_config_dir(ckpt: Path, stage_dir: Path | None, run_dir: Path | None) -> Path:
    candidates = []
    if stage_dir is not None:
        candidates.append(stage_dir / FINAL)
    if run_dir is not None:  # every stage saves the same architecture; the processor is the run's
        candidates += [run_dir / name / FINAL for name in STAGE_NAMES]
    for candidate in candidates:
        if (candidate / CONFIG_FILE).is_file():
            return candidate
    looked = ", ".join(str(c) for c in dict.fromkeys(candidates)) or "nowhere (the checkpoint is not inside a run)"
    raise ConversionError(f"{ckpt}: a Lightning checkpoint holds no config; looked for a saved model folder in "
                          f"{looked}; pass --config DIR (a save_pretrained folder of the same architecture)")


def load_source(source: Source) -> Source:
    """Read the tensors of ``source`` into ``source.state_dict``."""
    if source.kind == "lightning":
        source.state_dict, source.extra = read_lightning_state(source.path)
    else:
        source.state_dict = read_model_dir_state(source.path)  # FolderError names a missing / corrupt file
    return source


def load_config(config_dir: Path) -> PanoLLaVaConfig:
    read_model_config(config_dir / CONFIG_FILE, ConversionError)
    return PanoLLaVaConfig.from_pretrained(config_dir)


def load_processor(config_dir: Path) -> PanoLLaVaProcessor:
    path = config_dir / PROCESSOR_FILE
    if not path.is_file():
        raise ConversionError(f"{path} is missing: the export needs the processor saved with the model "
                              "(processor.save_pretrained(dir)); pass --config DIR of a folder that has it")
    return PanoLLaVaProcessor.from_pretrained(config_dir)


# ---------------------------------------------------------------------------------------------- mapping
def _group(key: str) -> str:
    return key.split(".", 1)[0]


def check_model_type(source: Source, model_type: str) -> None:
    """Refuse a head the source cannot provide: weights it lacks, or weights its stage never trained."""
    if model_type not in MODEL_TYPES:
        raise ConversionError(f"--model-type must be one of {list(MODEL_TYPES)}, got {model_type!r}")
    present = {_group(k) for k in source.state_dict}
    lacking = [g for g in HEAD_GROUPS[model_type] if g not in present]
    if lacking:
        raise ConversionError(f"{source.path} has no {', '.join(g + '.*' for g in lacking)} weights, so it cannot "
                              f"provide --model-type {model_type}; it can provide "
                              f"{[t for t, groups in HEAD_GROUPS.items() if set(groups) <= present] or 'none'}")
    if source.stage is not None:
        done = STAGE_NAMES.index(source.stage)
        untrained = [g for g in HEAD_GROUPS[model_type] if STAGE_NAMES.index(FIRST_TRAINED[g]) > done]
        if untrained:
            raise ConversionError(f"{source.path} is a {source.stage}-stage checkpoint: its {', '.join(untrained)} "
                                  f"were never trained, so it cannot provide --model-type {model_type}; export it as "
                                  f"{[t for t, g in HEAD_GROUPS.items() if not set(g) & set(untrained)]}, or convert "
                                  "a later stage")


def split_head_state(state: Mapping[str, torch.Tensor], model_type: str) -> tuple[dict, dict[str, int]]:
    """(tensors of the head's groups, {dropped group: tensor count}); keys outside every group stay (and fail)."""
    keep, dropped = {}, {}
    for key, value in state.items():
        group = _group(key)
        if group in GROUPS and group not in HEAD_GROUPS[model_type]:
            dropped[group] = dropped.get(group, 0) + 1
        else:
            keep[key] = value
    return keep, dropped


def _has_lora(state: Mapping[str, torch.Tensor]) -> bool:
    return any(".lora_A." in k or ".lora_B." in k for k in state)


def build_model(source: Source, model_type: str, keep_adapters: bool = False,
                adapter_dir: Path | None = None) -> tuple[torch.nn.Module, dict[str, int], bool]:
    """(the head with the source's weights, dropped groups, whether LoRA was merged)."""
    check_model_type(source, model_type)
    config = load_config(source.config_dir)
    cls = MODEL_TYPES[model_type]
    state, dropped = split_head_state(source.state_dict, model_type)
    model = cls(config)
    lora = None
    if _has_lora(state):
        lora = apply_lora(model)  # the adapters' names and shapes are those training injected
        model = lora.get_base_model()
    fill_tied_keys(model, state)
    match_state(state, model.state_dict(), source.path, f"{cls.__name__} of {source.config_dir / CONFIG_FILE}")
    model.load_state_dict(state, strict=True)
    merged = False
    if lora is not None:
        if keep_adapters:
            if adapter_dir is None:
                raise ValueError("keep_adapters needs adapter_dir")
            save_lora(lora, adapter_dir)
            model = lora.unload()  # the base weights, adapters removed without merging
        else:
            model = merge_lora(lora)
            merged = True
    if merged:
        model.config.use_lora = False  # the adapters are in the weights now; nothing to re-apply
    if dropped:
        logger.info("%s: not part of %s: %s", source.path, cls.__name__,
                    ", ".join(f"{g} ({n} tensors)" for g, n in sorted(dropped.items())))
    return model.eval(), dropped, merged


# ---------------------------------------------------------------------------------------------- export
def export(source: str | Path, output_dir: str | Path, model_type: str = "conditional-generation",
           config_dir: str | Path | None = None, keep_adapters: bool = False, metrics: str | Path | None = None,
           overwrite: bool = False, card_options: Mapping[str, Any] | None = None) -> ExportResult:
    """Convert ``source`` into ``output_dir`` (weights, config, processor, remote code, model card) and check it."""
    out = Path(output_dir)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ConversionError(f"{out} exists and is not empty; choose a new --output-dir or pass --overwrite")
    located = locate(source, config_dir)
    if is_adapted(located.config_dir):  # model.kind: adapt: the base family's own folder (panovlm.hub.adapt_export)
        return export_adapted(located, out, model_type, keep_adapters, metrics, card_options)
    src = load_source(located)
    check_model_type(src, model_type)  # before anything is built: the cheapest refusal first
    processor = load_processor(src.config_dir)
    tmp = out.with_name(f".{out.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    model, dropped, merged = build_model(src, model_type, keep_adapters, adapter_dir=tmp / ADAPTER_DIR)
    model.save_pretrained(tmp)
    processor.save_pretrained(tmp)
    result = ExportResult(out, model_type, src, merged, dropped)
    write_model_card(tmp, model, result, metrics=metrics, **dict(card_options or {}))
    check_folder(tmp, reference=model)
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    logger.info("exported %s (%s) to %s", src.path, model_type, out)
    return result


__all__ = ["ConversionError", "ExportResult", "MODEL_TYPES", "Source", "build_model", "check_model_type",
           "export", "locate", "load_source", "match_state", "read_lightning_state"]
