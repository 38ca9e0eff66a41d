"""Adapter settings: validated fields, the token budget, run-config integration, the offline error."""

from __future__ import annotations

import pytest

from panovlm.adapt import AdaptSettings, get_family
from panovlm.adapt.views import fit_plan, visual_tokens
from panovlm.config.typed import ConfigError


def test_errors_name_field_value_and_range() -> None:
    with pytest.raises(ConfigError, match=r"model.view_size.*100.*multiple of 28"):
        AdaptSettings(view_size=100)
    with pytest.raises(ConfigError, match="model.adapt_mode"):
        AdaptSettings(adapt_mode="erp")
    with pytest.raises(ValueError, match="supported families"):
        get_family("llava")


@pytest.mark.parametrize("family", ["qwen2_5_vl", "internvl"])
def test_published_setup_token_budget(family: str) -> None:
    fam = get_family(family)
    assert visual_tokens(fit_plan(AdaptSettings(view_size=448), fam), fam) == 9 * 256
    native = visual_tokens(fit_plan(AdaptSettings(view_size=448, adapt_mode="native"), fam), fam)
    assert native == (512 if family == "qwen2_5_vl" else 256)  # Qwen takes the 2:1 ERP, InternVL a square


def test_max_visual_tokens_picks_a_smaller_view() -> None:
    fam = get_family("qwen2_5_vl")
    plan = fit_plan(AdaptSettings(view_size=448, max_visual_tokens=1200), fam)
    assert plan.views[0].height == 308 and visual_tokens(plan, fam) == 9 * 121  # 11 x 11 tokens per view
    with pytest.raises(ValueError, match="model.max_visual_tokens"):
        fit_plan(AdaptSettings(max_visual_tokens=5), fam)


def test_run_config_kind_adapt() -> None:
    from panovlm.config.run_config import load_run_config

    config = load_run_config(None, ["model.kind=adapt", "model.base=tiny-internvl", "model.adapt_mode=native"])
    assert config.model.kind == "adapt" and config.model.settings["adapt_mode"] == "native"
    assert "kind: adapt" in config.to_yaml()
    with pytest.raises(ConfigError, match="model.lora_rank"):
        load_run_config(None, ["model.kind=adapt", "model.lora_rank=8"])


def test_offline_hub_id_is_an_error_naming_the_presets(monkeypatch: pytest.MonkeyPatch) -> None:
    from panovlm.adapt.loading import load_base

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OSError, match=r"Qwen/Qwen2.5-VL-3B-Instruct.*HF_HUB_OFFLINE=1.*tiny-internvl or tiny-qwen2_5_vl"):
        load_base("Qwen/Qwen2.5-VL-3B-Instruct")


def test_half_precision_without_gpu_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from panovlm.adapt.loading import resolve_dtype

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="no GPU; use float32"):
        resolve_dtype("bfloat16")


@pytest.mark.parametrize(("override", "message"), [
    ("data.system_prompt=Be brief.", r"data.system_prompt.*null with model.kind=adapt"),
    ("stages.finetune.max_text_length=100", r"stages.finetune.max_text_length.*100.*model.max_text_length \(4096\)"),
    ("stages.vision.unfreeze_last_n_vision_blocks=-1", r"unfreeze_last_n_vision_blocks.*model.lora_vision"),
    ("model.tokenizer=some/tokenizer", r"model.tokenizer.*null with model.kind=adapt.*model.base"),
    ("model.preset=test", r"model.preset.*the default \(tiny\)"),
])
def test_core_keys_the_adapter_does_not_read_are_refused(override: str, message: str) -> None:
    from panovlm.config.run_config import load_run_config

    with pytest.raises(ConfigError, match=message):
        load_run_config(None, ["model.kind=adapt", override])


def test_core_keys_the_adapter_reads_are_accepted() -> None:
    from panovlm.config.run_config import load_run_config

    config = load_run_config(None, ["model.kind=adapt", "model.max_text_length=2048", "data.conversations=per_image",
                                    "data.max_turns=3", "stages.finetune.max_text_length=2048",
                                    "stages.vision.vicreg_loss_weight=0.5"])
    assert config.stages.vision.vicreg_loss_weight == 0.5  # read by the adapter's stage, not moved to the model
    assert "vicreg_loss_weight" not in config.model.settings
