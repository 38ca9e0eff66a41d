"""`panovlm export` of an adapted VLM: merged (the family's own class loads it) or base + peft adapter.

Each export is compared with the trained model itself: the Lightning checkpoint's weights with the
LoRA adapters still attached (unmerged), on the same panorama and prompt.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from panovlm.cli import main
from panovlm.hub.adapt_export import load_adapted
from panovlm.hub.convert import ConversionError, export, locate

QUESTION = [{"role": "user", "content": "What is in front?"}]


def _ckpt(run: Path) -> Path:
    return run / "run" / "finetune" / "checkpoints" / "last.ckpt"


def _image(run: Path) -> Path:
    return run / "data" / "images" / "test_00000.png"


@pytest.fixture(scope="module")
def trained(adapted_run: Path) -> tuple:
    """(the trained adapter with its LoRA unmerged, one generation batch)."""
    adapter, _ = load_adapted(locate(_ckpt(adapted_run)))
    assert adapter.has_lora
    return adapter, adapter.processor.generation_batch([QUESTION], [_image(adapted_run)])


def _logits(model: torch.nn.Module, batch: dict) -> torch.Tensor:
    with torch.no_grad():
        return model(**batch).logits


def _generate(model_dir: Path, image: Path, capsys: pytest.CaptureFixture) -> str:
    assert main(["generate", "--model", str(model_dir), "--image", str(image), "--max-new-tokens", "6"]) == 0
    text = capsys.readouterr().out
    assert text.strip(), "the tiny model generated nothing; the comparison would be empty"
    return text


def test_merged_export_loads_with_the_family_class_and_matches_training(adapted_run: Path, trained: tuple,
                                                                        tmp_path: Path, capsys) -> None:
    from transformers import AutoImageProcessor, AutoTokenizer, Qwen2_5_VLForConditionalGeneration

    from panovlm.models.loading import load_model

    adapter, batch = trained
    out = tmp_path / "merged"
    assert main(["export", "--lightning-ckpt", str(_ckpt(adapted_run)), "--output-dir", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    config = json.loads((out / "config.json").read_text())
    assert "auto_map" not in config and not list(out.glob("*.py")) and not (out / "adapter").exists()
    family, info = Qwen2_5_VLForConditionalGeneration.from_pretrained(out, output_loading_info=True)
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys"))
    AutoTokenizer.from_pretrained(out), AutoImageProcessor.from_pretrained(out)
    torch.testing.assert_close(_logits(family.eval(), batch), _logits(adapter, batch), rtol=0, atol=1e-4)
    loaded, _ = load_model(out)  # our loader: still the adapted panoramic model, same plan and budget
    assert loaded.plan == adapter.plan and loaded.visual_tokens == adapter.visual_tokens == 36
    record = json.loads((out / "panovlm_adapt.json").read_text())
    assert record["settings"]["direction_tags"] is True and "lora_adapter" not in record
    model_final = adapted_run / "run" / "finetune" / "model_final"
    assert _generate(out, _image(adapted_run), capsys) == _generate(model_final, _image(adapted_run), capsys)
    card = (out / "README.md").read_text()
    assert "trust_remote_code=True" not in card and "Qwen2_5_VLForConditionalGeneration.from_pretrained" in card
    for needle in ("base `tiny-qwen2_5_vl`", "LoRA adapters are merged", "`anyres_e2p`: 9 views",
                   "36 visual tokens per panorama", "panovlm generate --model", "| finetune | completed | 2 |"):
        assert needle in card, needle


def test_keep_adapters_exports_base_weights_and_the_peft_adapter(adapted_run: Path, trained: tuple, tmp_path: Path,
                                                                 capsys) -> None:
    from peft import PeftModel
    from transformers import Qwen2_5_VLForConditionalGeneration

    adapter, batch = trained
    out = tmp_path / "adapters"
    result = export(_ckpt(adapted_run), out, keep_adapters=True, card_options={"repo_id": "someone/pano-qwen"})
    assert not result.merged_lora and result.source.extra["global_step"] == 2
    adapter_config = json.loads((out / "adapter" / "adapter_config.json").read_text())
    assert adapter_config["base_model_name_or_path"] == "someone/pano-qwen"
    base = Qwen2_5_VLForConditionalGeneration.from_pretrained(out)
    assert not any("lora_" in name for name, _ in base.named_parameters())
    peft_model = PeftModel.from_pretrained(base, str(out / "adapter")).eval()
    torch.testing.assert_close(_logits(peft_model, batch), _logits(adapter, batch), rtol=0, atol=1e-6)
    card = (out / "README.md").read_text()
    assert 'PeftModel.from_pretrained(model, "someone/pano-qwen", subfolder="adapter")' in card
    assert json.loads((out / "panovlm_adapt.json").read_text())["lora_adapter"] == "adapter"
    merged = tmp_path / "merged"
    export(_ckpt(adapted_run), merged)
    assert _generate(out, _image(adapted_run), capsys) == _generate(merged, _image(adapted_run), capsys)


def test_model_final_exports_merged_and_refuses_keep_adapters(adapted_run: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    model_final = adapted_run / "run" / "finetune" / "model_final"
    export(model_final, tmp_path / "out")
    saved = load_file(str(model_final / "model.safetensors"))
    exported = load_file(str(tmp_path / "out" / "model.safetensors"))
    assert saved.keys() == exported.keys() and all(torch.equal(saved[k], exported[k]) for k in saved)
    with pytest.raises(ConversionError, match=r"--keep-adapters: .*model_final holds the LoRA merged .*last\.ckpt"):
        export(model_final, tmp_path / "kept", keep_adapters=True)
    with pytest.raises(ConversionError, match=r"--model-type vicreg: .*panovlm_adapt.json is an adapted VLM"):
        export(model_final, tmp_path / "vicreg", model_type="vicreg")
    assert not (tmp_path / "kept").exists() and not (tmp_path / "vicreg").exists()


def test_an_older_checkpoint_exports_with_a_warning(adapted_run: Path, tmp_path: Path, caplog) -> None:
    import logging

    older = _ckpt(adapted_run).parent / "step-00000001.ckpt"
    with caplog.at_level(logging.WARNING, logger="panovlm.hub.adapt_export"):
        result = export(older, tmp_path / "older")
    assert result.source.extra["global_step"] == 1
    assert "is from step 1 but stage finetune ended at step 2" in caplog.text
