"""scripts/pretrain_tiny_lm.py: its text stands exactly where the model's vision tokens will be."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from panovlm.data.synth import DIRECTIONS, NOTHING
from panovlm.models.fusion import IGNORE_INDEX, vision_span
from panovlm.models.modeling_parts import tokens_per_view
from panovlm.models.tiny import tiny_config, tiny_tokenizer

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "pretrain_tiny_lm.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("pretrain_tiny_lm", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def config():
    return tiny_config()


def test_the_text_takes_the_place_of_the_vision_span(script, config):
    tok = tiny_tokenizer()
    scenes = script.TextScenes(tok, config)
    k = tokens_per_view(config)
    span = vision_span(config.vision_token_id, len(scenes.tags), k, config.tag_ids())
    for index in range(5):
        example, kinds = scenes.example(0, index)
        ids, labels = example["input_ids"], example["labels"]
        # the same slots as the model's expanded input: tags where tags are, content where vision tokens are
        at = next(i for i, t in enumerate(ids) if t == config.tag_ids()[0][0])
        laid = ids[at:at + len(span)]
        assert [s if s != config.vision_token_id else None for s in span] == \
               [t if s != config.vision_token_id else None for s, t in zip(span, laid, strict=True)]
        assert all(lab == IGNORE_INDEX for lab in labels[at:at + len(span)])
        assert "scene" in kinds and set(kinds) <= {"scene", "occupied", "empty"}
        assert any(lab != IGNORE_INDEX for lab in labels)


def test_each_view_holds_its_object_in_words(script, config):
    tok = tiny_tokenizer()
    scenes = script.TextScenes(tok, config)
    objects = [type("Obj", (), {"direction": "behind", "size": "small", "colour": "red", "shape": "star"})()]
    words = tok.decode(scenes.span(objects, np.random.default_rng(0)))
    assert scenes.tags == list(DIRECTIONS)
    assert "behind a small red star" in words
    assert words.count(NOTHING) == (len(DIRECTIONS) - 1) * tokens_per_view(config)


def test_the_text_stream_is_deterministic_and_the_evaluation_scenes_differ(script, config):
    scenes = script.TextScenes(tiny_tokenizer(), config)
    assert scenes.example(0, 3) == scenes.example(0, 3)
    train = {tuple(scenes.example(0, i)[0]["input_ids"]) for i in range(20)}
    held = {tuple(scenes.example(script.EVAL_SEED_OFFSET, i)[0]["input_ids"]) for i in range(20)}
    assert not train & held


def test_shuffled_slots_hold_the_same_words_in_a_seeded_order(script, config):
    tok = tiny_tokenizer()
    fixed, shuffled = script.TextScenes(tok, config), script.TextScenes(tok, config, "shuffled")
    k, width = tokens_per_view(config), len(config.tag_ids()[0]) + tokens_per_view(config)
    orders = set()
    for index in range(8):
        a, b = fixed.example(0, index)[0]["input_ids"], shuffled.example(0, index)[0]["input_ids"]
        assert len(a) == len(b) and shuffled.example(0, index) == shuffled.example(0, index)
        at = next(i for i, t in enumerate(a) if t == config.tag_ids()[0][0])
        for view in range(len(shuffled.tags)):
            lo = at + view * width + width - k
            assert sorted(a[lo:lo + k]) == sorted(b[lo:lo + k])  # the view's own words, nothing else
            orders.add(tuple(b[lo:lo + k]) == tuple(a[lo:lo + k]))
        assert a[:at] == b[:at] and a[at + len(shuffled.tags) * width:] == b[at + len(shuffled.tags) * width:]
    assert orders == {True, False}  # some views reordered, the all-"nothing" ones read the same
    with pytest.raises(ValueError, match="slot_order"):
        script.TextScenes(tok, config, "sorted")


def test_the_card_lists_every_run_of_a_continued_model(script):
    first = {"steps": 2000, "seed": 0, "lr": 1e-3, "batch_size": 32, "threads": 2, "train_seconds": 1803.0}
    last = {**first, "steps": 300, "seed": 5, "lr": 5e-4, "train_seconds": 600.0, "slot_order": "shuffled",
            "command": "python scripts/pretrain_tiny_lm.py --steps 300 --seed 5 --lr 0.0005 --from PREVIOUS "
                       "--slot-order shuffled", "previous": first, "view_tags": ["front"], "tokens_per_view": 4,
            "eval_scenes": 8, "pretrained": {"occupied": 0.9, "empty": 1.0, "scene": 1.0},
            "random_init": {"occupied": 0.8, "empty": 0.9, "scene": 0.7},
            "fixed_order": {"occupied": 0.9, "empty": 1.0, "scene": 1.0}, "during": []}
    card = script.card([(50, 1.0), (300, 0.1)], last)
    assert "python scripts/pretrain_tiny_lm.py --steps 2000 --seed 0 --out run1" in card
    assert "--from run1 --slot-order shuffled --out run2" in card
    assert "content in the written order" in card


def test_a_plan_without_one_view_per_direction_is_refused(script):
    with pytest.raises(ValueError, match="one view per PanoShapes direction"):
        script.TextScenes(tiny_tokenizer(), tiny_config(crop_strategy="anyres_e2p"))
    with pytest.raises(ValueError, match="view_tags"):
        script.TextScenes(tiny_tokenizer(), tiny_config(view_tags=False))


def test_the_answers_are_found_for_scoring(script):
    labels = [IGNORE_INDEX, 5, 6, IGNORE_INDEX, IGNORE_INDEX, 7, IGNORE_INDEX, 8]
    assert script.answers(torch.tensor([labels])) == [[(1, 3), (5, 6), (7, 8)]]

