import json

import numpy as np
import pytest

from panovlm.data.synth import DIRECTIONS, sample_scene, scene_rows
from panovlm.evaluation.spatial import direction_scores, has_spatial_labels, parse_objects


def _rows(n=80, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        rows.extend(scene_rows(sample_scene(rng), f"images/{i}.png", rng))
    return rows


def _metas(rows):
    return [{"objects": r["objects"], "target_direction": r["target_direction"]} for r in rows]


def test_parser_reads_generator_captions_and_free_text():
    caption = "a large red circle in front, a small green square to the left and a large blue star below"
    assert parse_objects(caption) == [("red", "circle", "front"), ("green", "square", "left"),
                                      ("blue", "star", "below")]
    assert parse_objects("To the left is a Red Circle.") == [("red", "circle", "left")]
    assert parse_objects("two yellow triangles ahead of you") == [("yellow", "triangle", "front")]
    assert parse_objects("assistant: a small purple square<|im_end|>") == [("purple", "square", None)]
    assert parse_objects("a red circle in front and a blue star") == [("red", "circle", "front"),
                                                                      ("blue", "star", None)]
    assert parse_objects("nothing") == []


def test_reference_answers_score_perfectly():
    rows = _rows()
    scores = direction_scores([r["annotation"] for r in rows], _metas(rows))
    assert scores["direction_f1"] == 1.0 and scores["scene_f1"] == 1.0
    assert scores["direction_accuracy"] == 1.0 and scores["empty_direction_accuracy"] == 1.0
    assert set(scores["per_direction_accuracy"]) == set(DIRECTIONS)
    assert scores["num_scene_queries"] == 80


@pytest.mark.parametrize("constant", [
    "nothing",
    "a small red circle",
    "a large blue star in front",
    ", ".join(f"a red circle {d}" for d in ("in front", "to the right", "behind", "to the left", "above", "below")),
])
def test_a_constant_answer_scores_low_on_a_balanced_set(constant):
    rows = _rows()
    scores = direction_scores([constant] * len(rows), _metas(rows))
    assert scores["direction_f1"] < 0.15, scores
    assert scores["direction_accuracy"] < 0.15, scores


def test_wrong_direction_or_colour_is_not_credited():
    meta = {"objects": json.dumps([{"colour": "red", "shape": "circle", "size": "small", "direction": "left"}]),
            "target_direction": ""}
    assert direction_scores(["a red circle to the right"], [meta])["direction_f1"] == 0.0
    assert direction_scores(["a blue circle to the left"], [meta])["direction_f1"] == 0.0
    assert direction_scores(["a red circle on your left"], [meta])["direction_f1"] == 1.0


def test_direction_query_answer_without_direction_refers_to_the_target():
    objects = [{"colour": "green", "shape": "star", "size": "large", "direction": "behind"}]
    meta = {"objects": objects, "target_direction": "behind"}
    scores = direction_scores(["a large green star"], [meta])
    assert scores["per_direction_accuracy"] == {"behind": 1.0} and scores["query_f1"] == 1.0
    empty = {"objects": objects, "target_direction": "above"}
    assert direction_scores(["nothing"], [empty])["empty_direction_accuracy"] == 1.0
    assert direction_scores(["a large green star"], [empty])["empty_direction_accuracy"] == 0.0


def test_unlabelled_rows_are_ignored_and_bad_labels_rejected():
    assert not has_spatial_labels([{}, {"objects": ""}])
    assert direction_scores(["x"], [{}])["num_direction_queries"] == 0
    with pytest.raises(ValueError, match="target_direction"):
        direction_scores(["x"], [{"objects": [], "target_direction": "north"}])
    with pytest.raises(ValueError, match="2 label rows"):
        direction_scores(["x"], [{}, {}])


def test_attribute_accuracies_credit_partial_answers():
    objects = [{"colour": "green", "shape": "star", "size": "large", "direction": "behind"}]
    behind, empty = {"objects": objects, "target_direction": "behind"}, {"objects": objects, "target_direction": "above"}
    scores = direction_scores(["a small green circle", "a red star", "nothing", "a blue square"],
                              [behind, behind, behind, empty])
    assert scores["direction_accuracy"] == 0.0
    assert scores["colour_accuracy"] == pytest.approx(1 / 3) and scores["shape_accuracy"] == pytest.approx(1 / 3)
    assert scores["presence_accuracy"] == pytest.approx(2 / 4)
    scene = [{"colour": "red", "shape": "circle", "size": "small", "direction": "front"}, *objects]
    mixed = direction_scores(["a red circle"], [{"objects": scene, "target_direction": "behind"}])
    assert mixed["colour_accuracy"] == 0.0 and mixed["scene_colour_accuracy"] == 1.0
    # Two objects in one answer are not credited with either attribute.
    both = direction_scores(["a green star and a red circle"], [behind])
    assert both["colour_accuracy"] == 0.0 and both["shape_accuracy"] == 0.0


def test_a_constant_object_answer_scores_near_chance_per_attribute():
    rows = [r for r in _rows(200) if r["target_direction"]]
    scores = direction_scores(["a small red circle"] * len(rows), _metas(rows))
    assert 0.08 < scores["colour_accuracy"] < 0.26 and 0.15 < scores["shape_accuracy"] < 0.35, scores
