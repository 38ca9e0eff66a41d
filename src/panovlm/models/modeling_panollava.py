"""``PanoLLaVaForConditionalGeneration``: vision tower -> resampler -> projector -> causal LM.

Module groups (the training stage table trains them by name): ``vision_tower``, ``resampler``,
``vicreg_projector``, ``projector``, ``language_model``.

Shapes: ``pixel_values`` (B, V, 3, S, S) or (B, 3, S, S); ``input_ids`` (B, T) holding per sample
N = V * S' ``<|vision|>`` copies (the processor's prompts, the training batches) or one placeholder
(expanded here by ``fusion.expand_compact_prompts``); the number of copies is checked against the
number of features, and the N projected vision tokens (B, N, Dlm) are written over the copies.
Generation is transformers' ``GenerationMixin`` (KV cache, left padding, greedy/sampling/beam); it
drops ``pixel_values`` after the prefill step by itself.
"""

from __future__ import annotations

import importlib
import logging
import os
from typing import Any

import torch
from transformers import AutoModelForCausalLM, GenerationMixin, PreTrainedModel

from ..geometry import ViewPlan
from ..stages import STAGE_NAMES, get_stage
from .attention import select_attn_implementation
from .components import build_from_components
from .configuration_panollava import PanoLLaVaConfig
from .fusion import check_vision_placeholders, expand_compact_prompts, vision_span
from .lm_loss import labelled_token_loss, supports_labelled_loss
from .modeling_outputs import TrainingStageOutput, VisionStageOutput
from .modeling_parts import (
    PanoLLaVaProjector,
    PanoLLaVaVisionMixin,
    as_views,
    build_resampler_for,
    build_vicreg_projector,
    build_vision_tower,
)

logger = logging.getLogger(__name__)

Stage = str  # a stage name of the stage table (panovlm.stages)
STAGES: tuple[str, ...] = STAGE_NAMES
# False when this file runs as exported remote code (a flat module that transformers loaded from a model folder).
IN_PACKAGE = __name__.startswith("panovlm.")


class PanoLLaVaPreTrainedModel(PreTrainedModel):
    """Base class: config class, weight init, attention-backend flags shared by all heads."""

    config_class = PanoLLaVaConfig  # explicit: the annotation is a string under postponed evaluation
    config: PanoLLaVaConfig
    base_model_prefix = ""
    input_modalities = ("image", "text")
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_attention_backend = True
    _skip_keys_device_placement = ["past_key_values"]
    # Modules accelerate's device_map keeps on one device (their forward reads children's parameters or
    # mixes tensors of several children). The LM adds its decoder layer class itself (a PreTrainedModel child).
    _no_split_modules = ["VisionBackbone", "MLPResampler", "QFormerResampler", "PerceiverResampler",
                         "BiMambaResampler", "PanoLLaVaProjector", "VICRegProjector"]

    def save_pretrained(self, save_directory: str | os.PathLike, *args: Any, push_to_hub: bool = False,
                        **kwargs: Any) -> Any:
        """transformers' ``save_pretrained`` plus ``auto_map`` and the remote code (``panovlm.hub.remote_code``).

        The folder then loads with ``trust_remote_code=True`` where panovlm is not installed.
        """
        if not IN_PACKAGE:  # exported code: transformers copies its own files (the class has an _auto_class)
            return super().save_pretrained(save_directory, *args, push_to_hub=push_to_hub, **kwargs)
        if push_to_hub:
            raise ValueError("save_pretrained(push_to_hub=True) would upload before the remote code is written; "
                             "use model.push_to_hub(repo_id) or `panovlm push DIR REPO_ID`")
        remote = remote_code_module()
        # A subclass (the seed API's PanoramaVLM) exports as the head it extends.
        head = next((c.__name__ for c in type(self).__mro__ if c.__name__ in remote.MODEL_MODULES), None)
        if head is None:
            raise TypeError(f"{type(self).__name__} is not one of the exportable heads {sorted(remote.MODEL_MODULES)}")
        self.config.auto_map = remote.model_auto_map(head)
        result = super().save_pretrained(save_directory, *args, **kwargs)
        if kwargs.get("is_main_process", True):
            remote.write_remote_code(save_directory)
        return result

    def _init_weights(self, module: torch.nn.Module) -> None:
        # Our own modules (resampler, projector, VICReg projector, ray encoding) are initialised by their
        # constructors on purpose (e.g. the ray encoding's Linear starts at zero); the HF sub-models
        # (vision model, LM) are PreTrainedModels and transformers dispatches their own _init_weights.
        return


class PanoLLaVaForConditionalGeneration(PanoLLaVaVisionMixin, PanoLLaVaPreTrainedModel, GenerationMixin):
    """The panoramic VLM. ``forward(stage=...)`` trains each stage; ``generate`` is transformers' own."""

    def __init__(self, config: PanoLLaVaConfig) -> None:
        super().__init__(config)
        self.vision_tower = build_vision_tower(config)
        self.resampler = build_resampler_for(config, self.vision_tower)
        self.vicreg_projector = build_vicreg_projector(config)
        text_config = config.text_config
        if getattr(text_config, "_attn_implementation_internal", None) is None:
            text_config._attn_implementation = select_attn_implementation()
        self.language_model = AutoModelForCausalLM.from_config(text_config)
        # One config object for the LM and the composite: resizing the vocab must reach config.json.
        self.config.text_config = self.language_model.config
        self.projector = PanoLLaVaProjector(config.latent_dimension, self.language_model.config.hidden_size,
                                            config.use_positional_encoding, config.pe_num_frequencies,
                                            pe_init=config.pe_init, token_norm=config.pe_token_norm)
        self.config.vision_tokens_per_view = int(self.resampler.num_tokens)
        self.post_init()

    # ------------------------------------------------------------------ HF plumbing
    def get_input_embeddings(self) -> torch.nn.Module:
        return self.language_model.get_input_embeddings()

    def set_input_embeddings(self, value: torch.nn.Module) -> None:
        self.language_model.set_input_embeddings(value)

    def get_output_embeddings(self) -> torch.nn.Module:
        return self.language_model.get_output_embeddings()

    def num_vision_tokens(self, num_views: int) -> int:
        """N = V * S': vision features (placeholder copies) of one panorama of ``num_views`` views."""
        return num_views * int(self.config.vision_tokens_per_view)

    def vision_span(self, num_views: int) -> list[int]:
        """The ids one placeholder becomes (``fusion.vision_span``: view tags, if on, and N copies)."""
        return vision_span(self.vision_token_id, num_views, int(self.config.vision_tokens_per_view),
                           self.config.tag_ids())

    @property
    def vision_token_id(self) -> int:
        if self.config.vision_token_id is None:
            raise ValueError("config.vision_token_id is not set; build the model with from_components(..., "
                             "tokenizer=...) or set config.vision_token_id to the tokenizer's id of "
                             f"{self.config.vision_token!r}")
        return int(self.config.vision_token_id)

    # ------------------------------------------------------------------ forward
    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        stage: Stage = "finetune",
        view_plan: ViewPlan | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values: Any = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        loss_only: bool = False,
        **kwargs: Any,
    ) -> VisionStageOutput | TrainingStageOutput:
        """A stage that reads no text (``vision``): overlap loss (needs ``pixel_values``); the others: causal LM.

        Without ``pixel_values`` and without a placeholder in ``input_ids`` the model is the bare LM
        (the "blind" baseline of the evaluation). ``loss_only`` (training, with ``labels``) applies the
        LM head only at labelled positions (:mod:`.lm_loss`): the same loss, no ``logits``.
        """
        if not get_stage(stage).needs_text:
            if pixel_values is None:
                raise ValueError(f"stage {stage!r} needs pixel_values (B, V, 3, S, S)")
            return self.vision_stage(pixel_values, view_plan)
        if input_ids is None and inputs_embeds is None:
            raise ValueError(f"stage {stage!r} needs input_ids (or inputs_embeds)")
        if inputs_embeds is None:
            input_ids, attention_mask, labels, inputs_embeds = self._embed(
                pixel_values, input_ids, attention_mask, labels, view_plan, prefill=_is_prefill(past_key_values))
        if position_ids is None and attention_mask is not None and _is_prefill(past_key_values):
            # Left padding: count positions from each sample's first real token, as generate() does.
            position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        if loss_only and labels is not None and past_key_values is None and supports_labelled_loss(self.language_model):
            loss = labelled_token_loss(self.language_model, inputs_embeds, attention_mask, position_ids, labels, **kwargs)
            return TrainingStageOutput(loss=loss, ar_loss=loss)
        out = self.language_model(
            inputs_embeds=inputs_embeds, attention_mask=attention_mask, position_ids=position_ids,
            past_key_values=past_key_values, use_cache=use_cache, labels=labels,
            logits_to_keep=logits_to_keep, **kwargs,
        )
        return TrainingStageOutput(loss=out.loss, ar_loss=out.loss, logits=out.logits,
                                   past_key_values=out.past_key_values, hidden_states=out.hidden_states,
                                   attentions=out.attentions)

    def _embed(self, pixel_values: torch.Tensor | None, input_ids: torch.Tensor, attention_mask: torch.Tensor | None,
               labels: torch.Tensor | None, view_plan: ViewPlan | None, prefill: bool) -> tuple:
        """Expand compact placeholders, check one per feature, and write the vision tokens over them."""
        if input_ids.ndim != 2:
            raise ValueError(f"input_ids must be (B, T), got shape {tuple(input_ids.shape)}")
        if pixel_values is None:
            if prefill and self.config.vision_token_id is not None and bool((input_ids == self.vision_token_id).any()):
                raise ValueError(f"input_ids hold {self.config.vision_token} placeholders but no pixel_values were "
                                 "given; drop the placeholder for a text-only (blind) prompt")
            return input_ids, attention_mask, labels, self.get_input_embeddings()(input_ids)
        pixel_values = as_views(pixel_values)
        if pixel_values.shape[0] != input_ids.shape[0]:
            raise ValueError(f"pixel_values has {pixel_values.shape[0]} panoramas but input_ids has "
                             f"{input_ids.shape[0]} rows")
        plan = self.resolve_plan(view_plan, pixel_values.shape[1])
        vid, span = self.vision_token_id, self.vision_span(pixel_values.shape[1])
        input_ids, attention_mask, labels = expand_compact_prompts(input_ids, vid, span, attention_mask, labels)
        check_vision_placeholders(input_ids, vid, pixel_values.shape[1], int(self.config.vision_tokens_per_view),
                                  self.config.vision_token)
        tokens = self.encode_views(pixel_values)  # (B, V, S', Dl)
        vision = self.projector(tokens, plan, self.resampler.output_grid)  # (B, N, Dlm)
        embeds = self.get_input_embeddings()(input_ids)  # (B, T, Dlm)
        mask = (input_ids == vid).unsqueeze(-1)  # (B, T, 1)
        embeds = embeds.masked_scatter(mask, vision.to(embeds.dtype))
        if labels is not None:
            labels = labels.masked_fill(input_ids == vid, -100)
        return input_ids, attention_mask, labels, embeds

    def generate(self, input_ids: torch.LongTensor | None = None, pixel_values: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, **kwargs: Any) -> Any:
        """transformers' ``generate``; compact prompts (one placeholder per row) are expanded first.

        The returned sequences then start with the expanded prompt (the processor's prompts already are).
        A ``view_plan`` given with the inputs (the processor's) must look where the config's plan looks:
        the model was trained on that plan's directions.
        """
        if kwargs.get("view_plan") is not None:
            self.check_plan(kwargs["view_plan"])
        if pixel_values is not None and input_ids is not None and input_ids.ndim == 2:
            span = self.vision_span(as_views(pixel_values).shape[1])
            input_ids, attention_mask, _ = expand_compact_prompts(input_ids, self.vision_token_id, span, attention_mask)
        return super().generate(input_ids=input_ids, pixel_values=pixel_values, attention_mask=attention_mask,
                                **kwargs)

    # ------------------------------------------------------------------ construction from parts
    @classmethod
    def from_components(cls, vision: Any, language: Any, tokenizer: Any = None,
                        **settings: Any) -> PanoLLaVaForConditionalGeneration:
        """Build the composite from an HF id / local path (weights loaded) or a config dict (random init) per part.

        ``settings`` are ``PanoLLaVaConfig`` fields (resampler, losses, image plan ...). With a ``tokenizer`` the
        ``<|vision|>`` token is registered, the LM vocabulary resized if needed, and pad/eos ids set.
        """
        return build_from_components(cls, vision, language, tokenizer, **settings)


def remote_code_module() -> Any:
    """``panovlm.hub.remote_code``, imported by name so that the exported copy of this file does not bundle it."""
    return importlib.import_module("panovlm.hub.remote_code")


def _is_prefill(past_key_values: Any) -> bool:
    if past_key_values is None:
        return True
    get_len = getattr(past_key_values, "get_seq_length", None)
    return get_len is not None and int(get_len()) == 0


__all__ = ["PanoLLaVaPreTrainedModel", "PanoLLaVaForConditionalGeneration", "STAGES", "Stage"]
