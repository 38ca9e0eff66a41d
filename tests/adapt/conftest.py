"""Fixtures of the adapter tests: tiny adapters of every family (random init, no download)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from panovlm.adapt import AdaptSettings, PanoAdapter
from panovlm.adapt.tiny import TINY_BASES

BASES = tuple(sorted(TINY_BASES))


def _fresh(base: str, view_size: int = 56, **settings: object) -> PanoAdapter:
    return PanoAdapter.from_settings(AdaptSettings(base=base, view_size=view_size, **settings))


@pytest.fixture(params=BASES)
def base(request: pytest.FixtureRequest) -> str:
    """Each tiny preset in turn."""
    return request.param


@pytest.fixture()
def make_adapter() -> Callable[..., PanoAdapter]:
    """``make_adapter(base, view_size=56, **settings)``: a new adapter (tests that train or patch one must not share it)."""
    return _fresh
