"""MLP resampler: optional pooling of the token grid (average or max), then a token-wise MLP.

Shapes: ``(N, gh*gw, Din) -> (N, (gh/pool)*(gw/pool), Dout)``. Pooling needs a grid divisible by
``pool``: partial cells at the border would not match the uniform token cells that the ray
geometry (``geometry.token_centers``) assumes, so they are refused rather than approximated.

Max pooling keeps a small object's features at full strength in its cell, where averaging divides
them by the cell's area; a random-init encoder (the tiny preset) learns colours and shapes through
the LM only when the object is not averaged away (docs/training.md, "What the tiny model learns").
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from panovlm.models.resamplers.base import Resampler, check_dropout, check_positive

POOL_MODES = {"avg": F.avg_pool2d, "max": F.max_pool2d}


def pooled_grid(grid_hw: tuple[int, int], pool: object) -> tuple[int, int]:
    """The token grid after ``pool`` x ``pool`` pooling; ``pool`` must divide both sides."""
    check_positive("pool", pool)
    gh, gw = grid_hw
    if gh % pool or gw % pool:  # type: ignore[operator]
        valid = [p for p in range(1, min(gh, gw) + 1) if gh % p == 0 and gw % p == 0]
        raise ValueError(f"pool must divide the token grid {tuple(grid_hw)}, got {pool}; valid: {valid}")
    return gh // pool, gw // pool  # type: ignore[operator]


class MLPResampler(Resampler):
    """``pool`` x ``pool`` average or max pooling, then (depth-1) x [Linear, LayerNorm, GELU, Dropout] + Linear.

    Args:
        hidden_dim: width of the hidden layers; None -> max(in_dim, out_dim).
        depth: number of Linear layers (1 = a single projection).
        use_ln: LayerNorm after every hidden Linear.
        dropout: dropout after every hidden activation.
        pool: pooling factor on both grid axes (1 = keep every token).
        pool_mode: ``"avg"`` or ``"max"`` over each ``pool`` x ``pool`` cell.
    """

    def __init__(self, in_dim: int, out_dim: int, grid_hw: tuple[int, int], *, hidden_dim: int | None = None,
                 depth: int = 2, use_ln: bool = True, dropout: float = 0.0, pool: int = 1, pool_mode: str = "avg") -> None:
        super().__init__(in_dim, out_dim, grid_hw)
        hidden_dim = max(in_dim, out_dim) if hidden_dim is None else hidden_dim
        check_positive("hidden_dim", hidden_dim)
        check_positive("depth", depth)
        output_grid = pooled_grid(self.grid_hw, pool)
        check_dropout(dropout)
        if pool_mode not in POOL_MODES:
            raise ValueError(f"pool_mode must be one of {list(POOL_MODES)}, got {pool_mode!r}")
        self.pool, self.pool_mode = pool, pool_mode
        self.output_grid = output_grid
        layers: list[nn.Module] = []
        width = in_dim
        for _ in range(depth - 1):
            layers += [nn.Linear(width, hidden_dim), nn.LayerNorm(hidden_dim) if use_ln else nn.Identity(),
                       nn.GELU(), nn.Dropout(dropout)]
            width = hidden_dim
        layers.append(nn.Linear(width, out_dim))
        self.mlp = nn.Sequential(*layers)

    @property
    def num_tokens(self) -> int:
        return self.output_grid[0] * self.output_grid[1]

    @classmethod
    def _count_tokens(cls, grid_hw: tuple[int, int], options: dict[str, object]) -> int:
        gh, gw = pooled_grid(grid_hw, options["pool"])
        return gh * gw

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        if self.pool > 1:
            n, _, d = x.shape
            gh, gw = self.grid_hw
            grid = x.transpose(1, 2).reshape(n, d, gh, gw)  # (N, Din, gh, gw)
            grid = POOL_MODES[self.pool_mode](grid, self.pool)  # (N, Din, gh/pool, gw/pool)
            x = grid.flatten(2).transpose(1, 2)  # (N, S', Din), row-major
        return self.mlp(x)  # (N, S', Dout)
