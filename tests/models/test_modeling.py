"""PanoLLaVaForConditionalGeneration: shapes through every resampler, stages, checks, save/load, heads."""

import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoModelForImageTextToText

from panovlm.models import (
    PanoLLaVaConfig,
    PanoLLaVaForConditionalGeneration,
    PanoLLaVaForFeatureExtraction,
    PanoLLaVaForVICReg,
)
from panovlm.models.fusion import build_generation_prompt, build_training_example, pad_batch
from panovlm.models.tiny import tiny_model, tiny_tokenizer
from panovlm.plans import build_view_plan

QUERY_OPTIONS = {"qformer": {"resampler_num_queries": 4, "resampler_num_heads": 2},
                 "perceiver": {"resampler_num_queries": 4, "resampler_num_heads": 2, "resampler_depth": 1}}
OPTIONS = {**QUERY_OPTIONS, "bimamba": {"resampler_num_layers": 1, "resampler_hidden_dim": 16, "resampler_d_state": 4}}


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer()


@pytest.fixture(scope="module")
def model():
    return tiny_model(test=True).eval()


def _batch(tok, n=2, answer="A red cube."):
    examples = [build_training_example(tok, [{"role": "user", "content": "Describe" + " it" * i},
                                             {"role": "assistant", "content": answer}], 96) for i in range(n)]
    ids = pad_batch([e["input_ids"] for e in examples], tok.pad_token_id, "right")
    labels = pad_batch([e["labels"] for e in examples], -100, "right")
    mask = pad_batch([[1] * len(e["input_ids"]) for e in examples], 0, "right")
    return ids, mask, labels


@pytest.mark.parametrize("resampler", ["mlp", "qformer", "perceiver", "bimamba"])
def test_finetune_shapes_through_every_resampler(tok, resampler):
    m = tiny_model(test=True, resampler_type=resampler, **OPTIONS.get(resampler, {}))
    ids, mask, labels = _batch(tok)
    pixel_values = torch.randn(2, 9, 3, 64, 64)
    out = m(pixel_values=pixel_values, input_ids=ids, attention_mask=mask, labels=labels, stage="resampler")
    per_view = 4 if resampler in QUERY_OPTIONS else 16
    assert m.config.vision_tokens_per_view == per_view
    assert out.logits.shape == (2, ids.shape[1] + 9 * per_view - 1, m.config.text_config.vocab_size)
    assert torch.isfinite(out.loss) and out.loss is out.ar_loss
    out.loss.backward()
    assert m.resampler.parameters().__next__().grad is not None


def test_vision_stage_loss_is_finite_and_trains_the_right_modules():
    m = tiny_model(test=True)
    out = m(pixel_values=torch.randn(2, 9, 3, 64, 64), stage="vision")
    assert torch.isfinite(out.loss) and out["vicreg_loss"] is out.loss
    assert out.vicreg_weight == 1.0 and out.vicreg_dim == 32 and out.num_pairs > 0
    assert not out.vicreg_raw.requires_grad
    out.loss.backward()
    assert all(p.grad is not None for p in m.vicreg_projector.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in m.resampler.parameters())
    assert all(p.grad is None for p in m.language_model.parameters())


def test_vision_stage_with_a_query_resampler_fails_clearly():
    m = tiny_model(test=True, resampler_type="qformer", **QUERY_OPTIONS["qformer"])
    with pytest.raises(ValueError, match="no token grid"):
        m(pixel_values=torch.randn(1, 9, 3, 64, 64), stage="vision")


def test_boundary_checks(model, tok):
    ids, mask, labels = _batch(tok)
    with pytest.raises(ValueError, match=r"stage must be one of \['vision', 'resampler', 'finetune'\]"):
        model(pixel_values=torch.randn(2, 9, 3, 64, 64), stage="pretrain")
    with pytest.raises(ValueError, match="has 8 views per panorama but config.view_plan\\(\\) has 9"):
        model(pixel_values=torch.randn(2, 8, 3, 64, 64), input_ids=ids)
    with pytest.raises(ValueError, match="placeholders but no pixel_values"):
        model(input_ids=ids)
    no_placeholder = ids.masked_fill(ids == model.config.vision_token_id, tok.pad_token_id)
    with pytest.raises(ValueError, match=r"found \[0, 0\]"):
        model(pixel_values=torch.randn(2, 9, 3, 64, 64), input_ids=no_placeholder)
    with pytest.raises(ValueError, match="pixel_values must be"):
        model(pixel_values=torch.randn(2, 3, 64), input_ids=ids)


def test_placeholder_count_must_match_the_features(model, tok):
    from panovlm.models.fusion import expand_vision_placeholders

    ids, mask, _ = _batch(tok)
    vid = model.config.vision_token_id
    ids, mask, _ = expand_vision_placeholders(ids, vid, 9 * 16 - 1, mask)  # one copy short of 9 views x 16 tokens
    with pytest.raises(ValueError, match=r"needs 144 <\|vision\|> placeholder tokens, one per vision feature "
                                         r"\(9 views x 16 tokens\).*found \[143, 143\]"):
        model(pixel_values=torch.randn(2, 9, 3, 64, 64), input_ids=ids, attention_mask=mask)


def test_batch_view_plan_wins(model, tok):
    plan = build_view_plan("e2p", (64, 64), 90.0, 0.5)
    ids, mask, _ = _batch(tok)
    with torch.no_grad():
        out = model(pixel_values=torch.randn(2, len(plan), 3, 64, 64), input_ids=ids, view_plan=plan)
    assert out.logits.shape[1] == ids.shape[1] + len(plan) * 16 - 1


def test_blind_mode_is_the_bare_language_model(model, tok):
    ids = torch.tensor([build_generation_prompt(tok, "Describe.", add_vision=False)])
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids).logits, model.language_model(input_ids=ids).logits)


def test_training_and_generation_place_vision_tokens_identically(model, tok):
    """The prompt part of a training sequence and the generation prompt give the same logits."""
    messages = [{"role": "user", "content": "What is behind you?"}, {"role": "assistant", "content": "A cube."}]
    train = build_training_example(tok, messages, 96)
    prompt = build_generation_prompt(tok, messages[:1])
    pixel_values = torch.randn(1, 9, 3, 64, 64)
    with torch.no_grad():
        train_logits = model(pixel_values=pixel_values, input_ids=torch.tensor([train["input_ids"]])).logits
        prompt_logits = model(pixel_values=pixel_values, input_ids=torch.tensor([prompt])).logits
    n = prompt_logits.shape[1]
    assert n == len(prompt) + 9 * 16 - 1
    torch.testing.assert_close(train_logits[:, :n], prompt_logits, rtol=1e-5, atol=1e-5)


def test_save_load_gives_identical_logits(model, tok, tmp_path):
    ids, mask, _ = _batch(tok)
    pixel_values = torch.randn(2, 9, 3, 64, 64)
    model.save_pretrained(tmp_path)
    assert AutoConfig.from_pretrained(tmp_path).model_type == "panollava"
    with torch.no_grad():
        ref = model(pixel_values=pixel_values, input_ids=ids, attention_mask=mask).logits
        for cls in (PanoLLaVaForConditionalGeneration, AutoModelForImageTextToText, AutoModel):
            loaded = cls.from_pretrained(tmp_path).eval()
            assert type(loaded) is PanoLLaVaForConditionalGeneration
            assert torch.equal(loaded(pixel_values=pixel_values, input_ids=ids, attention_mask=mask).logits, ref)
    assert loaded.language_model.lm_head.weight is loaded.language_model.model.embed_tokens.weight


def test_heads_reuse_the_modules_and_load_the_composite(model, tmp_path):
    model.save_pretrained(tmp_path)
    pixel_values = torch.randn(2, 9, 3, 64, 64)
    vicreg = PanoLLaVaForVICReg.from_pretrained(tmp_path).eval()
    features = PanoLLaVaForFeatureExtraction.from_pretrained(tmp_path).eval()
    assert type(vicreg.resampler) is type(model.resampler) and type(features.vision_tower) is type(model.vision_tower)
    with torch.no_grad():
        torch.testing.assert_close(vicreg(pixel_values).loss, model(pixel_values=pixel_values, stage="vision").loss)
        tokens = model.encode_views(pixel_values).flatten(1, 2)
        for pooling, expected in (("mean", tokens.mean(1)), ("max", tokens.amax(1)), ("first", tokens[:, 0])):
            out = features(pixel_values, pooling=pooling)
            assert out.pooled_output.shape == (2, 32)
            torch.testing.assert_close(out.pooled_output, expected)
    with pytest.raises(ValueError, match="pooling must be one of"):
        features(pixel_values, pooling="median")


def test_config_class_and_module_groups(model):
    assert isinstance(model.config, PanoLLaVaConfig)
    names = {name for name, _ in model.named_children()}
    assert {"vision_tower", "resampler", "vicreg_projector", "projector", "language_model"} <= names


def test_embedding_scale_projector_init_matches_the_word_embeddings():
    default = tiny_model(test=True)
    matched = tiny_model(test=True, projector_init="embedding_scale")
    embeddings = matched.language_model.get_input_embeddings().weight
    tokens = torch.nn.functional.layer_norm(torch.randn(4096, matched.config.latent_dimension),
                                            (matched.config.latent_dimension,))
    with torch.no_grad():
        out = matched.projector.linear(tokens)  # (N, Dlm)
        out_default = default.projector.linear(tokens)
    assert out.std().item() == pytest.approx(embeddings.std().item(), rel=0.1)
    assert out_default.std().item() > 3 * embeddings.std().item()  # nn.Linear's init: far off the text scale
    assert torch.count_nonzero(matched.projector.linear.bias) == 0
    with pytest.raises(ValueError, match="projector_init"):
        tiny_model(test=True, projector_init="xavier")
