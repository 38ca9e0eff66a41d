"""Loading as seed 003 shows it: HF messages form in the chat template, ``dtype=torch.bfloat16``, ``device_map``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModelForImageTextToText

from panovlm.models.tiny import tiny_model, tiny_processor


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("saved")
    tiny_model(test=True).save_pretrained(out)
    tiny_processor(test=True).save_pretrained(out)
    return out


def _image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (64, 128, 3), dtype=np.uint8)


def test_messages_form_matches_the_plain_call() -> None:
    processor = tiny_processor(test=True)
    image = _image()
    messages = [{"role": "user", "content": [{"type": "image", "image": image},
                                             {"type": "text", "text": "What is to your right?"}]}]
    via_template = processor.apply_chat_template(messages, tokenize=True, return_dict=True)
    plain = processor(text="What is to your right?", images=image)
    assert torch.equal(via_template["input_ids"], plain["input_ids"])
    assert torch.equal(via_template["pixel_values"], plain["pixel_values"])
    text = processor.apply_chat_template(messages)
    assert text.count(processor.vision_token) == 1 and text.rstrip().endswith("<|im_start|>assistant")
    assert text.index(processor.vision_token) < text.index("What is to your right?")


def test_messages_form_text_only_and_refusals() -> None:
    processor = tiny_processor(test=True)
    text_only = processor.apply_chat_template([{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
                                              tokenize=True, return_dict=True)
    assert "pixel_values" not in text_only and not (text_only["input_ids"] == processor.vision_token_id).any()
    two = [{"role": "user", "content": [{"type": "image", "image": _image()}, {"type": "image", "image": _image()}]}]
    with pytest.raises(ValueError, match="holds 2 images; PanoLLaVA reads one panorama"):
        processor.apply_chat_template(two)
    with pytest.raises(ValueError, match="content type 'video' is not supported"):
        processor.apply_chat_template([{"role": "user", "content": [{"type": "video", "url": "x.mp4"}]}])
    with pytest.raises(ValueError, match="prefilling an assistant answer is not supported"):
        processor.apply_chat_template([{"role": "user", "content": "Hi"}], continue_final_message=True)


def test_bfloat16_load_generates(saved: Path) -> None:
    model = AutoModelForImageTextToText.from_pretrained(saved, dtype=torch.bfloat16).eval()
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    processor = tiny_processor(test=True)
    inputs = processor(text="Describe.", images=_image())
    out = model.generate(**inputs, max_new_tokens=3, do_sample=False)
    assert out.shape[1] == inputs["input_ids"].shape[1] + 3


def test_device_map_auto_loads_and_matches(saved: Path) -> None:
    pytest.importorskip("accelerate")
    mapped = AutoModelForImageTextToText.from_pretrained(saved, device_map="auto").eval()
    plain = AutoModelForImageTextToText.from_pretrained(saved).eval()
    # On this CPU-only machine everything lands on the CPU; the GPU split itself is accelerate's.
    assert {p.device.type for p in mapped.parameters()} == {"cuda" if torch.cuda.is_available() else "cpu"}
    processor = tiny_processor(test=True)
    inputs = processor(text="Describe.", images=_image()).to(mapped.device)
    with torch.no_grad():
        torch.testing.assert_close(mapped(**inputs).logits.cpu(), plain(**inputs.to("cpu")).logits)
