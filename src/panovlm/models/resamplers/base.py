"""Resampler base class: vision tokens ``(N, S, Din)`` -> LM-bound latents ``(N, S', Dout)``.

``N`` = images (B*V), ``S = gh * gw`` input tokens on the backbone grid, ``S'`` output tokens.
Token-preserving resamplers (``mlp``, ``bimamba``) keep a spatial grid (``output_grid``); query
resamplers (``qformer``, ``perceiver``) emit learned queries with no position on the view and set
``output_grid = None``, which ray-matched losses and the positional encoding read.
"""

from __future__ import annotations

import inspect

import torch
from torch import nn


def check_positive(name: str, value: object, minimum: int = 1) -> None:
    """Raise a ValueError naming the option unless ``value`` is an int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def check_dropout(value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {value!r}")


def check_grid(grid_hw: object) -> tuple[int, int]:
    """``(gh, gw)`` of an input token grid of positive ints."""
    if len(tuple(grid_hw)) != 2:  # type: ignore[arg-type]
        raise ValueError(f"grid_hw must be an (h, w) pair, got {grid_hw!r}")
    check_positive("grid_hw[0]", grid_hw[0])  # type: ignore[index]
    check_positive("grid_hw[1]", grid_hw[1])  # type: ignore[index]
    return int(grid_hw[0]), int(grid_hw[1])  # type: ignore[index]


def check_heads(width: int, num_heads: int, what: str = "in_dim") -> None:
    check_positive("num_heads", num_heads)
    if width % num_heads:
        divisors = [h for h in range(1, min(width, 64) + 1) if width % h == 0]
        raise ValueError(f"num_heads must divide {what}={width}, got {num_heads}; valid: {divisors}")


class Resampler(nn.Module):
    """Common state of every resampler.

    Attributes:
        in_dim / out_dim: token widths in and out.
        grid_hw: the input token grid (gh, gw).
        output_grid: the output token grid, or None for query resamplers.
        num_tokens: tokens out per image, ``S'`` (``count_tokens`` says it without building one).
    """

    output_grid: tuple[int, int] | None

    def __init__(self, in_dim: int, out_dim: int, grid_hw: tuple[int, int]) -> None:
        super().__init__()
        check_positive("in_dim", in_dim)
        check_positive("out_dim", out_dim)
        self.in_dim, self.out_dim = in_dim, out_dim
        self.grid_hw: tuple[int, int] = check_grid(grid_hw)
        self.output_grid = self.grid_hw

    @classmethod
    def option_defaults(cls) -> dict[str, object]:
        """The keyword options of the constructor with their defaults."""
        params = inspect.signature(cls.__init__).parameters
        return {p.name: p.default for p in params.values() if p.kind is inspect.Parameter.KEYWORD_ONLY}

    @classmethod
    def count_tokens(cls, grid_hw: tuple[int, int], **options: object) -> int:
        """``S'``, the tokens out per image for input grid ``grid_hw`` and ``options``, without building.

        The same rules as the constructor (e.g. ``pool`` must divide the grid); widths do not matter.
        """
        valid = cls.option_defaults()
        unknown = sorted(set(options) - set(valid))
        if unknown:
            raise ValueError(f"unknown option(s) {unknown} for {cls.__name__}; valid: {sorted(valid)}")
        return cls._count_tokens(check_grid(grid_hw), {**valid, **options})

    @classmethod
    def _count_tokens(cls, grid_hw: tuple[int, int], options: dict[str, object]) -> int:
        raise NotImplementedError

    @property
    def num_tokens(self) -> int:
        raise NotImplementedError

    def check_input(self, x: torch.Tensor) -> None:
        """Reject anything but ``(N, gh*gw, in_dim)``: a wrong token count means a wrong grid."""
        expected = self.grid_hw[0] * self.grid_hw[1]
        if x.ndim != 3 or x.shape[1] != expected or x.shape[2] != self.in_dim:
            raise ValueError(f"{type(self).__name__} expects tokens (N, {expected}, {self.in_dim}) for grid "
                             f"{self.grid_hw}, got {tuple(x.shape)}")
