"""The seed's PanoramaVLM.generate: its signature, the temperature clamp, GenerationOutput, input checks."""

import pytest
import torch

from panovlm.config.config_manager import ModelConfig
from panovlm.models.model import GenerationOutput, PanoramaVLM
from panovlm.models.tiny import tiny_specs


@pytest.fixture(scope="module")
def seed_model():
    vision, text = tiny_specs(test=True)
    return PanoramaVLM(config=ModelConfig(vision_name=vision, language_model_name=text, latent_dimension=32)).eval()


def test_panorama_vlm_generate_returns_ids_and_text(seed_model):
    out = seed_model.generate(torch.randn(2, 9, 3, 64, 64), max_new_tokens=5, do_sample=False, min_new_tokens=5)
    assert isinstance(out, GenerationOutput)
    assert out.generated_ids.shape == (2, 5) and len(out.text) == 2 and all(isinstance(t, str) for t in out.text)
    with pytest.warns(UserWarning, match=r"temperature 0.0 is outside \[0.1, 1.0\]; clamped to 0.1"):
        again = seed_model.generate(torch.randn(1, 3, 64, 64).unsqueeze(1).expand(1, 9, 3, 64, 64).clone(),
                                    max_new_tokens=3, temperature=0.0)
    assert again.generated_ids.shape[0] == 1


def test_panorama_vlm_generate_validation(seed_model):
    with pytest.raises(TypeError, match="pixel_values must be a torch.Tensor"):
        seed_model.generate([[0.0]])
    with pytest.raises(ValueError, match="4 .* or 5 .* dimensions, got 3"):
        seed_model.generate(torch.randn(9, 3, 64))
    with pytest.raises(ValueError, match="max_new_tokens must be positive, got 0"):
        seed_model.generate(torch.randn(1, 9, 3, 64, 64), max_new_tokens=0)
