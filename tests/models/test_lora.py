"""LoRA on the language model only: targets, merge/unmerge parity, adapter save/load."""

import pytest
import torch

from panovlm.models.lora import apply_lora, lm_target_regex, load_lora, merge_lora, save_lora, unmerge_lora
from panovlm.models.tiny import tiny_model

pytest.importorskip("peft")


def _adapted():
    peft_model = apply_lora(tiny_model(test=True), r=4, alpha=8, dropout=0.0)
    torch.manual_seed(1)
    for name, param in peft_model.named_parameters():
        if "lora_B" in name:  # B starts at zero; make the adapters change the output
            torch.nn.init.normal_(param, std=0.2)
    return peft_model.eval()


def test_targets_only_the_language_model():
    peft_model = _adapted()
    adapted = [n for n, _ in peft_model.named_modules() if n.endswith("lora_A")]
    assert adapted and all("language_model" in n for n in adapted)
    assert not any("vision_tower" in n for n in adapted)
    trainable = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert lm_target_regex(["q_proj"]) == r".*language_model.*\.(q_proj)"


def test_merge_unmerge_and_adapter_round_trip(tmp_path):
    peft_model = _adapted()
    ids = torch.randint(10, 200, (2, 12))
    with torch.no_grad():
        base = peft_model.get_base_model()
        with peft_model.disable_adapter():
            plain = peft_model(input_ids=ids).logits
        adapted = peft_model(input_ids=ids).logits
        assert (adapted - plain).abs().max() > 1e-3
        peft_model.merge_adapter()
        merged_in_place = base(input_ids=ids).logits
        unmerge_lora(peft_model)
        unmerged = peft_model(input_ids=ids).logits
        save_lora(peft_model, tmp_path)
        reloaded = load_lora(tiny_model(test=True), tmp_path).eval()(input_ids=ids).logits
        merged = merge_lora(peft_model)
        merged_logits = merged(input_ids=ids).logits
    assert (merged_in_place - adapted).abs().max() < 1e-5
    assert (unmerged - adapted).abs().max() < 1e-5
    assert (merged_logits - adapted).abs().max() < 1e-5
    assert torch.equal(reloaded, adapted)
    assert not any("lora" in n for n, _ in merged.named_modules())
    assert (tmp_path / "adapter_config.json").is_file()
