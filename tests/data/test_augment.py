"""Quarter-turn yaw rotation: the image rolls exactly, and the text equals that of the turned scene."""

import dataclasses

import numpy as np
import pytest

from panovlm.data.augment import TextTurner, rotate_erp, turn_direction
from panovlm.data.datasets import QUIC_PROMPT
from panovlm.data.synth import NOTHING, QUERY_TEMPLATES, describe, sample_scene, scene_caption, scene_rows
from panovlm.data.synth_render import render_panorama
from panovlm.geometry import wrap_yaw

_TURN_YAW = {"front": 0.0, "right": 90.0, "behind": 180.0, "left": -90.0}


def _turned_scene(objects, k):
    return [dataclasses.replace(o, yaw_deg=float(wrap_yaw(o.yaw_deg + 90.0 * k)),
                                direction=turn_direction(o.direction, k)) for o in objects]


@pytest.mark.parametrize("k", [1, 2, 3])
def test_rotated_image_equals_rendering_the_turned_scene(k):
    rng = np.random.default_rng(5)
    for _ in range(4):
        objects = sample_scene(rng)
        image, _ = render_panorama(objects, 256, 128, np.random.default_rng(0), "plain")
        turned, _ = render_panorama(_turned_scene(objects, k), 256, 128, np.random.default_rng(0), "plain")
        differing = np.any(rotate_erp(image, k) != turned, axis=-1).mean()
        assert differing < 2e-3  # only float ties on shape edges may differ
    assert np.array_equal(rotate_erp(image, 4), image)


def test_direction_cycle():
    assert [turn_direction("front", k) for k in range(4)] == ["front", "right", "behind", "left"]
    assert turn_direction("above", 1) == "above" and turn_direction("below", 3) == "below"


@pytest.mark.parametrize("k", [1, 2, 3])
def test_rotated_answers_equal_those_of_the_turned_scene(k):
    turner, rng = TextTurner(), np.random.default_rng(11)
    for index in range(30):
        objects = sample_scene(rng)
        turned = _turned_scene(objects, k)
        by_direction = {o.direction: o for o in turned}
        for row in scene_rows(objects, f"{index}.png", np.random.default_rng(index)):
            messages = [{"role": "user", "content": QUIC_PROMPT.format(query=row["query"])},
                        {"role": "assistant", "content": row["annotation"]}]
            out = turner.messages(messages, k)
            assert out is not None
            if not row["target_direction"]:  # the scene caption
                assert out[0] == messages[0]
                assert out[1]["content"] == scene_caption(turned)
                continue
            direction = turn_direction(row["target_direction"], k)
            template = QUERY_TEMPLATES[row["target_direction"]].index(row["query"])
            assert out[0]["content"] == QUIC_PROMPT.format(query=QUERY_TEMPLATES[direction][template])
            expected = describe(by_direction[direction]) if direction in by_direction else NOTHING
            assert out[1]["content"] == expected


def test_free_text_is_turned_only_with_phrase_cycles():
    messages = [{"role": "user", "content": "Describe the room."},
                {"role": "assistant", "content": "A sofa on the left and a lamp in front."}]
    assert TextTurner().messages(messages, 1) is None
    turner = TextTurner([["in front", "on the right", "behind", "on the left"]])
    out = turner.messages(messages, 1)
    assert out[1]["content"] == "A sofa in front and a lamp on the right."
    assert out[0] == messages[0]
    assert turner.messages(messages, 0) == messages
    with pytest.raises(ValueError, match="4 non-empty phrases"):
        TextTurner([["front", "right"]])


def test_odd_widths_are_refused():
    with pytest.raises(ValueError, match="divisible by 4"):
        rotate_erp(np.zeros((5, 10, 3), np.uint8), 1)
