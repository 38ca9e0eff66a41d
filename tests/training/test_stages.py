"""The stage table: trainable parameters per stage, counted group by group."""

import pytest

from panovlm.config.stage_config import StageConfig
from panovlm.training.stages import STAGES, set_trainable, trainable_counts


@pytest.fixture(scope="module")
def model():
    from panovlm.models.tiny import tiny_model

    return tiny_model(test=True)


def _size(module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(
    ("stage", "groups"),
    [
        ("vision", {"resampler", "vicreg_projector"}),
        ("resampler", {"resampler", "projector"}),
        ("finetune", {"resampler", "projector", "language_model"}),
    ],
)
def test_default_groups_train_in_full_and_nothing_else(model, stage, groups):
    counts = set_trainable(model, stage, StageConfig())
    assert set(STAGES[stage].train) == groups
    assert {k for k, v in counts.items() if v} == groups
    for group in groups:
        assert counts[group] == _size(getattr(model, group)) > 0
    assert sum(counts.values()) == sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_unfreeze_whole_encoder_or_last_blocks(model):
    counts = set_trainable(model, "vision", StageConfig(unfreeze_last_n_vision_blocks=-1))
    head = getattr(model.vision_tower.model, "head", None)  # SigLIP's pooling head never reaches the loss
    assert counts["vision_tower"] == _size(model.vision_tower) - (_size(head) if head is not None else 0)
    assert counts["vision_tower"] == _size(model.vision_tower.model.embeddings) + _size(
        model.vision_tower.model.encoder) + _size(model.vision_tower.model.post_layernorm)
    counts = set_trainable(model, "resampler", StageConfig(unfreeze_last_n_vision_blocks=1))
    layers = model.vision_tower.model.encoder.layers
    block = _size(layers[-1])
    norm = _size(model.vision_tower.model.post_layernorm) if hasattr(model.vision_tower.model, "post_layernorm") else 0
    assert counts["vision_tower"] == block + norm
    assert 0 < counts["vision_tower"] < _size(model.vision_tower)


def test_config_train_list_overrides_the_table(model):
    counts = set_trainable(model, "finetune", StageConfig(train=("projector",)))
    assert {k for k, v in counts.items() if v} == {"projector"}
    with pytest.raises(ValueError, match="no trainable parameters"):
        set_trainable(model, "vision", StageConfig(train=()))


def test_finetune_with_lora_trains_adapters_only():
    from panovlm.models.lora import apply_lora
    from panovlm.models.tiny import tiny_model

    model = apply_lora(tiny_model(test=True, use_lora=True)).get_base_model()
    set_trainable(model, "finetune", StageConfig())
    lm = {n: p for n, p in model.language_model.named_parameters() if p.requires_grad}
    assert lm and all("lora_" in n for n in lm)
    assert trainable_counts(model)["language_model"] == sum(p.numel() for p in lm.values())


def test_loss_weights_are_the_row_terms_with_the_lm_weight_on_top():
    from panovlm.training.stages import loss_weights

    assert loss_weights("vision", StageConfig()) == {"vicreg_loss": 1.0}
    assert loss_weights("finetune", StageConfig(ar_loss_weight=0.5)) == {"ar_loss": 0.5}
    with pytest.raises(ValueError, match="model config's vicreg_loss_weight"):
        loss_weights("vision", StageConfig(vicreg_loss_weight=2.0))
