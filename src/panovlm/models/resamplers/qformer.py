"""Q-Former-style resampler: learned queries self-attend and cross-attend to the vision tokens.

Shapes: ``(N, S, Din) -> (N, Q, Dout)``; the blocks work at width ``Din`` (as the origin's
BERT-based Q-Former did) and a final Linear maps to ``Dout``. Built on torch's pre-norm
``nn.TransformerDecoderLayer`` (self-attention, cross-attention, feed-forward), which needs no
downloaded BERT config. The queries have no place on the view: ``output_grid`` is None.
"""

from __future__ import annotations

import torch
from torch import nn

from panovlm.models.resamplers.base import Resampler, check_heads, check_positive


class QFormerResampler(Resampler):
    """``num_layers`` decoder blocks on ``num_queries`` learned queries, then LayerNorm + Linear.

    Args:
        num_queries: output tokens per image.
        num_layers: decoder blocks.
        num_heads: attention heads (must divide ``in_dim``).
    """

    def __init__(self, in_dim: int, out_dim: int, grid_hw: tuple[int, int], *, num_queries: int = 64,
                 num_layers: int = 2, num_heads: int = 8) -> None:
        super().__init__(in_dim, out_dim, grid_hw)
        check_positive("num_queries", num_queries)
        check_positive("num_layers", num_layers)
        check_heads(in_dim, num_heads)
        self.output_grid = None
        self.num_queries = num_queries
        # Unit scale: the pre-norm blocks add to the queries' residual, which at 0.02 left every query's output
        # almost the same (BLIP-2 gets the same effect from a LayerNorm on its query embeddings).
        self.queries = nn.Parameter(torch.randn(1, num_queries, in_dim))  # (1, Q, Din)
        block = nn.TransformerDecoderLayer(in_dim, num_heads, dim_feedforward=4 * in_dim, dropout=0.0,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.blocks = nn.TransformerDecoder(block, num_layers)
        self.norm_tokens = nn.LayerNorm(in_dim)
        self.norm_out = nn.LayerNorm(in_dim)
        self.proj = nn.Linear(in_dim, out_dim)

    @property
    def num_tokens(self) -> int:
        return self.num_queries

    @classmethod
    def _count_tokens(cls, grid_hw: tuple[int, int], options: dict[str, object]) -> int:
        check_positive("num_queries", options["num_queries"])
        return int(options["num_queries"])  # type: ignore[call-overload]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        queries = self.queries.expand(x.shape[0], -1, -1)  # (N, Q, Din)
        out = self.blocks(queries, self.norm_tokens(x))  # (N, Q, Din)
        return self.proj(self.norm_out(out))  # (N, Q, Dout)
