"""PanoLLaVaProcessor: generation inputs, training examples, save/load through the Auto classes."""

import numpy as np
import pytest
import torch
from transformers import AutoImageProcessor, AutoProcessor

from panovlm.data.image import PanoramaImageProcessor
from panovlm.models import PanoLLaVaProcessor
from panovlm.models.fusion import build_training_example
from panovlm.models.tiny import tiny_config, tiny_processor


@pytest.fixture(scope="module")
def processor():
    return tiny_processor(test=True)


def _image(seed=0):
    return np.random.default_rng(seed).integers(0, 255, (64, 128, 3), dtype=np.uint8)


def test_generation_inputs(processor):
    out = processor(text=["Describe.", "What is to your right, and what is behind you?"], images=[_image(), _image(1)])
    assert out["pixel_values"].shape == (2, 9, 3, 64, 64)
    vision_id = processor.vision_token_id
    assert processor.num_vision_tokens == 9 * 16
    assert ((out["input_ids"] == vision_id).sum(dim=1) == 144).all()
    assert out["attention_mask"][0, 0] == 0 and out["attention_mask"][1].all()  # left padding
    header = processor.tokenizer("<|im_start|>assistant\n")["input_ids"]
    assert out["input_ids"][0, -len(header):].tolist() == header
    torch.testing.assert_close(out["pixel_values"][0], processor.image_processor(_image()))


def test_text_only_and_mismatch(processor):
    out = processor(text="Describe.")
    assert "pixel_values" not in out and not (out["input_ids"] == processor.vision_token_id).any()
    with pytest.raises(ValueError, match="got 1 images for 2 texts"):
        processor(text=["a", "b"], images=[_image()])


def test_training_example_delegates_to_fusion(processor):
    messages = [{"role": "user", "content": "Describe."}, {"role": "assistant", "content": "A red cube."}]
    expected = build_training_example(processor.tokenizer, messages, processor.max_length,
                                      system_prompt=processor.system_prompt)
    assert processor.training_example(messages) == expected


@pytest.mark.parametrize("settings", [{"crop_strategy": "e2p", "overlap_ratio": 0.25},
                                      {"crop_strategy": "cubemap", "fov_deg": 120.0, "cubemap_poles": True}])
def test_settings_follow_the_model_config(settings, tmp_path):
    config = tiny_config(test=True, **settings)
    processor = PanoLLaVaProcessor.from_model_config(config, tiny_processor(test=True).tokenizer)
    assert processor.view_plan == config.view_plan()
    processor.save_pretrained(tmp_path)
    assert PanoLLaVaProcessor.from_pretrained(tmp_path).view_plan == config.view_plan()


def test_save_load_round_trip(processor, tmp_path):
    processor.save_pretrained(tmp_path)
    loaded = AutoProcessor.from_pretrained(tmp_path)
    assert type(loaded) is PanoLLaVaProcessor and type(loaded.image_processor) is PanoramaImageProcessor
    assert loaded.vision_tokens_per_view == processor.vision_tokens_per_view
    a = processor(text=["Describe."], images=[_image()])
    b = loaded(text=["Describe."], images=[_image()])
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert loaded.batch_decode(a["input_ids"][:, -5:]) == processor.batch_decode(a["input_ids"][:, -5:])


def test_image_processor_through_auto_class(processor, tmp_path):
    processor.image_processor.save_pretrained(tmp_path)
    loaded = AutoImageProcessor.from_pretrained(tmp_path)
    assert type(loaded) is PanoramaImageProcessor and loaded.view_plan == processor.view_plan


def test_from_model_config_reads_the_config_and_leaves_it_unchanged():
    config = tiny_config(test=True, crop_strategy="e2p", overlap_ratio=0.25)
    before = config.to_dict()
    processor = PanoLLaVaProcessor.from_model_config(config, tiny_processor(test=True).tokenizer)
    assert config.to_dict() == before and config.vision_tokens_per_view is None
    assert processor.image_processor.plan_spec == config.plan_spec and processor.vision_tokens_per_view == 16


def test_generation_prompts_expand_each_row_in_place(processor):
    texts, images = ["Describe.", "What is to your right, and what is behind you?"], [_image(), _image(1)]
    compact = processor(text=texts, images=images, expand_vision=False)
    out = processor(text=texts, images=images)
    vid, num = processor.vision_token_id, processor.num_vision_tokens
    for row in range(2):  # each left-padded compact row, its one placeholder repeated N times
        ids = compact["input_ids"][row].tolist()
        mask = compact["attention_mask"][row].tolist()
        assert out["input_ids"][row].tolist() == [t for i in ids for t in ([i] * num if i == vid else [i])]
        repeated = [k for i, m in zip(ids, mask, strict=True) for k in ([m] * num if i == vid else [m])]
        assert out["attention_mask"][row].tolist() == repeated
