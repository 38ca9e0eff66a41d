"""Seed 003's config JSON: every key is honoured or refused with the key and its replacement named."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from transformers import Qwen2Config, SiglipVisionConfig

from panovlm.models import PanoLLaVaConfig

SEED_JSON = {
    "model_type": "panollava",
    "is_composition": True,
    "vision_config": {"model_name": "google/siglip-base-patch16-224", "image_size": 224, "patch_size": 16},
    "text_config": {"model_name": "Qwen/Qwen2.5-0.5B-Instruct", "hidden_size": 896},
    "resampler_type": "mlp",
    "latent_dimension": 768,
    "num_latent_tokens": 64,
    "vicreg_similarity_weight": 25.0,
    "vicreg_variance_weight": 25.0,
    "vicreg_covariance_weight": 1.0,
    "overlap_ratio": 0.3,
    "crop_strategy": "anyres_e2p",
    "num_views": 4,
    "fov_deg": 90.0,
    "use_lora": False,
    "lora_r": 16,
    "lora_alpha": 32,
}


@pytest.fixture()
def local_names(tmp_path: Path) -> dict:
    """Local folders standing in for the seed's hub ids (nothing can be downloaded here)."""
    vision, text = tmp_path / "siglip", tmp_path / "qwen"
    SiglipVisionConfig(image_size=224, patch_size=16, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                       num_attention_heads=2).save_pretrained(vision)
    Qwen2Config(hidden_size=896, intermediate_size=64, num_hidden_layers=1, num_attention_heads=14,
                num_key_value_heads=2, vocab_size=128).save_pretrained(text)
    return {"vision": str(vision), "text": str(text)}


def _seed(local_names: dict, **changes) -> dict:
    data = copy.deepcopy(SEED_JSON)
    data["vision_config"]["model_name"] = local_names["vision"]
    data["text_config"]["model_name"] = local_names["text"]
    data.update(changes)
    return data


def test_hub_names_offline_give_the_clear_error() -> None:
    with pytest.raises(OSError, match=r"(?s)cannot load 'google/siglip-base-patch16-224'.*HF_HUB_OFFLINE=1.*local directory"):
        PanoLLaVaConfig.from_dict(copy.deepcopy(SEED_JSON))


def test_num_latent_tokens_with_mlp_names_the_replacement(local_names: dict) -> None:
    with pytest.raises(ValueError, match=r"num_latent_tokens=64 cannot be honoured with resampler_type='mlp'.*"
                                         r"resampler_pool.*resampler_num_queries"):
        PanoLLaVaConfig.from_dict(_seed(local_names))


def test_num_views_must_match_the_plan(local_names: dict) -> None:
    with pytest.raises(ValueError, match=r"num_views=4 but crop_strategy='anyres_e2p'.*gives 7 views.*not num_views"):
        PanoLLaVaConfig.from_dict(_seed(local_names, resampler_type="qformer"))


def test_the_seed_json_is_honoured_where_it_is_consistent(local_names: dict) -> None:
    config = PanoLLaVaConfig.from_dict(_seed(local_names, resampler_type="qformer", num_views=7, use_lora=True,
                                             lora_r=8, lora_alpha=16))
    assert config.vision_config.model_type == "siglip_vision_model" and config.vision_config.hidden_size == 32
    assert config.text_config.model_type == "qwen2" and config.text_config.hidden_size == 896
    assert config.resampler_num_queries == 64  # num_latent_tokens: the queries per view of qformer / perceiver
    assert config.vicreg_weights == (25.0, 25.0, 1.0) and config.overlap_ratio == 0.3
    assert (config.use_lora, config.lora_r, config.lora_alpha) == (True, 8, 16)
    assert config.latent_dimension == 768 and len(config.view_plan()) == 7
    saved = config.to_dict()
    for key in ("num_views", "num_latent_tokens", "is_composition"):
        assert key not in saved  # applied or checked, never kept as a silent attribute
    assert "model_name" not in saved["vision_config"]


def test_named_model_keys_must_agree_with_its_config(local_names: dict) -> None:
    data = _seed(local_names, resampler_type="qformer", num_views=7)
    data["text_config"]["hidden_size"] = 1024
    with pytest.raises(ValueError, match=r"text_config.hidden_size=1024 disagrees with .*qwen.'s hidden_size=896"):
        PanoLLaVaConfig.from_dict(data)


def test_is_composition_false_is_refused() -> None:
    with pytest.raises(ValueError, match="is_composition must be true"):
        PanoLLaVaConfig(is_composition=False)
