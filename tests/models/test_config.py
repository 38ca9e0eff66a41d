"""PanoLLaVaConfig validation, view plan, round trip; the seed's flat ModelConfig maps onto it."""

import dataclasses
import warnings

import pytest

from panovlm.config.config_manager import ModelConfig
from panovlm.models.configuration_panollava import PanoLLaVaConfig
from panovlm.models.tiny import tiny_config, tiny_specs
from panovlm.plans import build_view_plan


def test_overlap_ratio_message_matches_seed_002():
    with pytest.raises(ValueError) as err:
        PanoLLaVaConfig(overlap_ratio=1.5)
    assert str(err.value) == "overlap_ratio must be in (0, 1), got 1.5. Typical range: [0.3, 0.7]"
    for bad in (0.0, 1.0):
        with pytest.raises(ValueError, match="overlap_ratio must be in"):
            PanoLLaVaConfig(overlap_ratio=bad)


@pytest.mark.parametrize("value", [0, -3])
def test_vicreg_projector_dim_must_be_positive(value):
    with pytest.raises(ValueError, match=f"vicreg_projector_dim must be a positive integer, got {value}"):
        PanoLLaVaConfig(vicreg_projector_dim=value)


@pytest.mark.parametrize("field, valid", [("resampler_type", "qformer"), ("crop_strategy", "anyres_e2p"),
                                          ("overlap_mode", "strip"), ("pairing_strategy", "all_pairs")])
def test_unknown_names_list_the_valid_ones(field, valid):
    with pytest.raises(ValueError, match=rf"{field} must be one of \[.*'{valid}'.*\], got 'nope'"):
        PanoLLaVaConfig(**{field: "nope"})


def test_warnings_for_zero_weight_and_single_view():
    with pytest.warns(UserWarning, match="vision stage training will have no effect"):
        PanoLLaVaConfig(vicreg_loss_weight=0.0)
    with pytest.warns(UserWarning, match="VICReg requires at least 2 views"):
        PanoLLaVaConfig(crop_strategy="resize")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        PanoLLaVaConfig()


def test_view_plan_comes_from_build_view_plan():
    config = PanoLLaVaConfig(fov_deg=60.0, overlap_ratio=0.25, image_size=32)
    expected = build_view_plan("anyres_e2p", (32, 32), 60.0, 0.25, True, (-45.0, 45.0), "squash")
    assert config.view_plan() == expected
    assert len(PanoLLaVaConfig().view_plan()) == 9


def test_resampler_options_and_alias():
    config = PanoLLaVaConfig(resampler_pool=2, resampler_hidden_dim=64, resampler_config={"depth": 3})
    assert config.resampler_options() == {"pool": 2, "hidden_dim": 64, "depth": 3}
    assert PanoLLaVaConfig(resampler_type="bi_mamba").resampler_type == "bimamba"


def test_save_load_round_trip(tmp_path):
    config = tiny_config(test=True, resampler_type="qformer", resampler_num_queries=4)
    config.save_pretrained(tmp_path)
    loaded = PanoLLaVaConfig.from_pretrained(tmp_path)
    assert loaded.to_dict() == config.to_dict()
    assert loaded.vision_config.model_type == "siglip_vision_model" and loaded.text_config.model_type == "qwen2"


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
