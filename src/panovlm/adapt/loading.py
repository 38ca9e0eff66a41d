"""Load a base VLM: a tiny preset, a local folder or a hub id, never silently something else.

Offline (``HF_HUB_OFFLINE=1``) a hub id that is not in the local cache is an ``OSError`` that says
so and names what works here (the tiny presets). Half precision on a machine without a GPU is
refused with the dtype to use instead.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from panovlm.adapt.families import get_family, model_class
from panovlm.adapt.tiny import TINY_BASES, tiny_base

logger = logging.getLogger(__name__)


def resolve_dtype(name: str) -> torch.dtype:
    """``auto``: bf16 on a GPU, fp32 on CPU; fp16 / bf16 without a GPU are refused (CPU kernels are missing or slow)."""
    gpu = torch.cuda.is_available()
    if name == "auto":
        return torch.bfloat16 if gpu else torch.float32
    if name in ("float16", "bfloat16") and not gpu:
        raise ValueError(f"config key 'model.dtype': got {name!r}, but this machine has no GPU; use float32 (or auto)")
    return getattr(torch, name)


def unavailable_message(name: str, err: Exception) -> str:
    from panovlm.cli.common import hub_offline

    where = ("the hub is off (HF_HUB_OFFLINE=1) and it is neither a local folder nor in the Hugging Face cache"
             if hub_offline() else f"the hub could not be reached or refused it ({type(err).__name__}: {err})")
    return (f"could not load base model {name!r}: {where}; use a tiny preset (model.base: "
            f"{' or '.join(sorted(TINY_BASES))}) or a local folder saved with save_pretrained")


def _chat_template(name: str, tokenizer: Any) -> None:
    """Qwen2.5-VL / InternVL hubs keep the multimodal template with the processor: read it from there."""
    if getattr(tokenizer, "chat_template", None):
        return
    from transformers.utils import cached_file

    for filename in ("chat_template.jinja", "chat_template.json"):
        path = cached_file(name, filename, _raise_exceptions_for_missing_entries=False)
        if path is None:
            continue
        text = Path(path).read_text()
        if filename.endswith(".json"):
            import json

            text = json.loads(text)["chat_template"]
        tokenizer.chat_template = text
        return


def load_base(name: str, dtype: str = "auto", seed: int = 0) -> tuple[Any, Any, Any]:
    """(model, tokenizer, image processor) of ``name`` (tiny preset, local folder or hub id)."""
    if name in TINY_BASES:
        return tiny_base(name, seed=seed)
    from transformers import AutoConfig, AutoImageProcessor, AutoTokenizer

    try:
        config = AutoConfig.from_pretrained(name)
        family = get_family(config.model_type)
        model = model_class(family).from_pretrained(name, dtype=resolve_dtype(dtype))
        tokenizer = AutoTokenizer.from_pretrained(name)
        image_processor = AutoImageProcessor.from_pretrained(name)
        _chat_template(name, tokenizer)
    except OSError as err:
        raise OSError(unavailable_message(name, err)) from err
    except ImportError as err:
        raise ImportError(f"base model {name!r} needs a package this machine lacks ({err}); install it "
                          "(e.g. pip install torchvision) or use a tiny preset") from err
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer, image_processor
