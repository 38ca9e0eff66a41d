"""Chat template, <|vision|> placement, label masking, truncation, placeholder expansion."""

import pytest
import torch

from panovlm.models.fusion import (
    CHATML_TEMPLATE,
    IGNORE_INDEX,
    build_generation_prompt,
    build_training_example,
    ensure_chat_template,
    ensure_vision_token,
    expand_vision_placeholders,
)
from panovlm.models.tiny import tiny_tokenizer

CONVERSATION = [
    {"role": "user", "content": "Describe the scene."},
    {"role": "assistant", "content": "A red cube in front."},
    {"role": "user", "content": "And behind you?"},
    {"role": "assistant", "content": "Nothing."},
]


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer()


def _labelled_text(tok, example):
    return tok.decode([t for t, lab in zip(example["input_ids"], example["labels"], strict=True) if lab != IGNORE_INDEX])


def test_labels_cover_only_assistant_turns(tok):
    ex = build_training_example(tok, CONVERSATION, 256, system_prompt="Be brief.")
    assert len(ex["input_ids"]) == len(ex["labels"])
    assert _labelled_text(tok, ex) == "A red cube in front.<|im_end|>Nothing.<|im_end|>"
    text = tok.decode(ex["input_ids"])
    assert text.startswith("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n<|vision|>\nDescribe")
    assert text.count("<|vision|>") == 1


def test_placeholder_is_in_the_first_user_turn_only(tok):
    ex = build_training_example(tok, CONVERSATION, 256)
    vision_id = tok.convert_tokens_to_ids("<|vision|>")
    pos = ex["input_ids"].index(vision_id)
    assert tok.decode(ex["input_ids"][:pos]) == "<|im_start|>user\n"
    assert ex["labels"][pos] == IGNORE_INDEX


def test_generation_prompt_is_the_training_prefix(tok):
    messages = CONVERSATION[:2]
    ex = build_training_example(tok, messages, 256, system_prompt="Sys.")
    prompt = build_generation_prompt(tok, messages[:1], system_prompt="Sys.")
    assert ex["input_ids"][: len(prompt)] == prompt
    assert all(lab == IGNORE_INDEX for lab in ex["labels"][: len(prompt)])
    assert ex["labels"][len(prompt)] != IGNORE_INDEX
    assert build_generation_prompt(tok, "Describe the scene.", system_prompt="Sys.") == prompt


def test_blind_prompt_has_no_placeholder(tok):
    prompt = build_generation_prompt(tok, "Describe.", add_vision=False)
    assert tok.convert_tokens_to_ids("<|vision|>") not in prompt
    with pytest.raises(ValueError, match="add_vision=False"):
        build_generation_prompt(tok, "<|vision|> Describe.", add_vision=False)


def test_truncation_that_removes_every_label_names_the_sample(tok):
    long_user = [{"role": "user", "content": "word " * 60}, {"role": "assistant", "content": "Short."}]
    with pytest.raises(ValueError, match="sample 'pano_7' has no assistant tokens"):
        build_training_example(tok, long_user, 32, sample_id="pano_7")
    ex = build_training_example(tok, CONVERSATION, 40)
    assert len(ex["input_ids"]) == 40 and any(lab != IGNORE_INDEX for lab in ex["labels"])


def test_truncation_never_cuts_the_placeholder(tok):
    with pytest.raises(ValueError, match="would cut the <\\|vision\\|> placeholder"):
        build_training_example(tok, [{"role": "system", "content": "x " * 20}] + CONVERSATION, 8)


def test_default_template_only_when_missing(tok):
    ensure_chat_template(tok)
    assert tok.chat_template == CHATML_TEMPLATE
    custom = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    tok.chat_template = custom
    ensure_chat_template(tok)
    assert tok.chat_template == custom
    tok.chat_template = None
    ensure_chat_template(tok)
    assert tok.chat_template == CHATML_TEMPLATE


def test_ensure_vision_token_adds_a_missing_token():
    tok = tiny_tokenizer()
    before = len(tok)
    token_id, added = ensure_vision_token(tok, "<|panorama|>")
    assert added and len(tok) == before + 1 and token_id == before
    assert ensure_vision_token(tok, "<|panorama|>") == (token_id, False)


def test_expand_keeps_left_padding_and_masks_labels():
    ids = torch.tensor([[0, 0, 5, 9, 6], [5, 7, 9, 8, 6]])  # pad 0, vision 9
    mask = (ids != 0).long()
    mask[1, 0] = 1
    labels = torch.tensor([[-100, -100, -100, -100, 6], [-100, -100, -100, 8, 6]])
    new_ids, new_mask, new_labels = expand_vision_placeholders(ids, 9, 4, mask, labels)
    assert new_ids.shape == (2, 8)
    assert new_ids[0].tolist() == [0, 0, 5, 9, 9, 9, 9, 6]
    assert new_mask[0].tolist() == [0, 0, 1, 1, 1, 1, 1, 1]
    assert new_labels[1].tolist() == [-100, -100, -100, -100, -100, -100, 8, 6]


def test_expand_requires_one_placeholder_per_row():
    ids = torch.tensor([[5, 9, 9], [5, 6, 7]])
    with pytest.raises(ValueError, match=r"exactly one vision placeholder .* found \[2, 0\]"):
        expand_vision_placeholders(ids, 9, 4)
