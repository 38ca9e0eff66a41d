"""The labelled-positions loss equals the LM's own loss, gradients included."""

import pytest
import torch

from panovlm.models.fusion import build_training_example, pad_batch
from panovlm.models.lm_loss import supports_labelled_loss
from panovlm.models.tiny import tiny_model, tiny_tokenizer


def _batch(tok):
    examples = [build_training_example(tok, [{"role": "user", "content": "Describe" + " it" * i},
                                             {"role": "assistant", "content": "A red cube" + " here" * i}], 96)
                for i in range(3)]
    ids = pad_batch([e["input_ids"] for e in examples], tok.pad_token_id, "right")
    labels = pad_batch([e["labels"] for e in examples], -100, "right")
    mask = pad_batch([[1] * len(e["input_ids"]) for e in examples], 0, "right")
    return ids, mask, labels


def _loss_and_grads(model, loss_only, **inputs):
    model.zero_grad()
    out = model(**inputs, stage="finetune", loss_only=loss_only)
    out.loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return out, grads


def test_loss_only_matches_the_full_loss_and_its_gradients():
    model = tiny_model(test=True)
    ids, mask, labels = _batch(tiny_tokenizer())
    inputs = {"pixel_values": torch.randn(3, 9, 3, 64, 64), "input_ids": ids, "attention_mask": mask, "labels": labels}
    full, full_grads = _loss_and_grads(model, False, **inputs)
    sparse, sparse_grads = _loss_and_grads(model, True, **inputs)
    assert sparse.logits is None and full.logits is not None
    assert torch.allclose(sparse.loss, full.loss, atol=1e-6)
    assert full_grads.keys() == sparse_grads.keys() and "vision_tower.model.embeddings.patch_embedding.weight" in full_grads
    for name, grad in full_grads.items():
        assert torch.allclose(sparse_grads[name], grad, atol=1e-6), name


def test_loss_only_without_any_label_is_an_error():
    model = tiny_model(test=True)
    ids, mask, labels = _batch(tiny_tokenizer())
    with pytest.raises(ValueError, match="no supervised token"):
        model(pixel_values=torch.randn(3, 9, 3, 64, 64), input_ids=ids, attention_mask=mask,
              labels=torch.full_like(labels, -100), loss_only=True)


def test_heads_with_extra_scaling_keep_the_full_path():
    model = tiny_model(test=True)
    assert supports_labelled_loss(model.language_model)
    model.language_model.config.final_logit_softcapping = 30.0
    assert not supports_labelled_loss(model.language_model)


def test_loss_only_sees_the_lora_adapters():
    pytest.importorskip("peft")
    from panovlm.models.lora import apply_lora

    peft_model = apply_lora(tiny_model(test=True), r=4, alpha=8, dropout=0.0)
    for name, param in peft_model.named_parameters():
        if "lora_B" in name:  # B starts at zero; make the adapters change the output
            torch.nn.init.normal_(param, std=0.2)
    model = peft_model.get_base_model().eval()
    ids, mask, labels = _batch(tiny_tokenizer())
    inputs = {"pixel_values": torch.randn(3, 9, 3, 64, 64), "input_ids": ids, "attention_mask": mask, "labels": labels}
    with torch.no_grad():
        full = model(**inputs, stage="finetune").loss
        sparse = model(**inputs, stage="finetune", loss_only=True).loss
        with peft_model.disable_adapter():
            plain = model(**inputs, stage="finetune", loss_only=True).loss
    assert torch.allclose(sparse, full, atol=1e-6) and abs(sparse - plain) > 1e-4
