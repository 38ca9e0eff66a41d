"""VisionBackbone: prefix tokens from the model type, the patch grid, dual encoders, partial unfreezing."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoConfig, SiglipModel, SiglipVisionModel

from panovlm.models.vision import VisionBackbone, patch_grid, set_trainable_last_blocks

TINY = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
        "image_size": 32, "patch_size": 8}
TEXT = {"vocab_size": 64, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2}


def tiny(model_type: str, **overrides: object):
    torch.manual_seed(0)
    return VisionBackbone.build_vision_model({"model_type": model_type, **TINY, **overrides}).eval()


@pytest.mark.parametrize(
    ("model_type", "overrides", "prefix"),
    [
        ("siglip_vision_model", {}, 0),
        ("clip_vision_model", {}, 1),
        ("dinov2", {}, 1),
        ("dinov2_with_registers", {"num_register_tokens": 3}, 4),
        ("vit", {}, 1),
    ],
)
def test_prefix_tokens_and_grid(model_type: str, overrides: dict, prefix: int) -> None:
    model = tiny(model_type, **overrides)
    backbone = VisionBackbone(model)
    assert backbone.num_prefix_tokens == prefix
    assert backbone.grid_hw == (4, 4)
    assert backbone.hidden_size == 32
    pixels = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        tokens = backbone(pixels)
        full = model(pixel_values=pixels).last_hidden_state
    assert tokens.shape == (3, 16, 32)
    assert full.shape[1] == prefix + 16
    torch.testing.assert_close(tokens, full[:, prefix:])


def test_dual_encoder_is_reduced_to_its_vision_tower() -> None:
    config = AutoConfig.for_model("siglip", vision_config=TINY, text_config=TEXT)
    dual = SiglipModel(config)
    backbone = VisionBackbone(dual)
    assert isinstance(backbone.model, SiglipVisionModel)
    assert backbone.model is dual.vision_model
    assert not any(name.startswith("text_model") for name, _ in backbone.named_parameters())


def test_build_from_local_dual_checkpoint_keeps_vision_class_and_weights(tmp_path) -> None:
    torch.manual_seed(0)
    dual = SiglipModel(AutoConfig.for_model("siglip", vision_config=TINY, text_config=TEXT))
    dual.save_pretrained(tmp_path)
    model = VisionBackbone.build_vision_model(str(tmp_path))
    assert type(model) is SiglipVisionModel
    assert model.config.model_type == "siglip_vision_model"
    for name, tensor in dual.vision_model.state_dict().items():
        torch.testing.assert_close(model.state_dict()[name], tensor, msg=name)


def test_build_from_config_object_and_dual_config() -> None:
    vision = VisionBackbone.build_vision_model(AutoConfig.for_model("clip_vision_model", **TINY))
    assert type(vision).__name__ == "CLIPVisionModel"
    reduced = VisionBackbone.build_vision_model(AutoConfig.for_model("siglip", vision_config=TINY, text_config=TEXT))
    assert type(reduced) is SiglipVisionModel


def test_bad_specs_are_refused() -> None:
    with pytest.raises(ValueError, match="model_type"):
        VisionBackbone.build_vision_model({"hidden_size": 32})
    with pytest.raises(TypeError, match="vision spec"):
        VisionBackbone.build_vision_model(3)


def test_unknown_type_with_prefix_tokens_lists_supported_types() -> None:
    model = tiny("clip_vision_model")
    model.config.model_type = "my_vit"  # an unregistered architecture that emits a CLS token
    with pytest.raises(ValueError, match=r"my_vit.*17 tokens.*siglip_vision_model"):
        VisionBackbone(model)


def test_unknown_type_without_prefix_is_accepted() -> None:
    model = tiny("siglip_vision_model")
    model.config.model_type = "my_vit"
    backbone = VisionBackbone(model)
    assert backbone.num_prefix_tokens == 0
    assert backbone(torch.randn(1, 3, 32, 32)).shape == (1, 16, 32)


def test_wrong_image_size_is_an_error_and_override_interpolates() -> None:
    model = tiny("siglip_vision_model")
    with pytest.raises(ValueError, match=r"\(N, 3, 32, 32\)"):
        VisionBackbone(model)(torch.randn(1, 3, 48, 48))
    backbone = VisionBackbone(model, image_size=48)
    assert backbone.grid_hw == (6, 6)
    assert backbone(torch.randn(2, 3, 48, 48)).shape == (2, 36, 32)
    with pytest.raises(ValueError, match="multiple of patch_size"):
        VisionBackbone(model, image_size=50)



def test_token_count_without_the_model_uses_the_backbone_grid_rules() -> None:
    from panovlm.models.modeling_parts import infer_tokens_per_view
    from panovlm.models.tiny import tiny_config, tiny_model

    config = tiny_config(test=True)
    backbone = VisionBackbone(tiny("siglip_vision_model"), image_size=48)
    assert backbone.grid_hw == patch_grid(backbone.model.config, (48, 48)) == (6, 6)
    # counted from the config alone == counted from the built model's tower and resampler
    assert infer_tokens_per_view(config) == tiny_model(test=True).config.vision_tokens_per_view
    config.vision_config.patch_size = 24  # 64 px views are not a whole number of 24 px patches
    with pytest.raises(ValueError, match=r"\(64, 64\) is not a multiple of patch_size \(24, 24\)"):
        infer_tokens_per_view(config)

def test_dinov2_override_image_size() -> None:
    backbone = VisionBackbone(tiny("dinov2"), image_size=(48, 32))
    assert backbone.grid_hw == (6, 4)
    assert backbone(torch.randn(1, 3, 48, 32)).shape == (1, 24, 32)


@pytest.mark.parametrize("model_type", ["siglip_vision_model", "dinov2", "vit"])
def test_set_trainable_last_blocks(model_type: str) -> None:
    backbone = VisionBackbone(tiny(model_type))
    count = set_trainable_last_blocks(backbone, 1)
    trainable = {name for name, p in backbone.named_parameters() if p.requires_grad}
    assert count == sum(p.numel() for p in backbone.parameters() if p.requires_grad) > 0
    assert trainable, "the last block must be trainable"
    assert all(".1." in name or "layernorm" in name for name in trainable), trainable
    assert any("layernorm" in name for name in trainable)
    assert not any(".0." in name or "embeddings" in name for name in trainable)
    assert set_trainable_last_blocks(backbone, 0) == 0
    assert not any(p.requires_grad for p in backbone.parameters())
    assert set_trainable_last_blocks(backbone.model, 2) > count  # a bare HF model works too
    with pytest.raises(ValueError, match=r"\[0, 2\], got 3"):
        set_trainable_last_blocks(backbone, 3)


CONV_SPECS = {
    # stem stride 4, then x2 in each later stage: 64 px -> 4 x 4
    "resnet": {"model_type": "resnet", "embedding_size": 8, "hidden_sizes": [8, 16, 24], "depths": [1, 1, 1],
               "layer_type": "basic", "downsample_in_first_stage": False, "image_size": 64},
    # patchify stem 4, then x2 per later stage: 64 px -> 4 x 4
    "convnext": {"model_type": "convnext", "hidden_sizes": [8, 16, 24], "depths": [1, 1, 1], "num_stages": 3, "patch_size": 4,
                 "image_size": 64},
}


@pytest.mark.parametrize("model_type", sorted(CONV_SPECS))
def test_convolutional_backbones_give_their_last_feature_map_as_tokens(model_type: str) -> None:
    backbone = VisionBackbone(VisionBackbone.build_vision_model(CONV_SPECS[model_type]))
    assert backbone.hidden_size == 24 and backbone.grid_hw == (4, 4) and backbone.num_prefix_tokens == 0
    images = torch.randn(2, 3, 64, 64)
    tokens = backbone(images)
    assert tokens.shape == (2, 16, 24)
    feature_map = backbone.model(pixel_values=images).last_hidden_state  # (N, D, gh, gw)
    assert torch.equal(tokens, feature_map.flatten(2).transpose(1, 2))  # row-major over the grid
    # convolutions take other sizes: 96 px -> 6 x 6
    wide = VisionBackbone(backbone.model, image_size=96)
    assert wide.grid_hw == (6, 6) and wide(torch.randn(1, 3, 96, 96)).shape == (1, 36, 24)
    with pytest.raises(ValueError, match="total stride"):
        VisionBackbone(backbone.model, image_size=72)
    assert set_trainable_last_blocks(backbone, 1) > 0
    trainable = {n.split(".")[2] for n, p in backbone.model.named_parameters() if p.requires_grad and n.startswith("encoder.")}
    assert trainable == {"2"}  # the last stage only


def test_a_frozen_batchnorm_tower_runs_as_at_inference_in_train_mode() -> None:
    backbone = VisionBackbone(VisionBackbone.build_vision_model(CONV_SPECS["resnet"]))
    backbone.model.requires_grad_(False)
    backbone.train()
    assert not backbone.model.training
    before = {k: v.clone() for k, v in backbone.model.state_dict().items()}
    images = torch.randn(4, 3, 64, 64) * 3 + 1
    single = backbone(images[:1])
    assert torch.allclose(backbone(images)[:1], single, atol=1e-6)  # the batch does not change a view's tokens
    assert all(torch.equal(before[k], v) for k, v in backbone.model.state_dict().items())  # no stats drift
    # partly trained: the trained stage's BatchNorms follow the batch, the frozen ones keep their statistics
    set_trainable_last_blocks(backbone, 1)
    backbone.train()
    modes = {n: m.training for n, m in backbone.model.named_modules() if isinstance(m, torch.nn.BatchNorm2d)}
    assert any(modes.values()) and not all(modes.values())
    assert all(mode == n.startswith("encoder.stages.2") for n, mode in modes.items())


def test_the_feature_cache_hashes_a_batchnorm_tower() -> None:
    from panovlm.models.feature_cache import FeatureCache

    backbone = VisionBackbone(VisionBackbone.build_vision_model(CONV_SPECS["resnet"]))
    backbone.model.requires_grad_(False)
    backbone.train()
    backbone.feature_cache = FeatureCache(2**20)
    images = torch.randn(2, 3, 64, 64)
    first, again = backbone(images), backbone(images)
    assert torch.equal(first, again) and backbone.feature_cache.hits == 2


def test_recalibrate_batchnorm_averages_the_statistics_of_the_given_views() -> None:
    backbone = VisionBackbone(VisionBackbone.build_vision_model(CONV_SPECS["resnet"]))
    backbone.model.requires_grad_(False)
    backbone.train()
    weights = {k: v.clone() for k, v in backbone.model.named_parameters()}
    batches = [torch.randn(3, 3, 64, 64) * 2 + 1, torch.randn(3, 3, 64, 64) - 1]
    assert backbone.recalibrate_batchnorm(iter(batches)) == 6
    stem = backbone.model.embedder.embedder
    with torch.no_grad():  # the first BatchNorm's input: the stem convolution's output, channel mean per batch
        means = [stem.convolution(b).mean((0, 2, 3)) for b in batches]
    assert torch.allclose(stem.normalization.running_mean, (means[0] + means[1]) / 2, atol=1e-5)
    assert all(m.momentum == 0.1 and not m.training for m in backbone.frozen_batchnorms())
    assert not backbone.model.training and backbone.training  # back in the (frozen-aware) train mode
    assert all(torch.equal(weights[k], v) for k, v in backbone.model.named_parameters())
    with pytest.raises(ValueError, match="no views"):
        backbone.recalibrate_batchnorm(iter([]))
    siglip = VisionBackbone(SiglipVisionModel(AutoConfig.for_model("siglip_vision_model", hidden_size=16,
                                                                  intermediate_size=32, num_hidden_layers=1,
                                                                  num_attention_heads=2, image_size=32,
                                                                  patch_size=16)))
    siglip.model.requires_grad_(False)
    with pytest.raises(ValueError, match="no frozen BatchNorm"):
        siglip.recalibrate_batchnorm(iter(batches))
