"""The tiny preset: the shipped pretrained vision tower and LM, and the random ones for the ablation."""

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from panovlm.models.tiny import language_weights_path, tiny_model, vision_weights_path


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


def test_the_tiny_preset_starts_from_the_shipped_language_weights():
    shipped = load_file(str(Path(language_weights_path()) / "model.safetensors"))
    lm = tiny_model().language_model
    state = lm.state_dict()
    assert set(state) - set(shipped) == {"lm_head.weight"}  # tied to the input embeddings
    assert all(torch.equal(state[k], shipped[k]) for k in shipped)
    assert lm.lm_head.weight.data_ptr() == lm.get_input_embeddings().weight.data_ptr()
    random_lm = tiny_model(language_init="random").language_model.state_dict()
    assert not all(torch.equal(random_lm[k], shipped[k]) for k in shipped)
    card = (Path(language_weights_path()) / "README.md").read_text()
    assert "pretrain_tiny_lm.py" in card and "held-out" in card


@pytest.mark.parametrize("key", ["vision_init", "language_init"])
def test_init_choices_are_checked(key):
    with pytest.raises(ValueError, match=key):
        tiny_model(test=True, **{key: "pretrained"})
    with pytest.raises(ValueError, match=key):
        tiny_model(**{key: "imagenet"})
