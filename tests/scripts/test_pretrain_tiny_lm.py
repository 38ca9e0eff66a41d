"""scripts/pretrain_tiny_lm.py: its text stands exactly where the model's vision tokens will be."""

import importlib.util
from pathlib import Path

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
    words = tok.decode(scenes.span(objects))
    assert scenes.tags == list(DIRECTIONS)
    assert "behind a small red star" in words
    assert words.count(NOTHING) == (len(DIRECTIONS) - 1) * tokens_per_view(config)


def test_the_text_stream_is_deterministic_and_the_evaluation_scenes_differ(script, config):
    scenes = script.TextScenes(tiny_tokenizer(), config)
    assert scenes.example(0, 3) == scenes.example(0, 3)
    train = {tuple(scenes.example(0, i)[0]["input_ids"]) for i in range(20)}
    held = {tuple(scenes.example(script.EVAL_SEED_OFFSET, i)[0]["input_ids"]) for i in range(20)}
    assert not train & held


def test_a_plan_without_one_view_per_direction_is_refused(script):
    with pytest.raises(ValueError, match="one view per PanoShapes direction"):
        script.TextScenes(tiny_tokenizer(), tiny_config(crop_strategy="anyres_e2p"))
    with pytest.raises(ValueError, match="view_tags"):
        script.TextScenes(tiny_tokenizer(), tiny_config(view_tags=False))


def test_the_answers_are_found_for_scoring(script):
    labels = [IGNORE_INDEX, 5, 6, IGNORE_INDEX, IGNORE_INDEX, 7, IGNORE_INDEX, 8]
    assert script.answers(torch.tensor([labels])) == [[(1, 3), (5, 6), (7, 8)]]

