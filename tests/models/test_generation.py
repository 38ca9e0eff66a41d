"""Generation through transformers' GenerationMixin (the seed's PanoramaVLM.generate: tests/compat)."""

import threading

import pytest
import torch
from transformers import TextIteratorStreamer

from panovlm.models.tiny import tiny_model, tiny_processor

GREEDY = {"do_sample": False, "max_new_tokens": 6, "min_new_tokens": 6}


@pytest.fixture(scope="module")
def model():
    return tiny_model(test=True).eval()


@pytest.fixture(scope="module")
def processor():
    return tiny_processor(test=True)


@pytest.fixture(scope="module")
def inputs(processor):
    images = [torch.randint(0, 255, (64, 128, 3), dtype=torch.uint8).numpy() for _ in range(3)]
    texts = ["Describe.", "What is to your left, and what is behind you?", "Is there anything above you?"]
    return processor(text=texts, images=images)


def test_batch_greedy_equals_each_sample_alone(model, inputs):
    batch = model.generate(**inputs, **GREEDY)
    prompt = inputs["input_ids"].shape[1]
    for i in range(3):
        keep = inputs["attention_mask"][i].bool()
        single = model.generate(pixel_values=inputs["pixel_values"][i:i + 1],
                                input_ids=inputs["input_ids"][i:i + 1, keep],
                                attention_mask=inputs["attention_mask"][i:i + 1, keep], **GREEDY)
        assert torch.equal(batch[i, prompt:], single[0, int(keep.sum()):])


def test_vision_runs_once_and_cache_matches_no_cache(model, inputs):
    calls = []
    handle = model.vision_tower.register_forward_hook(lambda *a: calls.append(1))
    try:
        cached = model.generate(**inputs, **GREEDY)
        assert len(calls) == 1  # pixel_values dropped after prefill
        uncached = model.generate(**inputs, use_cache=False, **GREEDY)
    finally:
        handle.remove()
    assert torch.equal(cached, uncached)


def test_beam_search_sampling_and_streaming(model, processor, inputs):
    beams = model.generate(**inputs, num_beams=2, do_sample=False, max_new_tokens=4, min_new_tokens=4)
    assert beams.shape == (3, inputs["input_ids"].shape[1] + 4)
    torch.manual_seed(0)
    sampled = model.generate(**inputs, do_sample=True, top_p=0.9, temperature=0.7, max_new_tokens=4)
    assert sampled.shape[0] == 3
    streamer = TextIteratorStreamer(processor.tokenizer, skip_prompt=True)
    one = {k: v[:1] for k, v in inputs.items()}
    thread = threading.Thread(target=model.generate, kwargs={**one, **GREEDY, "streamer": streamer})
    thread.start()
    streamed = "".join(streamer)
    thread.join()
    reference = model.generate(**one, **GREEDY)
    assert streamed == processor.tokenizer.decode(reference[0, one["input_ids"].shape[1]:])


def test_compact_prompt_is_expanded_like_the_processor(model, processor, inputs):
    compact = processor(text=["Describe."], images=[torch.zeros(64, 128, 3, dtype=torch.uint8).numpy()],
                        expand_vision=False)
    expanded = processor(text=["Describe."], images=[torch.zeros(64, 128, 3, dtype=torch.uint8).numpy()])
    a = model.generate(**compact, **GREEDY)
    b = model.generate(**expanded, **GREEDY)
    assert torch.equal(a, b)


def test_generate_checks_a_given_view_plan_against_the_config(model, processor, inputs):
    from panovlm.plans import build_view_plan

    first = {k: v[:1] for k, v in inputs.items()}
    same = model.generate(**first, view_plan=processor.view_plan, **GREEDY)
    assert torch.equal(same, model.generate(**first, **GREEDY))
    other = build_view_plan("anyres_e2p", (64, 64), fov_deg=80.0, overlap_ratio=0.4)  # 9 views, other directions
    assert len(other) == len(processor.view_plan)
    with pytest.raises(ValueError, match=r"not the plan of this model's config .*: view 1 is a tile at yaw 0, pitch -5"):
        model.generate(**first, view_plan=other, **GREEDY)

