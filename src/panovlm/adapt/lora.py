"""LoRA on the base model via peft: the LM's projections, optionally the vision tower's attention.

Targets are regexes anchored on the family's parameter prefixes, so the vision tower's ``q_proj``
(InternVL) never gets LM adapters by accident. ``merge`` folds the adapters into the weights for
export: the merged model is the plain ``transformers`` class and loads without peft or panovlm.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from torch import nn

from panovlm.adapt.config import AdaptSettings
from panovlm.adapt.families import Family
from panovlm.models.lora import _peft

logger = logging.getLogger(__name__)


def _names(names: tuple[str, ...]) -> str:
    return "|".join(re.escape(n) for n in names)


def lora_regex(family: Family, settings: AdaptSettings) -> str:
    """peft ``target_modules`` regex: the LM projections (+ the vision attention with ``lora_vision``)."""
    parts = [rf"{re.escape(family.lm_prefix)}.*\.({_names(settings.lora_target_modules)})"]
    if settings.lora_vision:
        parts.append(rf"{re.escape(family.vision_prefix)}.*\.({_names(family.vision_lora)})")
    return "^(" + "|".join(parts) + ")$"


def attach_lora(model: nn.Module, family: Family, settings: AdaptSettings) -> Any:
    """Inject LoRA adapters into ``model`` in place; returns the peft wrapper (for merge and adapter saves)."""
    peft = _peft()
    config = peft.LoraConfig(r=settings.lora_r, lora_alpha=settings.lora_alpha, lora_dropout=settings.lora_dropout,
                             target_modules=lora_regex(family, settings), bias="none")
    wrapped = peft.get_peft_model(model, config)
    hit = [name for name, _ in model.named_modules() if name.endswith("lora_A")]
    in_vision = [name for name in hit if name.startswith(family.vision_prefix)]
    if len(hit) == len(in_vision):
        raise ValueError(f"LoRA matched no LM module for model.lora_target_modules={list(settings.lora_target_modules)}")
    if in_vision and not settings.lora_vision:
        raise RuntimeError("LoRA adapters reached the vision tower although model.lora_vision is false")
    logger.info("LoRA r=%d alpha=%d on %d LM and %d vision projections", settings.lora_r, settings.lora_alpha,
                len(hit) - len(in_vision), len(in_vision))
    return wrapped


def merge(wrapped: Any) -> nn.Module:
    """Fold the adapters into the weights; returns the plain base model (no peft layers left)."""
    return wrapped.merge_and_unload()


ADAPTER_WEIGHTS = "adapter_model.safetensors"


def save_adapter(wrapped: Any, directory: str | Path, base_model_name_or_path: str | None = None) -> Path:
    """Write the peft adapter folder (``adapter_config.json`` + ``adapter_model.safetensors``) of ``wrapped``.

    ``base_model_name_or_path`` replaces the local path peft would record: the base these adapters
    fit is the export folder itself (its projector trained), not the hub base.
    """
    import json

    directory = Path(directory)
    wrapped.save_pretrained(str(directory))
    # peft fills a missing base name with the local folder training loaded; that path means nothing elsewhere.
    config_path = directory / "adapter_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = base_model_name_or_path
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True), encoding="utf-8")
    (directory / "README.md").unlink(missing_ok=True)  # peft's empty template card; the export has the real one
    return directory


def load_adapter(base: nn.Module, directory: str | Path) -> nn.Module:
    """``base`` with the peft adapter of ``directory`` merged in; every saved key must fit a LoRA layer of it."""
    from safetensors.torch import load_file

    peft = _peft()
    directory = Path(directory)
    saved = set(load_file(str(directory / ADAPTER_WEIGHTS)))
    wrapped = peft.PeftModel.from_pretrained(base, str(directory))
    expected = set(peft.get_peft_model_state_dict(wrapped))
    if saved != expected:
        raise ValueError(f"{directory / ADAPTER_WEIGHTS} does not fit the base model: "
                         f"{len(saved - expected)} unexpected {sorted(saved - expected)[:4]}, "
                         f"{len(expected - saved)} missing {sorted(expected - saved)[:4]}")
    return wrapped.merge_and_unload()
