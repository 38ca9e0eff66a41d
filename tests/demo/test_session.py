"""The demo's model side: streamed answers, attention shares over views, upload guards."""

import numpy as np
import pytest
import torch
from PIL import Image

from panovlm.data.io import ImageLoadError
from panovlm.demo.attention import attention_overlay, eager_attention, view_attention
from panovlm.demo.session import Answer, DemoSession
from panovlm.evaluation.generation import GenerationSettings, generate_batch


@pytest.fixture(scope="module")
def session(demo_model_dir):
    return DemoSession.from_folder(demo_model_dir, max_upload_mb=0.05)


@pytest.fixture(scope="module")
def pano(real_panoramas):
    return real_panoramas[1]  # the smallest file, under the 0.05 MB upload cap


def _run(session, erp, question, settings):
    pieces = list(session.answer(erp, question, settings))
    assert isinstance(pieces[-1], Answer) and all(isinstance(p, str) for p in pieces[:-1])
    return pieces[:-1], pieces[-1]


def test_streamed_answer_is_the_evaluation_answer(session, pano):
    settings = GenerationSettings(max_new_tokens=8)
    erp = session.load_panorama(pano)
    pieces, answer = _run(session, erp, "What is to your left?", settings)
    expected = generate_batch(session.model, session.processor, ["What is to your left?"], [pano], settings)[0]
    assert answer.text and answer.text == expected
    assert "".join(pieces).strip() == answer.text


def test_attention_shares_sum_to_one_over_views_and_overlay_keeps_the_size(session, pano):
    erp = session.load_panorama(pano)
    _, answer = _run(session, erp, "What is behind you?", GenerationSettings(max_new_tokens=6))
    att = answer.attention
    views = len(session.plan)
    assert att.shares.shape == (views,) and np.all(att.shares >= 0) and att.shares.sum() == pytest.approx(1.0)
    assert att.tokens.shape[0] == views and att.tokens.sum() == pytest.approx(1.0)
    assert 0.0 < att.vision_share <= 1.0
    assert answer.overlay.shape == erp.shape and answer.overlay.dtype == np.uint8
    assert not np.array_equal(answer.overlay, erp)


def test_attention_is_the_models_own_attention_on_the_vision_positions(session, pano):
    """Recompute the shares by hand from one eager forward pass: the same numbers."""
    model, processor = session.model, session.processor
    inputs = processor(text=["What is above you?"], images=[str(pano)], return_tensors="pt")
    prompt = inputs["input_ids"].shape[1]
    sequences = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    att = view_attention(model, sequences, inputs["pixel_values"], prompt, len(session.plan))
    with eager_attention(model.language_model), torch.no_grad():
        out = model(pixel_values=inputs["pixel_values"], input_ids=sequences, output_attentions=True)
    vision = (sequences[0] == model.vision_token_id).nonzero().flatten()
    rows = list(range(prompt - 1, sequences.shape[1] - 1))
    per_token = torch.stack([a[0].mean(0)[rows][:, vision].mean(0) for a in out.attentions]).mean(0)
    by_view = per_token.reshape(len(session.plan), -1).sum(1)
    np.testing.assert_allclose(att.shares, (by_view / by_view.sum()).numpy(), rtol=1e-5, atol=1e-7)
    assert model.language_model.config._attn_implementation != "eager"  # restored after the pass


def test_views_are_what_the_model_receives(session, pano):
    erp = session.load_panorama(pano)
    views = session.model_views(erp)
    assert len(views) == len(session.plan)
    picture, label = views[0]
    assert picture.dtype == np.uint8 and picture.shape[2] == 3 and label.startswith("global")
    pixels = session.processor.image_processor.views_from_array(erp)[0]  # (3, S, S) normalised
    back = (torch.from_numpy(picture).permute(2, 0, 1).float() / 255.0 - 0.5) / 0.5
    assert (back - pixels).abs().max() < 1.5 / 255 / 0.5


def test_pca_painting_is_a_panorama_picture(session, pano):
    painting = session.pca_painting(session.load_panorama(pano))
    assert painting.ndim == 3 and painting.shape[1] == 2 * painting.shape[0] and painting.dtype == np.uint8


def test_uploads_that_are_too_big_not_images_or_not_panoramas_are_refused(session, tmp_path):
    big = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (256, 512, 3), dtype=np.uint8)).save(big)
    with pytest.raises(ImageLoadError, match="at most 0.05 MB"):
        session.load_panorama(big)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image at all")
    with pytest.raises(ImageLoadError, match="not an image file"):
        session.load_panorama(broken)
    square = tmp_path / "square.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(square)
    with pytest.raises(ImageLoadError, match="2:1"):
        session.load_panorama(square)


def test_empty_question_is_refused(session, pano):
    with pytest.raises(ValueError, match="question is empty"):
        list(session.answer(session.load_panorama(pano), "  ", GenerationSettings()))


def test_overlay_without_a_token_grid_paints_view_shares(session, pano):
    from panovlm.demo.attention import ViewAttention

    v = len(session.plan)
    shares = np.zeros(v)
    shares[1] = 1.0  # all attention on the first tile (yaw 0)
    att = ViewAttention(shares=shares, tokens=shares[:, None], vision_share=1.0)
    erp = np.full((64, 128, 3), 100, np.uint8)
    overlay = attention_overlay(erp, session.plan, att, grid_hw=None)
    assert overlay[32, 64, 0] > 100 > overlay[32, 64, 2]  # the front is painted (red up, blue down)
    assert np.array_equal(overlay[32, 0], erp[32, 0])  # behind is not
