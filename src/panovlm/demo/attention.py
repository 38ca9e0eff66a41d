"""Where the model looked: the attention that an answer's tokens gave to each view's vision tokens.

After an answer is generated, one more forward pass over the prompt and the answer returns the
language model's attention weights (the eager kernel is switched on for that pass only: sdpa and
flash attention do not return weights). The rows used are the positions whose outputs *produced*
the answer's tokens (the last prompt position and every answer position but the last), averaged
over layers and heads; their weights on the vision positions are summed per view and normalised
over views, so the shares sum to 1. ``vision_share`` is how much of those rows' attention went to
vision tokens at all (the rest went to the text).

The vision positions are the placeholder positions of the expanded prompt, view-major: view ``v``
owns positions ``v * S' ... (v + 1) * S' - 1`` of them, the order in which the projector writes them.

Shapes: attention per layer ``(B, heads, T, T)``; per-token weights ``(V, S')``; shares ``(V,)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from panovlm.evaluation.dino_render import paint_erp
from panovlm.geometry import ViewPlan


@dataclass(frozen=True)
class ViewAttention:
    """Attention of one answer: per view (sums to 1), per vision token, and the share given to vision at all."""

    shares: np.ndarray  # (V,)
    tokens: np.ndarray  # (V, S'), normalised like shares (sums to 1 over all vision tokens)
    vision_share: float


@contextmanager
def eager_attention(language_model: Any) -> Iterator[None]:
    """The LM with the eager attention kernel (the one that returns weights) for the duration of the block."""
    previous = language_model.config._attn_implementation
    if previous == "eager":
        yield
        return
    language_model.set_attn_implementation("eager")
    try:
        yield
    finally:
        language_model.set_attn_implementation(previous)


@torch.inference_mode()
def view_attention(model: Any, sequences: torch.Tensor, pixel_values: torch.Tensor, prompt_length: int,
                   num_views: int) -> ViewAttention:
    """Attention shares of the answer ``sequences[0, prompt_length:]`` over the ``num_views`` views.

    ``sequences``: ``(1, T)`` expanded prompt + generated ids (``generate`` output); ``pixel_values``
    ``(1, V, 3, S, S)``. Raises ``ValueError`` when there is no answer token or no vision token.
    """
    if sequences.ndim != 2 or sequences.shape[0] != 1:
        raise ValueError(f"sequences must be (1, T), got shape {tuple(sequences.shape)}")
    total = sequences.shape[1]
    if total <= prompt_length:
        raise ValueError("the answer is empty: no generated token to attribute")
    vision = (sequences[0] == model.vision_token_id).nonzero().flatten()  # (N,)
    if vision.numel() == 0 or vision.numel() % num_views:
        raise ValueError(f"found {vision.numel()} vision positions for {num_views} views")
    with eager_attention(model.language_model):
        out = model(pixel_values=pixel_values, input_ids=sequences, attention_mask=torch.ones_like(sequences),
                    stage="finetune", output_attentions=True)
    rows = torch.arange(prompt_length - 1, total - 1, device=sequences.device)  # the positions that produced the answer
    per_layer = [a[0].float().mean(0)[rows] for a in out.attentions]  # each (Q, T), mean over heads
    weights = torch.stack(per_layer).mean(0).mean(0)  # (T,): mean over layers, then over answer rows
    on_vision = weights[vision].reshape(num_views, -1)  # (V, S')
    mass = float(on_vision.sum())
    tokens = (on_vision / max(mass, 1e-12)).cpu().numpy()
    return ViewAttention(shares=tokens.sum(1), tokens=tokens, vision_share=mass / float(weights.sum()))


def attention_overlay(erp: np.ndarray, plan: ViewPlan, attention: ViewAttention, grid_hw: tuple[int, int] | None,
                      strength: float = 0.6) -> np.ndarray:
    """The panorama ``(H, W, 3)`` uint8 with the attention drawn over it as a heat map (same size).

    With a token grid (``grid_hw`` = the resampler's output grid) each token's weight is painted on the
    part of the sphere it sees; without one (query resamplers) each view's share fills its footprint.
    Where tiles overlap the mean is shown; the global view, which sees everything, is left out (its
    share is in the view labels), as in the PCA painting.
    """
    v = len(plan)
    if grid_hw is not None and attention.tokens.shape[1] == grid_hw[0] * grid_hw[1]:
        cells = attention.tokens.reshape(v, grid_hw[0], grid_hw[1], 1)  # (V, h, w, 1)
    else:
        cells = attention.shares.reshape(v, 1, 1, 1)  # (V, 1, 1, 1)
    h, w = erp.shape[:2]
    heat = paint_erp(np.repeat(cells, 3, axis=-1), plan, (h, w))[..., 0]  # (H, W)
    heat = heat / max(float(heat.max()), 1e-12)
    # Black -> red -> yellow ramp, blended by the heat itself so cold regions keep the photo.
    ramp = np.stack([np.clip(2.0 * heat, 0, 1), np.clip(2.0 * heat - 1.0, 0, 1), np.zeros_like(heat)], axis=-1)
    alpha = (strength * heat)[..., None]
    blended = erp.astype(np.float32) / 255.0 * (1.0 - alpha) + ramp * alpha
    return np.clip(blended * 255.0 + 0.5, 0, 255).astype(np.uint8)
