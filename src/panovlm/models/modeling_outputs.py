"""Typed outputs of the PanoLLaVA models (the seed API's names; transformers ``ModelOutput`` dataclasses).

``ModelOutput`` supports both ``out.loss`` and ``out["loss"]``, so the seed's dict-style access works.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers.utils import ModelOutput


@dataclass
class VisionStageOutput(ModelOutput):
    """Stage "vision": the overlap (VICReg) loss on the resampler tokens.

    ``loss = vicreg_loss = vicreg_weight * vicreg_raw``; ``vicreg_raw`` is detached; ``vicreg_dim`` is the
    width of the VICReg embedding; ``invariance`` / ``variance`` / ``covariance`` are the detached terms.
    """

    loss: torch.Tensor | None = None
    vicreg_loss: torch.Tensor | None = None
    vicreg_raw: torch.Tensor | None = None
    vicreg_weight: float | None = None
    vicreg_dim: int | None = None
    invariance: torch.Tensor | None = None
    variance: torch.Tensor | None = None
    covariance: torch.Tensor | None = None
    num_pairs: int | None = None


@dataclass
class TrainingStageOutput(ModelOutput):
    """Stages "resampler" / "finetune" (and generation steps): the causal-LM output.

    ``loss = ar_loss`` (token-mean cross-entropy over labels != -100) when labels are given.
    """

    loss: torch.Tensor | None = None
    ar_loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    past_key_values: object | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


@dataclass
class PanoLLaVaFeatureOutput(ModelOutput):
    """Feature extraction: pooled ``(B, D)`` embedding and the ``(B, V * S', D)`` resampler tokens."""

    pooled_output: torch.Tensor | None = None
    last_hidden_state: torch.Tensor | None = None


@dataclass
class GenerationOutput(ModelOutput):
    """``PanoramaVLM.generate``: new token ids ``(B, T_new)`` and their decoded text."""

    generated_ids: torch.Tensor | None = None
    text: list[str] | None = None
