"""PanoAdapter on tiny random-init bases: forward + backward with the overlap loss, guard, LoRA, generation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from panovlm.adapt.data import AdaptCollator

MSGS = [{"role": "user", "content": "What is in front?"}, {"role": "assistant", "content": "A red cube."}]


def _erp(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (64, 128, 3), dtype=np.uint8)


def _batch(adapter, n: int = 2) -> dict:
    items = []
    for i in range(n):
        ids, labels = adapter.processor.training_ids(MSGS, 4096)
        items.append({"input_ids": ids, "labels": labels, "views": adapter.processor.render(_erp(i))})
    batch = AdaptCollator(adapter.processor)(items)
    batch.pop("skipped")
    return batch


def test_forward_backward_with_overlap(base, make_adapter) -> None:
    adapter = make_adapter(base)
    assert adapter.visual_tokens == 9 * 4  # 1 global + 8 tiles, 56 px -> 2 x 2 tokens each
    adapter.check_overlap()
    out = adapter(**_batch(adapter), overlap=True)
    assert torch.isfinite(out.ar_loss) and torch.isfinite(out.vicreg_loss)
    (out.ar_loss + 0.1 * out.vicreg_loss).backward()
    projector = dict(adapter.base.named_parameters())
    grads = [p.grad for n, p in projector.items() if n.startswith(adapter.family.projector_names[0])]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)


def test_labels_only_on_the_answer(make_adapter) -> None:
    adapter = make_adapter("tiny-qwen2_5_vl")
    ids, labels = adapter.processor.training_ids(MSGS, 4096)
    answer = adapter.tokenizer.decode([t for t, lab in zip(ids, labels, strict=True) if lab != -100])
    assert answer.startswith("A red cube.")
    text = adapter.tokenizer.decode(ids)
    assert text.index("Global view:") < text.index("View yaw 0, pitch 0:") < text.index("What is in front?")


def test_guard_refuses_plans_without_overlap(make_adapter) -> None:
    # The origin's Table-1 setting: 45 degree tiles at a 45 degree stride do not overlap.
    adapter = make_adapter("tiny-internvl", fov_deg=45.0, overlap_ratio=0.0)
    with pytest.raises(ValueError, match="do not overlap"):
        adapter.check_overlap()
    native = make_adapter("tiny-internvl", adapt_mode="native")
    with pytest.raises(ValueError, match="native"):
        native.check_overlap()


def test_strip_mode_runs(make_adapter) -> None:
    adapter = make_adapter("tiny-qwen2_5_vl", overlap_mode="strip")
    assert torch.isfinite(adapter(**_batch(adapter), overlap=True).vicreg_loss)


def test_lora_merge_keeps_logits(base, make_adapter) -> None:
    adapter = make_adapter(base)
    adapter.add_lora()
    with torch.no_grad():  # non-zero adapters, or merging would be trivially exact
        for name, param in adapter.base.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.05)
    adapter.eval()
    batch = _batch(adapter)
    with torch.no_grad():
        before = adapter(**batch).logits
        adapter.merge_lora()
        after = adapter(**batch).logits
    assert not any("lora_" in n for n, _ in adapter.base.named_parameters())
    torch.testing.assert_close(after, before, atol=1e-4, rtol=1e-4)


def test_batch_generation_equals_single(base, make_adapter) -> None:
    adapter = make_adapter(base).eval()
    prompts = [[{"role": "user", "content": "What is in front?"}], [{"role": "user", "content": "Describe it all."}]]
    images = [_erp(0), _erp(1)]
    kwargs = {"max_new_tokens": 6, "do_sample": False}
    both = adapter.answer(prompts, images, kwargs)
    single = [adapter.answer([p], [im], kwargs)[0] for p, im in zip(prompts, images, strict=True)]
    assert both == single


def test_save_load_round_trip(tmp_path, make_adapter) -> None:
    from panovlm.adapt import PanoAdapter

    adapter = make_adapter("tiny-qwen2_5_vl").eval()
    adapter.save_pretrained(tmp_path)
    loaded = PanoAdapter.from_pretrained(tmp_path).eval()
    assert loaded.plan == adapter.plan and loaded.visual_tokens == adapter.visual_tokens
    batch = _batch(adapter)
    with torch.no_grad():
        torch.testing.assert_close(loaded(**batch).logits, adapter(**batch).logits)
