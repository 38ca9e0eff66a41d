"""Perceiver resampler (Flamingo): learned latents attend to concat(tokens, latents).

Shapes: ``(N, S, Din) -> (N, L, Dout)`` with ``L = num_latents``; blocks work at width ``Din``,
attention heads of width ``Din / num_heads``. Letting the latents attend to themselves together
with the tokens (Flamingo, Alayrac et al. 2022) saves a separate self-attention layer. The latents
have no place on the view: ``output_grid`` is None.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from panovlm.models.resamplers.base import Resampler, check_heads, check_positive


class PerceiverAttention(nn.Module):
    """Latents query; keys/values come from the normed tokens and the normed latents together."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.norm_tokens = nn.LayerNorm(dim)
        self.norm_latents = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_kv = nn.Linear(dim, 2 * dim, bias=False)
        self.to_out = nn.Linear(dim, dim, bias=False)

    def _heads(self, t: torch.Tensor) -> torch.Tensor:
        n, s, d = t.shape
        return t.view(n, s, self.num_heads, d // self.num_heads).transpose(1, 2)  # (N, h, s, d/h)

    def forward(self, tokens: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        tokens, latents = self.norm_tokens(tokens), self.norm_latents(latents)
        q = self._heads(self.to_q(latents))  # (N, h, L, d/h)
        k, v = self.to_kv(torch.cat([tokens, latents], dim=1)).chunk(2, dim=-1)  # (N, S+L, D) each
        out = F.scaled_dot_product_attention(q, self._heads(k), self._heads(v))  # (N, h, L, d/h)
        return self.to_out(out.transpose(1, 2).flatten(2))  # (N, L, D)


class PerceiverResampler(Resampler):
    """``depth`` x [PerceiverAttention + feed-forward], both residual, then LayerNorm + Linear.

    Args:
        num_latents: output tokens per image.
        depth: attention + feed-forward blocks.
        num_heads: attention heads (must divide ``in_dim``).
        ff_mult: hidden width of the feed-forward as a multiple of ``in_dim``.
    """

    def __init__(self, in_dim: int, out_dim: int, grid_hw: tuple[int, int], *, num_latents: int = 64,
                 depth: int = 2, num_heads: int = 8, ff_mult: int = 4) -> None:
        super().__init__(in_dim, out_dim, grid_hw)
        check_positive("num_latents", num_latents)
        check_positive("depth", depth)
        check_positive("ff_mult", ff_mult)
        check_heads(in_dim, num_heads)
        self.output_grid = None
        self.num_latents = num_latents
        # Unit scale, as the tokens the blocks add to them: at 0.02 every latent's residual was drowned by the
        # first attention output, the latents left the resampler almost equal, and the tiny preset's four
        # tokens per view carried one word four times (docs/training.md, section 11).
        self.latents = nn.Parameter(torch.randn(num_latents, in_dim))  # (L, Din)
        self.attn = nn.ModuleList(PerceiverAttention(in_dim, num_heads) for _ in range(depth))
        self.ff = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(in_dim), nn.Linear(in_dim, ff_mult * in_dim, bias=False), nn.GELU(),
                          nn.Linear(ff_mult * in_dim, in_dim, bias=False))
            for _ in range(depth)
        )
        self.norm = nn.LayerNorm(in_dim)
        self.proj = nn.Linear(in_dim, out_dim)

    @property
    def num_tokens(self) -> int:
        return self.num_latents

    @classmethod
    def _count_tokens(cls, grid_hw: tuple[int, int], options: dict[str, object]) -> int:
        check_positive("num_latents", options["num_latents"])
        return int(options["num_latents"])  # type: ignore[call-overload]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        latents = self.latents.unsqueeze(0).expand(x.shape[0], -1, -1)  # (N, L, Din)
        for attn, ff in zip(self.attn, self.ff, strict=True):
            latents = latents + attn(x, latents)
            latents = latents + ff(latents)
        return self.proj(self.norm(latents))  # (N, L, Dout)
