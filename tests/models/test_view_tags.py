"""View tags: each view's direction word before its vision tokens, in the processor and the model alike."""

import pytest
import torch

from panovlm.directions import direction_name, view_tag
from panovlm.models.fusion import IGNORE_INDEX, expand_vision_placeholders, vision_span
from panovlm.models.tiny import tiny_config, tiny_model, tiny_processor, tiny_tokenizer


def test_vision_span_puts_each_tag_before_its_views_copies():
    assert vision_span(9, 2, 3) == [9, 9, 9, 9, 9, 9]
    assert vision_span(9, 2, 3, [[5], [6, 7]]) == [5, 9, 9, 9, 6, 7, 9, 9, 9]
    with pytest.raises(ValueError, match="view_tag_ids has 1 entries for 2 views"):
        vision_span(9, 2, 3, [[5]])


def test_expanding_with_tags_keeps_left_padding_and_masks_the_span():
    ids = torch.tensor([[0, 0, 1, 9, 2], [0, 1, 3, 9, 2]])  # left padded, placeholder 9 at different columns
    mask = torch.tensor([[0, 0, 1, 1, 1], [0, 1, 1, 1, 1]])
    labels = torch.tensor([[-100, -100, -100, -100, 2], [-100, -100, -100, -100, 2]])
    span = vision_span(9, 2, 2, [[5], [6]])  # [5, 9, 9, 6, 9, 9]
    new_ids, new_mask, new_labels = expand_vision_placeholders(ids, 9, span, mask, labels)
    assert new_ids.tolist() == [[0, 0, 1, 5, 9, 9, 6, 9, 9, 2], [0, 1, 3, 5, 9, 9, 6, 9, 9, 2]]
    assert new_mask.tolist() == [[0, 0, 1, 1, 1, 1, 1, 1, 1, 1], [0, 1, 1, 1, 1, 1, 1, 1, 1, 1]]
    assert (new_labels[:, 3:9] == IGNORE_INDEX).all() and new_labels[:, -1].tolist() == [2, 2]
    plain = expand_vision_placeholders(ids, 9, 4, mask, labels)
    assert all(torch.equal(a, b) for a, b in zip(plain, expand_vision_placeholders(ids, 9, [9] * 4, mask, labels), strict=True))


def test_tags_name_each_views_direction():
    config = tiny_config(test=True, view_tags=True)
    plan = config.view_plan()
    assert [view_tag(v) for v in plan.views][:4] == ["panorama", "front", "front-right", "right"]
    tokenizer = tiny_tokenizer()
    assert config.view_tag_ids == [tokenizer.encode(" " + view_tag(v), add_special_tokens=False) for v in plan.views]
    assert direction_name(-90.0, 0.0) == "left" and direction_name(0.0, 70.0) == "above"
    assert tiny_config(test=True).view_tag_ids is None  # off by default


def test_tags_on_without_ids_is_a_clear_error():
    config = tiny_config(test=True)
    config.view_tags = True
    with pytest.raises(ValueError, match="view_tags is on but view_tag_ids is not set"):
        config.tag_ids()
    with pytest.raises(ValueError, match="view_tag_ids must be 9 lists of token ids"):
        tiny_config(test=True, view_tags=True, view_tag_ids=[[1]])


def test_processor_and_model_expand_to_the_same_tagged_sequence(tmp_path):
    model = tiny_model(test=True, view_tags=True).eval()
    processor = tiny_processor(test=True, config=model.config)
    pixel_values = torch.randn(2, 9, 3, 64, 64)
    compact = processor(text=["What is to your left?", "Describe the scene."], images=None)
    vid = processor.vision_token_id
    ids = torch.cat([torch.full((2, 1), vid), compact["input_ids"]], dim=1)  # one placeholder per row
    mask = torch.cat([torch.ones(2, 1, dtype=compact["attention_mask"].dtype), compact["attention_mask"]], dim=1)
    expanded_ids, expanded_mask, _ = processor.expand_vision(ids, mask)
    span = processor.vision_span
    assert len(span) == 9 * model.config.vision_tokens_per_view + sum(len(t) for t in model.config.view_tag_ids)
    assert expanded_ids.shape[1] == ids.shape[1] + len(span) - 1
    with torch.no_grad():
        by_model = model(pixel_values=pixel_values, input_ids=ids, attention_mask=mask).logits[:, -1]
        by_processor = model(pixel_values=pixel_values, input_ids=expanded_ids, attention_mask=expanded_mask).logits[:, -1]
    assert torch.equal(by_model, by_processor)
    processor.save_pretrained(tmp_path)
    from panovlm.models.processing_panollava import PanoLLaVaProcessor

    assert PanoLLaVaProcessor.from_pretrained(tmp_path).view_tag_ids == model.config.view_tag_ids
