"""Caption loss with the LM head applied only where a label is (the vision and prompt positions skip it).

A panorama puts hundreds of vision tokens in front of a short answer, and transformers' causal-LM
heads project every position onto the vocabulary before the loss drops all but the labelled ones:
for Qwen2.5 (152k words) that is most of a training step's memory. The loss here is the same
token-mean cross-entropy over shifted labels != -100 (tested against the LM's own loss).

Shapes: B samples, T positions, D the LM width, K labelled positions in the batch.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from .fusion import IGNORE_INDEX

# Config fields of LMs whose head does more than one Linear (soft-capping, scaling); they keep the full path.
_HEAD_EXTRAS = ("final_logit_softcapping", "logit_scale", "logits_scaling", "output_multiplier_scale")


def supports_labelled_loss(language_model: Any) -> bool:
    """True when the LM's logits are exactly ``get_output_embeddings()(decoder hidden states)``."""
    config = language_model.config
    if any(getattr(config, name, None) not in (None, 1, 1.0) for name in _HEAD_EXTRAS):
        return False
    return language_model.get_output_embeddings() is not None and hasattr(language_model, "get_decoder")


def labelled_token_loss(language_model: Any, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor | None,
                        position_ids: torch.Tensor | None, labels: torch.Tensor, **kwargs: Any) -> torch.Tensor:
    """Token-mean cross-entropy of next-token prediction at the positions whose shifted label is set."""
    hidden = language_model.get_decoder()(
        inputs_embeds=inputs_embeds, attention_mask=attention_mask, position_ids=position_ids, use_cache=False,
        **kwargs).last_hidden_state  # (B, T, D)
    targets = labels[:, 1:]  # (B, T-1): position t predicts token t+1
    keep = targets != IGNORE_INDEX  # (B, T-1)
    if not bool(keep.any()):
        raise ValueError("labels hold no supervised token (all -100): nothing to train on")
    logits = language_model.get_output_embeddings()(hidden[:, :-1][keep])  # (K, vocab)
    return F.cross_entropy(logits.float(), targets[keep])
