"""LoRA on the language model only (peft), for the finetune stage.

The vision tower (SigLIP, CLIP ...) also has ``q_proj`` / ``k_proj`` / ``v_proj``, so a plain module-name
list would put adapters there too. The target is a regex anchored on ``language_model``:
``r".*language_model.*\\.(q_proj|k_proj|v_proj|o_proj)"`` for the default names.

peft is imported inside the functions (it takes seconds to import; ``pip install peft``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import nn

logger = logging.getLogger(__name__)

DEFAULT_TARGETS: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")


def _peft() -> Any:
    try:
        import peft
    except ImportError as err:
        raise ImportError("LoRA needs peft: pip install peft (it is a core dependency of panovlm)") from err
    return peft


def lm_target_regex(target_modules: Sequence[str] = DEFAULT_TARGETS) -> str:
    """Regex matching only the LM's projections named in ``target_modules``."""
    names = "|".join(re.escape(t) for t in target_modules)
    return rf".*language_model.*\.({names})"


def apply_lora(model: nn.Module, r: int | None = None, alpha: int | None = None, dropout: float | None = None,
               target_modules: Sequence[str] | None = None) -> Any:
    """Wrap ``model`` in a peft ``PeftModel`` with LoRA adapters on its LM; unset values come from ``model.config``.

    Only the adapters are trainable afterwards; unfreeze other groups (e.g. the resampler) explicitly.
    """
    peft = _peft()
    cfg = model.config
    lora_config = peft.LoraConfig(
        r=int(r if r is not None else cfg.lora_r),
        lora_alpha=int(alpha if alpha is not None else cfg.lora_alpha),
        lora_dropout=float(dropout if dropout is not None else cfg.lora_dropout),
        target_modules=lm_target_regex(target_modules or cfg.lora_target_modules),
        bias="none",
    )
    wrapped = peft.get_peft_model(model, lora_config)
    hit = [name for name, _ in wrapped.named_modules() if name.endswith("lora_A")]
    if not hit:
        raise ValueError(f"LoRA matched no module of the language model for targets "
                         f"{list(target_modules or cfg.lora_target_modules)}")
    if any("vision_tower" in name for name in hit):
        raise RuntimeError("LoRA adapters reached the vision tower; the target regex must stay on language_model")
    logger.info("LoRA on %d LM projections (r=%d, alpha=%d)", len(hit), lora_config.r, lora_config.lora_alpha)
    return wrapped


def merge_lora(peft_model: Any) -> nn.Module:
    """Fold the adapters into the LM weights and return the plain model (no peft wrappers left)."""
    return peft_model.merge_and_unload()


def unmerge_lora(peft_model: Any) -> Any:
    """Undo ``peft_model.merge_adapter()`` (adapters kept separate again); returns the same wrapper."""
    peft_model.unmerge_adapter()
    return peft_model


def save_lora(peft_model: Any, directory: str | Path) -> Path:
    """Write ``adapter_config.json`` + ``adapter_model.safetensors`` to ``directory``."""
    directory = Path(directory)
    peft_model.save_pretrained(str(directory))
    return directory


def load_lora(model: nn.Module, directory: str | Path, is_trainable: bool = False) -> Any:
    """Attach the adapter saved in ``directory`` to a base ``model``."""
    peft = _peft()
    if not (Path(directory) / "adapter_config.json").is_file():
        raise FileNotFoundError(f"no adapter_config.json in {directory}; expected a save_lora() directory")
    return peft.PeftModel.from_pretrained(model, str(directory), is_trainable=is_trainable)


__all__ = ["apply_lora", "merge_lora", "unmerge_lora", "save_lora", "load_lora", "lm_target_regex"]
