"""The tiny preset: the shipped pretrained vision tower, and the random one for the ablation."""

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from panovlm.models.tiny import tiny_model, vision_weights_path


def test_the_tiny_preset_starts_from_the_shipped_vision_weights():
    shipped = load_file(str(Path(vision_weights_path()) / "model.safetensors"))
    model = tiny_model()
    state = model.vision_tower.model.state_dict()
    assert state.keys() == shipped.keys()
    assert all(torch.equal(state[k], shipped[k]) for k in shipped)
    random_tower = tiny_model(vision_init="random").vision_tower.model.state_dict()
    assert not all(torch.equal(random_tower[k], shipped[k]) for k in shipped)
    card = (Path(vision_weights_path()) / "README.md").read_text()
    assert "Linear probe" in card and "pretrain_tiny_encoder.py" in card


def test_vision_init_choices_are_checked():
    with pytest.raises(ValueError, match="vision_init"):
        tiny_model(test=True, vision_init="pretrained")
    with pytest.raises(ValueError, match="vision_init"):
        tiny_model(vision_init="imagenet")
