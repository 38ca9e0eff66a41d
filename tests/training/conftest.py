"""Fixtures of the training tests: a few PanoShapes panoramas and the test-size processor."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def panoshapes_dir(tmp_path_factory):
    """8 train / 4 val / 2 test synthetic panoramas at 128 x 64 (a second to make)."""
    from panovlm.data.synth import generate_panoshapes

    out = tmp_path_factory.mktemp("panoshapes")
    generate_panoshapes(out, train=8, val=4, test=2, seed=0, size=(128, 64))
    return out


@pytest.fixture(scope="session")
def test_processor():
    from panovlm.models.tiny import tiny_processor

    return tiny_processor(test=True)
