"""``PanoramaVLM``: the seed name of ``PanoLLaVaForConditionalGeneration`` (the same network, not a copy).

The subclass only adapts the seed API:

* ``PanoramaVLM(config=ModelConfig(...))`` builds the model from the flat config (pretrained weights for
  parts named by id / path) and keeps the tokenizer; a ``PanoLLaVaConfig`` works as for the HF class.
* ``generate(pixel_values, input_ids=None, attention_mask=None, max_new_tokens=32, temperature=0.7, **kw)``
  validates its input and returns ``GenerationOutput(generated_ids, text)``.
* ``model.tile_metas_batch = [...]`` before ``model(pixel_values=..., stage="vision")`` selects the tiles.
* ``use_anyres_e2p_vicreg`` (from the ``ModelConfig``; ``False`` when built from a ``PanoLLaVaConfig``) picks
  the overlap pairs as the seed API documents: on *and* ``tile_metas_batch`` set -> the grid pairing of
  ``anyres_vicreg_pairing_strategy``; otherwise the sequential neighbours (tile k, tile k + 1, closed).
  Both are ray-matched; on a single ring of tiles (the default plan) the two give the same pairs.

The tile metas only reach the core as a sub-plan and the matching slice of ``pixel_values``: the core
vision stage knows nothing of them.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from collections.abc import Sequence
from typing import Any

import torch

from panovlm.compat.config import ModelConfig
from panovlm.geometry import ViewPlan
from panovlm.models.components import load_component_weights
from panovlm.models.configuration_panollava import PanoLLaVaConfig
from panovlm.models.fusion import DEFAULT_PROMPT, build_generation_prompt, expand_compact_prompts, pad_batch
from panovlm.models.modeling_outputs import GenerationOutput, TrainingStageOutput, VisionStageOutput
from panovlm.models.modeling_panollava import PanoLLaVaForConditionalGeneration, Stage
from panovlm.models.modeling_parts import as_views

logger = logging.getLogger(__name__)

__all__ = ["PanoramaVLM", "VisionStageOutput", "TrainingStageOutput", "GenerationOutput", "select_tile_views"]


class PanoramaVLM(PanoLLaVaForConditionalGeneration):
    """See the module docstring. ``tokenizer`` is the one the config was built with (``None`` after
    ``from_pretrained``: set ``model.tokenizer`` or pass ``tokenizer=`` to ``generate``)."""

    def __init__(self, config: Any = None, **kwargs: Any) -> None:
        if config is None:
            raise ValueError("PanoramaVLM needs a config: ModelConfig(...), a dict of its fields or a PanoLLaVaConfig")
        if isinstance(config, dict):
            config = ModelConfig.from_dict({**config, **kwargs})
            kwargs = {}
        if isinstance(config, ModelConfig):
            if kwargs:
                config = dataclasses.replace(config, **kwargs)
            tokenizer = config.load_tokenizer()
            super().__init__(config.to_hf_config(tokenizer))
            load_component_weights(self, config.vision_name, config.language_model_name)
            self.generation_config.eos_token_id = tokenizer.eos_token_id
            self.generation_config.pad_token_id = self.config.text_config.pad_token_id
            self.tokenizer = tokenizer
            self.model_config = config
            self.use_anyres_e2p_vicreg = bool(config.use_anyres_e2p_vicreg)
        elif isinstance(config, PanoLLaVaConfig):
            super().__init__(config, **kwargs)
            self.tokenizer = None
            self.model_config = None
            self.use_anyres_e2p_vicreg = False  # the seed's default
        else:
            raise TypeError(f"config must be a ModelConfig, a dict or a PanoLLaVaConfig, got {type(config).__name__}")
        self.tile_metas_batch: list = []

    @property
    def anyres_vicreg_pairing_strategy(self) -> str:
        return self.config.pairing_strategy

    def vicreg_pairing_strategy(self, has_tile_metas: bool) -> str:
        """The seed's switch: the grid pairing needs the flag and tile metas, else sequential neighbours."""
        if self.use_anyres_e2p_vicreg and has_tile_metas:
            return self.anyres_vicreg_pairing_strategy
        if self.use_anyres_e2p_vicreg:
            logger.debug("use_anyres_e2p_vicreg is on but tile_metas_batch is empty: sequential VICReg pairs")
        return "sequential"

    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        stage: Stage = "finetune",
        view_plan: ViewPlan | None = None,
        tile_metas_batch: list | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values: Any = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        loss_only: bool = False,
        **kwargs: Any,
    ) -> VisionStageOutput | TrainingStageOutput:
        """The core ``forward`` with the seed's ``tile_metas_batch`` (argument, else the attribute) in stage "vision".

        The full signature is repeated on purpose: ``GenerationMixin`` reads it (``logits_to_keep``, ...).
        """
        if stage == "vision" and pixel_values is not None:
            return self.seed_vision_stage(pixel_values, view_plan, tile_metas_batch or self.tile_metas_batch)
        return super().forward(pixel_values=pixel_values, input_ids=input_ids, attention_mask=attention_mask,
                               labels=labels, stage=stage, view_plan=view_plan, position_ids=position_ids,
                               past_key_values=past_key_values, inputs_embeds=inputs_embeds, use_cache=use_cache,
                               logits_to_keep=logits_to_keep, loss_only=loss_only, **kwargs)

    def seed_vision_stage(self, pixel_values: torch.Tensor, view_plan: ViewPlan | None,
                          tile_metas_batch: Sequence[Sequence[dict]] | None) -> VisionStageOutput:
        """The core vision stage on the views the tile metas name (all views without metas), paired as the seed says."""
        pixel_values = as_views(pixel_values)
        plan = self.resolve_plan(view_plan, pixel_values.shape[1])
        if tile_metas_batch:
            if len(tile_metas_batch) != pixel_values.shape[0]:
                raise ValueError(f"tile_metas_batch has {len(tile_metas_batch)} entries for a batch of "
                                 f"{pixel_values.shape[0]}")
            plan, indices = select_tile_views(plan, tile_metas_batch)
            pixel_values = pixel_values[:, indices]
        return self.vision_stage(pixel_values, plan, self.vicreg_pairing_strategy(bool(tile_metas_batch)))

    def generate(self, pixel_values: Any = None, input_ids: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, max_new_tokens: int = 32, temperature: float = 0.7,
                 tokenizer: Any = None, **kwargs: Any) -> GenerationOutput:
        """Caption / answer for ``pixel_values`` (B, V, 3, S, S) or (B, 3, S, S); default prompt if no ids.

        ``temperature`` is clamped to [0.1, 1.0] with a warning; sampling is on when it is above 0.1 unless ``do_sample`` is
        given (``do_sample=False`` for greedy). Returns only the new tokens and their text.
        """
        if not isinstance(pixel_values, torch.Tensor):
            raise TypeError(f"pixel_values must be a torch.Tensor, got {type(pixel_values).__name__}")
        if pixel_values.ndim not in (4, 5):
            raise ValueError(f"pixel_values must have 4 (B, 3, H, W) or 5 (B, V, 3, H, W) dimensions, "
                             f"got {pixel_values.ndim} (shape {tuple(pixel_values.shape)})")
        if max_new_tokens <= 0:
            raise ValueError(f"max_new_tokens must be positive, got {max_new_tokens}")
        tokenizer = tokenizer or self.tokenizer
        if tokenizer is None:
            raise ValueError("generate needs a tokenizer for the text: pass tokenizer=... or set model.tokenizer")
        views = as_views(pixel_values)
        if input_ids is None:
            logger.info("no input_ids given: using the default prompt %r", DEFAULT_PROMPT)
            prompt = build_generation_prompt(tokenizer, DEFAULT_PROMPT, self.config.vision_token,
                                             system_prompt=self.config.system_prompt)
            input_ids = pad_batch([prompt] * views.shape[0], int(self.config.text_config.pad_token_id or 0))
            attention_mask = torch.ones_like(input_ids)
        input_ids = input_ids.to(views.device)
        input_ids, attention_mask, _ = expand_compact_prompts(input_ids, self.vision_token_id,
                                                              self.vision_span(views.shape[1]), attention_mask)
        clamped = max(0.1, min(float(temperature), 1.0))
        if clamped != float(temperature):
            warnings.warn(f"temperature {temperature} is outside [0.1, 1.0]; clamped to {clamped}", stacklevel=2)
        temperature = clamped
        do_sample = kwargs.pop("do_sample", temperature > 0.1)
        if do_sample:
            kwargs["temperature"] = temperature
        sequences = super().generate(input_ids=input_ids, pixel_values=views, attention_mask=attention_mask,
                                     max_new_tokens=max_new_tokens, do_sample=do_sample, **kwargs)
        new_tokens = sequences[:, input_ids.shape[1]:]
        text = [t.strip() for t in tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]
        return GenerationOutput(generated_ids=new_tokens, text=text)


def select_tile_views(plan: ViewPlan, tile_metas_batch: Sequence[Sequence[dict]]) -> tuple[ViewPlan, list[int]]:
    """The seed's tile metas name the views the overlap loss uses.

    Returns the sub-plan of those views and their positions in the views tensor. All samples of a batch
    share one plan, so their metas must agree, and each meta must describe the view it points at.
    """
    first = list(tile_metas_batch[0])
    indices = [int(m["view_index"]) if "view_index" in m else _tile_position(plan, int(m["tile_id"]))
               for m in first]
    for b, metas in enumerate(tile_metas_batch[1:], start=1):
        if [int(m.get("view_index", -1)) for m in metas] != [int(m.get("view_index", -1)) for m in first]:
            raise ValueError(f"tile_metas_batch[{b}] names other views than tile_metas_batch[0]; one batch shares "
                             "one ViewPlan")
    for meta, index in zip(first, indices, strict=True):
        if not 0 <= index < len(plan):
            raise ValueError(f"tile meta {meta} points at view {index}, the plan has {len(plan)} views")
        view = plan.views[index]
        if abs(float(meta["yaw_deg"]) - view.yaw_deg) > 1e-4 or abs(float(meta["pitch_deg"]) - view.pitch_deg) > 1e-4:
            raise ValueError(f"tile meta (yaw {meta['yaw_deg']}, pitch {meta['pitch_deg']}) does not match view "
                             f"{index} of the plan (yaw {view.yaw_deg}, pitch {view.pitch_deg})")
    sub = ViewPlan(views=tuple(plan.views[i] for i in indices), strategy=plan.strategy,
                   overlap_ratio=plan.overlap_ratio, params=plan.params)
    return sub, indices


def _tile_position(plan: ViewPlan, tile_id: int) -> int:
    tiles = plan.tile_indices
    if not 0 <= tile_id < len(tiles):
        raise ValueError(f"tile_id {tile_id} out of range: the plan has {len(tiles)} tiles")
    return tiles[tile_id]
