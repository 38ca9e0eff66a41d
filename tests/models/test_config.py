"""PanoLLaVaConfig validation, view plan, round trip (the seed's flat ModelConfig: tests/compat)."""

import warnings

import pytest

from panovlm.models.configuration_panollava import PanoLLaVaConfig
from panovlm.models.tiny import tiny_config
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
