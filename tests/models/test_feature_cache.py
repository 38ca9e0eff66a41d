"""Frozen-encoder feature cache: same losses and gradients, keys that never go stale."""

import pytest
import torch

from panovlm.models.feature_cache import FeatureCache, is_stochastic, weights_digest
from panovlm.models.fusion import build_training_example, pad_batch
from panovlm.models.tiny import tiny_model, tiny_tokenizer


def _batch(n=2):
    tok = tiny_tokenizer()
    examples = [build_training_example(tok, [{"role": "user", "content": "Describe" + " it" * i},
                                             {"role": "assistant", "content": "a small red star"}], 96)
                for i in range(n)]
    ids = pad_batch([e["input_ids"] for e in examples], tok.pad_token_id, "right")
    labels = pad_batch([e["labels"] for e in examples], -100, "right")
    mask = pad_batch([[1] * len(e["input_ids"]) for e in examples], 0, "right")
    torch.manual_seed(1)
    return {"pixel_values": torch.randn(n, 9, 3, 64, 64), "input_ids": ids, "attention_mask": mask, "labels": labels}


def _frozen_model():
    model = tiny_model(test=True)
    model.vision_tower.requires_grad_(False)
    return model


def _loss_and_grads(model, batch, stage):
    model.zero_grad(set_to_none=True)
    inputs = batch if stage != "vision" else {"pixel_values": batch["pixel_values"]}
    loss = model(**inputs, stage=stage).loss
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("stage", ["vision", "resampler"])
def test_same_loss_and_gradients_with_and_without_the_cache(stage):
    batch = _batch()
    model = _frozen_model()
    plain_loss, plain_grads = _loss_and_grads(model, batch, stage)
    cache = FeatureCache(2**26)
    model.vision_tower.feature_cache = cache
    for expected_hits in (0, 18):  # first pass fills the cache, second is served from it
        loss, grads = _loss_and_grads(model, batch, stage)
        assert cache.hits == expected_hits
        torch.testing.assert_close(loss, plain_loss, rtol=1e-5, atol=1e-6)
        assert grads.keys() == plain_grads.keys() and grads
        for name in grads:
            torch.testing.assert_close(grads[name], plain_grads[name], rtol=1e-4, atol=1e-6)
    assert cache.misses == 18 and len(cache) == 18


def test_changed_pixels_weights_or_dtype_never_reuse_an_entry():
    model = _frozen_model()
    cache = FeatureCache(2**26)
    tower = model.vision_tower
    tower.feature_cache = cache
    views = torch.randn(3, 3, 64, 64)
    first = tower(views)
    tower(views.clone())
    assert (cache.hits, cache.misses) == (3, 3)
    shifted = views.clone()
    shifted[0, 0, 0, 0] += 1e-3  # one pixel of one view
    tower(shifted)
    assert (cache.hits, cache.misses) == (5, 4)
    with torch.no_grad():
        next(tower.model.parameters()).mul_(1.5)  # the encoder changed in place: every entry is stale
    changed = tower(views)
    assert cache.misses == 7 and not torch.allclose(changed, first)
    tower.feature_cache = None
    torch.testing.assert_close(changed, tower(views))
    tower.feature_cache = cache
    tower.double()
    tower(views.double())
    assert cache.misses == 10


def test_trainable_or_stochastic_encoders_are_not_cached():
    model = tiny_model(test=True)  # vision tower trainable
    cache = FeatureCache(2**26)
    model.vision_tower.feature_cache = cache
    model.vision_tower(torch.randn(2, 3, 64, 64))
    assert cache.hits + cache.misses == 0
    model.vision_tower.requires_grad_(False)
    model.vision_tower.model.config.attention_dropout = 0.1
    assert is_stochastic(model.vision_tower.model)
    model.vision_tower.train()  # a frozen tower runs as at inference (VisionBackbone.train) ...
    assert not model.vision_tower.model.training
    model.vision_tower.model.train()  # ... but if something puts it in train mode, dropout is live: no cache
    model.vision_tower(torch.randn(2, 3, 64, 64))
    assert cache.hits + cache.misses == 0
    model.vision_tower.eval()  # dropout is off in eval mode: cached again
    model.vision_tower(torch.randn(2, 3, 64, 64))
    assert cache.misses == 2


def test_memory_cap_evicts_least_recently_used():
    model = _frozen_model()
    tower = model.vision_tower
    per_view = tower.num_tokens * tower.hidden_size * 4
    cache = FeatureCache(3 * per_view)
    tower.feature_cache = cache
    views = torch.randn(5, 3, 64, 64)
    out = tower(views)  # a batch larger than the cap still returns every view
    assert out.shape == (5, tower.num_tokens, tower.hidden_size)
    assert len(cache) == 3 and cache.bytes <= cache.max_bytes
    tower(views[4:])
    assert cache.hits == 1
    with pytest.raises(ValueError, match="max_bytes"):
        FeatureCache(0)


def test_weights_digest_depends_on_values():
    a, b = tiny_model(test=True, seed=0), tiny_model(test=True, seed=0)
    assert weights_digest(a.vision_tower) == weights_digest(b.vision_tower)
    c = tiny_model(test=True, seed=1)
    assert weights_digest(a.vision_tower) != weights_digest(c.vision_tower)
