"""Resampler registry: ``build_resampler(name, in_dim, out_dim, grid_hw, **options)``.

Every resampler maps ``(N, S, Din) -> (N, S', Dout)`` and says whether its output keeps a spatial
grid (``output_grid``) or is a set of learned queries (``None``).
"""

from __future__ import annotations

import inspect

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
# Names the origin's configs used for the same resamplers.
ALIASES: dict[str, str] = {"bidirectional_mamba": "bimamba", "bi_mamba": "bimamba"}


def resampler_options(name: str) -> dict[str, object]:
    """The options of resampler ``name`` with their defaults."""
    params = inspect.signature(_resolve(name).__init__).parameters
    return {p.name: p.default for p in params.values() if p.kind is inspect.Parameter.KEYWORD_ONLY}


def _resolve(name: str) -> type[Resampler]:
    key = ALIASES.get(name, name)
    if key not in RESAMPLERS:
        raise ValueError(f"unknown resampler_type {name!r}; valid: {sorted(RESAMPLERS)}")
    return RESAMPLERS[key]


def build_resampler(name: str, in_dim: int, out_dim: int, grid_hw: tuple[int, int], **options: object) -> Resampler:
    """Build resampler ``name`` (one of ``RESAMPLERS``) for ``grid_hw`` tokens of width ``in_dim``."""
    cls = _resolve(name)
    valid = resampler_options(name)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for resampler {name!r}; valid: {sorted(valid)}")
    return cls(in_dim, out_dim, tuple(grid_hw), **options)


__all__ = ["ALIASES", "DEFAULT_RESAMPLER", "RESAMPLERS", "Resampler", "build_resampler", "resampler_options"]
