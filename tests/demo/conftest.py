"""Fixtures of the demo tests: a saved tiny test model and the optional-extra gate."""

import importlib
import os

import pytest
import torch

from panovlm.models.tiny import tiny_model, tiny_processor


def require(module: str):
    """Import an optional dependency; skip without it, unless PANOVLM_REQUIRE_DEMO=1 (CI) makes it a failure."""
    if os.environ.get("PANOVLM_REQUIRE_DEMO") == "1":
        return importlib.import_module(module)
    return pytest.importorskip(module)


@pytest.fixture(scope="session")
def demo_model_dir(tmp_path_factory):
    """A saved tiny test model whose weights are scaled up so that greedy answers are non-empty text."""
    root = tmp_path_factory.mktemp("demo_model")
    model = tiny_model(test=True, seed=0)
    with torch.no_grad():  # default init answers "\n" to everything; larger weights give varied text
        for param in model.parameters():
            param.normal_(0.0, 0.5)
    model.save_pretrained(root)
    tiny_processor(test=True, config=model.config).save_pretrained(root)
    return root
