"""Per-view descriptions of PanoShapes scenes for the encoder pretraining: what, never where."""

import numpy as np

from panovlm.data.synth import DIRECTION_PHRASES, sample_scene
from panovlm.data.synth_render import ShapeObject
from panovlm.data.synth_views import pretraining_scene, view_description, visibility
from panovlm.plans import build_view_plan


def test_an_object_is_shown_by_the_tiles_that_hold_it_and_not_behind():
    plan = build_view_plan("anyres_e2p", (64, 64))  # global + tiles at yaw 0, 45, ..., -45
    obj = ShapeObject("red", "square", "small", "front", 0.0, 0.0)
    shares = visibility(plan, [obj], 256, 128)[:, 0]
    yaws = [v.yaw_deg for v in plan.views]
    assert shares[0] == 1.0  # the global view sees the whole sphere
    assert shares[yaws.index(0.0, 1)] == 1.0
    assert shares[yaws.index(-180.0)] == 0.0
    assert view_description([obj], np.array([1.0])) == "a small red square"
    assert view_description([obj], np.array([0.0])) == "nothing"
    assert view_description([obj], np.array([0.3])) is None  # partly visible: left out


def test_descriptions_hold_no_direction_words_and_are_order_free():
    rng = np.random.default_rng(0)
    plan = build_view_plan("anyres_e2p", (64, 64))
    phrases = set(DIRECTION_PHRASES.values()) | set(DIRECTION_PHRASES)
    for _ in range(20):
        objects = sample_scene(rng)
        for shares in visibility(plan, objects, 256, 128):
            text = view_description(objects, shares)
            if text is not None:
                assert not any(p in text.split() or f" {p}" in text for p in phrases)
    a = ShapeObject("red", "square", "small", "front", 0.0, 0.0)
    b = ShapeObject("blue", "star", "large", "left", -90.0, 0.0)
    assert view_description([a, b], np.ones(2)) == view_description([b, a], np.ones(2))


def test_pretraining_scenes_are_deterministic_and_not_quickstart_panoramas():
    image, objects, level = pretraining_scene(3, 7, 128, 64)
    again, objects_again, _ = pretraining_scene(3, 7, 128, 64)
    assert np.array_equal(image, again) and objects == objects_again
    assert all(o.direction == "" for o in objects)  # turned by a random yaw: no direction label
    assert level in ("plain", "varied")
    assert not np.array_equal(pretraining_scene(3, 8, 128, 64)[0], image)


def test_hard_negatives_change_one_attribute_of_one_object():
    from panovlm.data.synth_views import description, hard_negatives

    a = ShapeObject("red", "square", "small", "", 0.0, 0.0)
    b = ShapeObject("blue", "star", "large", "", 90.0, 0.0)
    negatives = hard_negatives([a, b])
    assert len(negatives) == 2 * (3 + 5 + 1) and description([a, b]) not in negatives
    assert "a large blue star and a small red circle" in negatives
    assert "a large blue star and a small green square" in negatives
    assert hard_negatives([]) == []
