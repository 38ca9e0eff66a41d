"""Resampler registry: ``build_resampler(name, in_dim, out_dim, grid_hw, **options)``.

Every resampler maps ``(N, S, Din) -> (N, S', Dout)`` and says whether its output keeps a spatial
grid (``output_grid``) or is a set of learned queries (``None``). ``count_tokens(name, grid_hw,
**options)`` gives ``S'`` by arithmetic, without building the resampler.
"""

from __future__ import annotations

from panovlm.models.resamplers.base import Resampler
from panovlm.models.resamplers.bimamba import BiMambaResampler
from panovlm.models.resamplers.mlp import MLPResampler
from panovlm.models.resamplers.perceiver import PerceiverResampler
from panovlm.models.resamplers.qformer import QFormerResampler

RESAMPLERS: dict[str, type[Resampler]] = {
    "mlp": MLPResampler,
    "qformer": QFormerResampler,
    "perceiver": PerceiverResampler,
    "bimamba": BiMambaResampler,
}
DEFAULT_RESAMPLER = "mlp"
# Names the origin's configs used for the same resamplers (the one list; the model config reads it).
ALIASES: dict[str, str] = {"bidirectional_mamba": "bimamba", "bi_mamba": "bimamba"}


def resampler_options(name: str) -> dict[str, object]:
    """The options of resampler ``name`` with their defaults."""
    return _resolve(name).option_defaults()


def _resolve(name: str) -> type[Resampler]:
    key = ALIASES.get(name, name)
    if key not in RESAMPLERS:
        raise ValueError(f"unknown resampler_type {name!r}; valid: {sorted(RESAMPLERS)}")
    return RESAMPLERS[key]


def _checked(name: str, options: dict[str, object]) -> type[Resampler]:
    cls = _resolve(name)
    valid = cls.option_defaults()
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for resampler {name!r}; valid: {sorted(valid)}")
    return cls


def build_resampler(name: str, in_dim: int, out_dim: int, grid_hw: tuple[int, int], **options: object) -> Resampler:
    """Build resampler ``name`` (one of ``RESAMPLERS``) for ``grid_hw`` tokens of width ``in_dim``."""
    return _checked(name, options)(in_dim, out_dim, tuple(grid_hw), **options)


def count_tokens(name: str, grid_hw: tuple[int, int], **options: object) -> int:
    """``S'`` of resampler ``name`` on input grid ``grid_hw`` with ``options`` (arithmetic, nothing is built)."""
    return _checked(name, options).count_tokens(tuple(grid_hw), **options)


__all__ = ["ALIASES", "DEFAULT_RESAMPLER", "RESAMPLERS", "Resampler", "build_resampler", "count_tokens",
           "resampler_options"]
