"""Lightning checkpoint / model_final -> export -> load: identical outputs per head; bad input fails in one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

from panovlm.cli import main
from panovlm.cli.export import MODEL_TYPES as CLI_MODEL_TYPES
from panovlm.hub.check import FolderError
from panovlm.hub.convert import MODEL_TYPES, ConversionError, export
from panovlm.models import (
    PanoLLaVaForConditionalGeneration,
    PanoLLaVaForFeatureExtraction,
    PanoLLaVaForVICReg,
    PanoLLaVaProcessor,
)
from panovlm.models.tiny import tiny_model


def _inputs(model_dir: Path) -> dict:
    processor = PanoLLaVaProcessor.from_pretrained(model_dir)
    image = np.random.default_rng(0).integers(0, 255, (64, 128, 3), dtype=np.uint8)
    return processor(text="What is to your right?", images=image)


def _ckpt(run: Path, stage: str) -> Path:
    return run / stage / "checkpoints" / "last.ckpt"


def test_cli_and_library_offer_the_same_model_types() -> None:
    assert tuple(MODEL_TYPES) == CLI_MODEL_TYPES


def test_finetune_checkpoint_with_lora_exports_merged(tiny_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "vlm"
    result = export(_ckpt(tiny_run, "finetune"), out, "conditional-generation")
    assert result.merged_lora and result.source.stage == "finetune"
    assert not any("lora" in k or "base_layer" in k for k in load_file(str(out / "model.safetensors")))
    exported = PanoLLaVaForConditionalGeneration.from_pretrained(out).eval()
    assert not exported.config.use_lora
    # The run's own model_final was merged by the runner from the same weights: the logits must be identical.
    reference = PanoLLaVaForConditionalGeneration.from_pretrained(tiny_run / "finetune" / "model_final").eval()
    inputs = _inputs(out)
    with torch.no_grad():
        torch.testing.assert_close(exported(**inputs).logits, reference(**inputs).logits, rtol=0, atol=0)


def test_keep_adapters_writes_the_peft_adapter(tiny_run: Path, tmp_path: Path) -> None:
    from panovlm.models.lora import load_lora, merge_lora

    out = tmp_path / "vlm_adapters"
    result = export(_ckpt(tiny_run, "finetune"), out, "conditional-generation", keep_adapters=True)
    assert not result.merged_lora
    assert (out / "adapter" / "adapter_config.json").is_file() and not (out / "adapter_config.json").exists()
    base = PanoLLaVaForConditionalGeneration.from_pretrained(out)
    merged = merge_lora(load_lora(base, out / "adapter")).eval()
    reference = PanoLLaVaForConditionalGeneration.from_pretrained(tiny_run / "finetune" / "model_final").eval()
    inputs = _inputs(out)
    with torch.no_grad():
        torch.testing.assert_close(merged(**inputs).logits, reference(**inputs).logits)


def test_vision_checkpoint_exports_vicreg(tiny_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "vicreg"
    result = export(_ckpt(tiny_run, "vision"), out, "vicreg")
    assert result.dropped == {"language_model": result.dropped["language_model"], "projector": 5}
    exported = PanoLLaVaForVICReg.from_pretrained(out).eval()
    reference = PanoLLaVaForVICReg.from_pretrained(tiny_run / "vision" / "model_final").eval()
    pixels = _inputs(out)["pixel_values"]
    with torch.no_grad():
        torch.testing.assert_close(exported(pixels).vicreg_loss, reference(pixels).vicreg_loss, rtol=0, atol=0)
    card = (out / "README.md").read_text()
    assert yaml.safe_load(card.split("---")[1])["pipeline_tag"] == "image-feature-extraction"


def test_model_final_exports_feature_extraction_through_the_cli(tiny_run: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "features"
    source = tiny_run / "resampler" / "model_final"
    assert main(["export", "--lightning-ckpt", str(source), "--output-dir", str(out),
                 "--model-type", "feature-extraction"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    exported = PanoLLaVaForFeatureExtraction.from_pretrained(out).eval()
    reference = PanoLLaVaForFeatureExtraction.from_pretrained(source).eval()
    pixels = _inputs(out)["pixel_values"]
    with torch.no_grad():
        torch.testing.assert_close(exported(pixels).pooled_output, reference(pixels).pooled_output, rtol=0, atol=0)


def test_model_card_metadata(tiny_run: Path, tmp_path: Path) -> None:
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"Bleu_4": 0.1234, "CIDEr": 0.5, "ROUGE_L": 0.3, "backend": "pycocoevalcap",
                                   "num_samples": 2, "csv": "data/test.csv"}))
    out = tmp_path / "carded"
    export(tiny_run / "finetune" / "model_final", out, metrics=metrics,
           card_options={"repo_id": "someone/pano-tiny", "license": "apache-2.0", "datasets": ["someone/panoshapes"]})
    text = (out / "README.md").read_text()
    meta = yaml.safe_load(text.split("---")[1])
    assert meta["library_name"] == "transformers" and meta["pipeline_tag"] == "image-text-to-text"
    assert meta["datasets"] == ["someone/panoshapes"] and meta["license"] == "apache-2.0"
    values = {m["name"]: m["value"] for m in meta["model-index"][0]["results"][0]["metrics"]}
    assert values == {"BLEU-4": 0.1234, "ROUGE-L": 0.3, "CIDEr": 0.5}
    for needle in ("## View plan", "anyres_e2p", "| finetune | completed |", "AutoModelForImageTextToText",
                   "trust_remote_code=True", 'from_pretrained("someone/pano-tiny"', "## Limitations",
                   "opencv-python-headless", "AutoModelForVision2Seq"):
        assert needle in text, needle


# ------------------------------------------------------------------------------------------- bad input
def test_vision_checkpoint_cannot_provide_the_generation_model(tiny_run: Path, tmp_path: Path, capsys) -> None:
    code = main(["export", "--lightning-ckpt", str(_ckpt(tiny_run, "vision")), "--output-dir", str(tmp_path / "x"),
                 "--model-type", "conditional-generation"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "last.ckpt is a vision-stage checkpoint" in err and "projector, language_model were never trained" in err
    assert "--model-type conditional-generation" in err and "vicreg" in err
    assert not (tmp_path / "x").exists()


def test_head_without_the_lm_cannot_provide_the_generation_model(tmp_path: Path) -> None:
    model = tiny_model(test=True)
    head = PanoLLaVaForFeatureExtraction(model.config)
    ckpt = tmp_path / "features.ckpt"
    torch.save({"state_dict": {f"model.{k}": v for k, v in head.state_dict().items()}}, ckpt)
    config_dir = tmp_path / "config"
    model.save_pretrained(config_dir)
    with pytest.raises(ConversionError, match=r"features.ckpt has no vicreg_projector\.\*, projector\.\*, "
                                              r"language_model\.\* weights.*\['feature-extraction'\]"):
        export(ckpt, tmp_path / "out", "conditional-generation", config_dir=config_dir)


def test_other_architecture_lists_the_mismatched_keys(tiny_run: Path, tmp_path: Path) -> None:
    other = tiny_model(test=True, resampler_type="qformer")
    ckpt = tmp_path / "qformer.ckpt"
    torch.save({"state_dict": {f"model.{k}": v for k, v in other.state_dict().items()}, "global_step": 3}, ckpt)
    with pytest.raises(ConversionError) as err:
        export(ckpt, tmp_path / "out", "conditional-generation", config_dir=tiny_run / "finetune" / "model_final")
    message = str(err.value)
    assert "\n" not in message and "qformer.ckpt does not fit PanoLLaVaForConditionalGeneration" in message
    assert "unmatched ['resampler." in message and "missing ['resampler." in message


def test_truncated_safetensors_is_named(tiny_run: Path, tmp_path: Path, capsys) -> None:
    source = tmp_path / "broken"
    shutil.copytree(tiny_run / "resampler" / "model_final", source)
    weights = source / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    code = main(["export", "--lightning-ckpt", str(source), "--output-dir", str(tmp_path / "out"),
                 "--model-type", "feature-extraction"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert f"{weights} is truncated or corrupt" in err


def test_missing_processor_file_is_named(tiny_run: Path, tmp_path: Path) -> None:
    source = tmp_path / "no_processor"
    shutil.copytree(tiny_run / "resampler" / "model_final", source)
    (source / "processor_config.json").unlink()
    with pytest.raises(FolderError, match=r"no_processor/processor_config.json is missing: the export needs the "
                                          r"processor"):
        export(source, tmp_path / "out")


def test_checkpoint_needing_unpickling_is_refused(tmp_path: Path) -> None:
    ckpt = tmp_path / "pickled.ckpt"
    torch.save({"state_dict": {}, "callback": Path("/somewhere")}, ckpt)
    with pytest.raises(ConversionError, match=r"pickled.ckpt: refused: .*weights_only=True.*never runs pickled code"):
        export(ckpt, tmp_path / "out", config_dir=tmp_path)


def test_truncated_checkpoint_and_missing_config(tiny_run: Path, tmp_path: Path) -> None:
    ckpt = tmp_path / "cut.ckpt"
    ckpt.write_bytes(_ckpt(tiny_run, "vision").read_bytes()[:4096])
    with pytest.raises(ConversionError, match=r"cut.ckpt: a Lightning checkpoint holds no config.*--config DIR"):
        export(ckpt, tmp_path / "out")
    with pytest.raises(ConversionError, match=r"cut.ckpt is not a readable PyTorch checkpoint"):
        export(ckpt, tmp_path / "out", config_dir=tiny_run / "vision" / "model_final")


def test_non_empty_output_is_not_overwritten(tiny_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ConversionError, match="exists and is not empty"):
        export(tiny_run / "finetune" / "model_final", out)
    assert (out / "keep.txt").read_text() == "mine"
