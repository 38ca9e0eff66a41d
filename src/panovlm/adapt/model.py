"""``PanoAdapter``: an off-the-shelf HF VLM fed our views, with the overlap loss on its visual tokens.

It owns the base model (a plain ``transformers`` class), the ``AdaptProcessor`` (views -> chat
input), the visual-token hook and the optional VICReg head. ``forward`` returns the LM loss
(``ar_loss``) and, with ``overlap=True``, the ray-matched VICReg terms of the same forward pass.

Saved layout (``save_pretrained``): the base model's own files (merged LoRA, so the folder loads
with the family's class and no panovlm), its tokenizer and image processor, and
``panovlm_adapt.json`` (the settings and the view plan the model was trained with). An export with
``--keep-adapters`` holds the base weights unmerged and the peft adapter in ``adapter/``;
``panovlm_adapt.json`` then names that folder (``lora_adapter``) and :meth:`from_pretrained` merges it.

Shapes: B panoramas, V views, (h, w) tokens per view, D the LM width, T text tokens.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from transformers.utils import ModelOutput

from panovlm.adapt.config import AdaptSettings, adapt_settings
from panovlm.adapt.families import get_family
from panovlm.adapt.lora import attach_lora, load_adapter, merge, save_adapter
from panovlm.adapt.messages import AdaptProcessor
from panovlm.adapt.overlap import VisualTokenTap, overlap_terms, require_overlap
from panovlm.adapt.views import effective_settings, fit_plan, view_grids, visual_tokens
from panovlm.geometry import ViewPlan

logger = logging.getLogger(__name__)
ADAPT_FILE = "panovlm_adapt.json"
_TERMS = ("invariance", "variance", "covariance")


@dataclass
class AdaptOutput(ModelOutput):
    """Loss terms of one forward; ``vicreg_loss`` and the terms are None without ``overlap``."""

    ar_loss: Tensor | None = None
    vicreg_loss: Tensor | None = None
    invariance: Tensor | None = None
    variance: Tensor | None = None
    covariance: Tensor | None = None
    logits: Tensor | None = None


class PanoAdapter(nn.Module):
    """See the module docstring. Build with :meth:`from_settings` or :meth:`from_pretrained`."""

    def __init__(self, base: nn.Module, tokenizer: Any, image_processor: Any, settings: AdaptSettings,
                 plan: ViewPlan) -> None:
        super().__init__()
        self.base = base
        self.family = get_family(base.config.model_type)
        self.settings = effective_settings(settings, plan)
        self.plan = plan
        self.processor = AdaptProcessor(self.family, tokenizer, image_processor, plan, settings.direction_tags)
        self.grids = view_grids(plan, self.family)
        width = base.config.get_text_config().hidden_size
        self.overlap_head = None
        if settings.overlap_head_dim > 0:
            from panovlm.losses import VICRegProjector

            self.overlap_head = VICRegProjector(width, settings.overlap_head_dim)
        self.tap = VisualTokenTap(base, self.family)
        self._peft: list[Any] = []  # the peft wrapper, kept out of the module tree (it wraps self.base)

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def from_settings(cls, settings: AdaptSettings, seed: int = 0) -> PanoAdapter:
        from panovlm.adapt.loading import load_base

        base, tokenizer, image_processor = load_base(settings.base, settings.dtype, seed=seed)
        plan = fit_plan(settings, get_family(base.config.model_type))
        adapter = cls(base, tokenizer, image_processor, settings, plan)
        logger.info("adapter %s (%s, %s): %d views of %dx%d px, %d visual tokens per panorama", settings.base,
                    adapter.family.name, settings.adapt_mode, len(plan), plan.views[0].height, plan.views[0].width,
                    adapter.visual_tokens)
        return adapter

    @property
    def visual_tokens(self) -> int:
        return visual_tokens(self.plan, self.family)

    @property
    def tokenizer(self) -> Any:
        return self.processor.tokenizer

    # -- LoRA -----------------------------------------------------------------------------------
    def add_lora(self) -> None:
        """Inject LoRA adapters (LM, + vision with ``lora_vision``); training then sees only the adapters' weights."""
        if self._peft:
            raise RuntimeError("LoRA adapters are already attached")
        self._peft.append(attach_lora(self.base, self.family, self.settings))

    def merge_lora(self) -> None:
        """Fold the adapters into the base weights (no-op without adapters)."""
        if self._peft:
            self.base = merge(self._peft.pop())

    @property
    def has_lora(self) -> bool:
        return bool(self._peft)

    def save_lora(self, directory: str | Path, base_model_name_or_path: str | None = None) -> Path:
        """The attached adapters as a peft adapter folder (``PeftModel.from_pretrained(base, directory)``)."""
        if not self._peft:
            raise RuntimeError("no LoRA adapters are attached; add_lora() (or load a checkpoint that has them) first")
        return save_adapter(self._peft[0], directory, base_model_name_or_path)

    def unload_lora(self) -> None:
        """Remove the adapters without merging: the base weights are left as they were under the adapters."""
        if self._peft:
            self.base = self._peft.pop().unload()

    # -- forward --------------------------------------------------------------------------------
    def check_overlap(self) -> None:
        require_overlap(self.plan, self.grids[0], self.settings)

    def forward(self, input_ids: Tensor, attention_mask: Tensor, pixel_values: Tensor, labels: Tensor | None = None,
                image_grid_thw: Tensor | None = None, overlap: bool = False) -> AdaptOutput:
        """One pass of the base model; ``overlap`` adds the VICReg terms of its visual tokens."""
        extra = {} if image_grid_thw is None else {"image_grid_thw": image_grid_thw}
        self.tap.active = overlap
        try:
            out = self.base(input_ids=input_ids, attention_mask=attention_mask, pixel_values=pixel_values,
                            labels=labels, **extra)
        finally:
            self.tap.active = False
        result = AdaptOutput(ar_loss=out.loss, logits=out.logits)
        if overlap:
            terms = overlap_terms(self.tap.pop(), input_ids.shape[0], self.plan, self.grids[0], self.settings,
                                  self.overlap_head)
            result.vicreg_loss = terms["loss"]
            for name in _TERMS:
                setattr(result, name, terms[name])
        return result

    @torch.no_grad()
    def generate(self, input_ids: Tensor, attention_mask: Tensor, pixel_values: Tensor,
                 image_grid_thw: Tensor | None = None, **kwargs: Any) -> Tensor:
        """The base model's ``generate`` (left-padded prompts, KV cache); returns ``(B, T + new)``."""
        extra = {} if image_grid_thw is None else {"image_grid_thw": image_grid_thw}
        kwargs.setdefault("pad_token_id", self.tokenizer.pad_token_id)
        return self.base.generate(input_ids=input_ids, attention_mask=attention_mask, pixel_values=pixel_values,
                                  **extra, **kwargs)

    def answer(self, texts: list, images: list | None, generate_kwargs: dict, streamer: Any = None) -> list[str]:
        """Decoded answers to ``texts`` (user messages or conversations) about ``images``, batched."""
        if images is None:
            raise ValueError("blind (no-image) prompts are not supported for model.kind=adapt yet; "
                             "evaluate the base model on text with its own tooling")
        convs = [[{"role": "user", "content": t}] if isinstance(t, str) else list(t) for t in texts]
        batch = self.processor.generation_batch(convs, images)
        device = next(self.parameters()).device
        batch = {k: v.to(device) for k, v in batch.items()}
        batch["pixel_values"] = batch["pixel_values"].to(next(self.base.parameters()).dtype)
        out = self.generate(**batch, **generate_kwargs, streamer=streamer)  # (B, T + new)
        return self.tokenizer.batch_decode(out[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)

    # -- save / load ----------------------------------------------------------------------------
    def save_pretrained(self, directory: str | Path, lora_adapter: str | None = None) -> Path:
        """Base model + tokenizer + image processor + ``panovlm_adapt.json``.

        Without adapters attached the base holds merged weights. ``lora_adapter``: the subfolder where
        :meth:`save_lora` wrote the adapters of these (then unmerged) base weights, recorded for loading.
        """
        if self._peft:
            raise RuntimeError("merge_lora() (or save_lora() + unload_lora()) before save_pretrained()")
        directory = Path(directory)
        if lora_adapter is not None and not (directory / lora_adapter / "adapter_config.json").is_file():
            raise FileNotFoundError(f"{directory / lora_adapter / 'adapter_config.json'} is missing; save_lora() "
                                    "into that folder first")
        self.base.save_pretrained(directory)
        self.tokenizer.save_pretrained(directory)
        self.processor.image_processor.save_pretrained(directory)
        record = {"settings": self.settings.to_dict(), "view_plan": self.plan.to_dict(),
                  "visual_tokens_per_panorama": self.visual_tokens, "family": self.family.name}
        if lora_adapter is not None:
            record["lora_adapter"] = lora_adapter
        (directory / ADAPT_FILE).write_text(json.dumps(record, indent=2))
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | Path, base: nn.Module | None = None) -> PanoAdapter:
        """Load a saved or exported folder; a recorded peft adapter (``lora_adapter``) is merged in.

        ``base``: the folder's base model already loaded (``panovlm.hub.adapt_check`` loads it to check its keys).
        """
        from transformers import AutoImageProcessor, AutoTokenizer

        from panovlm.adapt.families import model_class
        from panovlm.adapt.loading import resolve_dtype

        directory = Path(directory)
        record = read_record(directory)
        settings = adapt_settings(record["settings"], prefix=f"{directory / ADAPT_FILE}")
        family = get_family(record["family"])
        if base is None:
            base = model_class(family).from_pretrained(directory, dtype=resolve_dtype(settings.dtype))
        if record.get("lora_adapter") is not None:
            base = load_adapter(base, directory / record["lora_adapter"])
        tokenizer = AutoTokenizer.from_pretrained(directory)
        image_processor = AutoImageProcessor.from_pretrained(directory)
        plan = ViewPlan.from_dict(record["view_plan"])
        return cls(base, tokenizer, image_processor, dataclasses.replace(settings, base=str(directory)), plan)


def read_record(directory: str | Path) -> dict:
    """The ``panovlm_adapt.json`` of ``directory`` (settings, view plan, family, token count, adapter folder)."""
    path = Path(directory) / ADAPT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{directory} holds no adapted model ({ADAPT_FILE} missing)")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON ({err}); expected the record "
                         "PanoAdapter.save_pretrained writes") from err
    missing = [k for k in ("settings", "view_plan", "family") if not isinstance(record, dict) or k not in record]
    if missing:
        raise ValueError(f"{path} lacks {missing}; expected the record PanoAdapter.save_pretrained writes")
    return record


def is_adapted(directory: str | Path) -> bool:
    """Whether ``directory`` holds a ``PanoAdapter.save_pretrained`` folder."""
    return (Path(directory) / ADAPT_FILE).is_file()
