"""The seed's flat ModelConfig: defaults, fields derived from PanoLLaVaConfig, validation, conversion."""

import dataclasses

import pytest

from panovlm.config.config_manager import ModelConfig
from panovlm.models.configuration_panollava import PanoLLaVaConfig
from panovlm.models.tiny import tiny_specs


def test_anyres_vicreg_flag_defaults_to_sequential_pairs_as_the_seed_says():
    assert ModelConfig().use_anyres_e2p_vicreg is False


def test_model_config_fields_derive_from_panollava_config():
    names = {f.name for f in dataclasses.fields(ModelConfig)}
    own = set(PanoLLaVaConfig.__annotations__) - {"vision_config", "text_config", "vision_token_id",
                                                  "vision_tokens_per_view", "tie_word_embeddings"}
    assert own <= names
    assert names - own == {"vision_name", "language_model_name", "tokenizer_name", "use_anyres_e2p_vicreg",
                           "anyres_vicreg_pairing_strategy"}
    flat = ModelConfig()
    assert flat.latent_dimension == PanoLLaVaConfig().latent_dimension
    assert flat.vision_name == "google/siglip-base-patch16-224"
    assert flat.language_model_name == "Qwen/Qwen2.5-0.5B-Instruct"


def test_model_config_validates_like_the_composite():
    with pytest.raises(ValueError, match=r"overlap_ratio must be in \(0, 1\), got 1.5. Typical range: \[0.3, 0.7\]"):
        ModelConfig(latent_dimension=768, overlap_ratio=1.5)
    with pytest.raises(ValueError, match="vicreg_projector_dim must be a positive integer"):
        ModelConfig(vicreg_projector_dim=-1)


def test_model_config_to_hf_config_with_tiny_specs():
    vision, text = tiny_specs(test=True)
    flat = ModelConfig(vision_name=vision, language_model_name=text, latent_dimension=32, vicreg_pair_chunk=4,
                       anyres_vicreg_pairing_strategy="all_pairs")
    hf = flat.to_hf_config(flat.load_tokenizer())
    assert isinstance(hf, PanoLLaVaConfig)
    assert (hf.latent_dimension, hf.vicreg_pair_chunk, hf.pairing_strategy) == (32, 4, "all_pairs")
    assert hf.vision_config.hidden_size == vision["hidden_size"] and hf.text_config.vocab_size % 64 == 0
    assert hf.vision_token_id is not None


def test_hub_ids_offline_give_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OSError, match="tiny preset"):
        ModelConfig().to_hf_config()
