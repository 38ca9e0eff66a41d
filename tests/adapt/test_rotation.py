"""`data.rotation: quarter_turns` on the adapter path: image and direction words turn together.

A PanoShapes question about direction d, turned right by k quarters, must ask about the turned
direction and keep its answer (the same object, now there), and the views the model reads at yaw
``y + 90 k`` must show what the unturned views showed at yaw ``y``.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from panovlm.adapt.data import AdaptDataset
from panovlm.data.augment import TextTurner, turn_direction
from panovlm.data.datasets import QUIC_PROMPT, read_samples
from panovlm.data.synth import QUERY_TEMPLATES
from panovlm.geometry import wrap_yaw


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> list:
    from panovlm.data.synth import generate_panoshapes

    out = tmp_path_factory.mktemp("panoshapes_rotation")
    generate_panoshapes(out, train=2, val=1, test=1, size=(256, 128), backgrounds="plain")
    rows, _ = read_samples(out / "train.csv")
    return [s for s in rows if s.meta.get("target_direction") in ("front", "right", "behind", "left")][:3]


@pytest.mark.parametrize("k", [1, 2, 3])
def test_rotated_sample_asks_the_turned_direction_with_the_same_answer(make_adapter, samples: list, monkeypatch,
                                                                       k: int) -> None:
    adapter = make_adapter("tiny-internvl")
    processor = adapter.processor
    plain = AdaptDataset(samples, processor, 4096)
    turned = AdaptDataset(samples, processor, 4096, turner=TextTurner())
    monkeypatch.setattr(random, "randrange", lambda n: k)
    yaw_index = {(float(v.yaw_deg), float(v.pitch_deg)): i for i, v in enumerate(processor.plan.views)
                 if v.kind == "tile"}
    assert samples, "PanoShapes gave no horizon question"
    for index, sample in enumerate(samples):
        direction, query = sample.meta["target_direction"], sample.meta["query"]
        new_query = QUERY_TEMPLATES[turn_direction(direction, k)][QUERY_TEMPLATES[direction].index(query)]
        expected = [{"role": "user", "content": QUIC_PROMPT.format(query=new_query)},
                    {"role": "assistant", "content": sample.messages[1]["content"]}]  # same object, new place
        assert sample.messages[0]["content"] == QUIC_PROMPT.format(query=query)
        item, before = turned[index], plain[index]
        assert (item["input_ids"], item["labels"]) == processor.training_ids(expected, 4096)
        unshifted = []
        for (yaw, pitch), i in yaw_index.items():
            j = yaw_index[(float(wrap_yaw(yaw + 90.0 * k)), pitch)]
            diff = np.abs(item["views"][j].astype(int) - before["views"][i].astype(int))
            assert diff.mean() < 1.0, (yaw, k, diff.mean())  # an exact column roll; only resampling ties differ
            unshifted.append(np.abs(item["views"][i].astype(int) - before["views"][i].astype(int)).mean())
        assert max(unshifted) > 5.0  # the views did turn: unshifted, some tile differs a lot


def test_rotation_is_for_training_only(make_adapter, tmp_path: Path) -> None:
    from panovlm.adapt.data import AdaptDataModule
    from panovlm.config.run_config import load_run_config
    from panovlm.data.synth import generate_panoshapes

    generate_panoshapes(tmp_path, train=1, val=1, test=1, size=(256, 128), backgrounds="plain")
    config = load_run_config(None, [f"data.data_dir={tmp_path}", "data.rotation=quarter_turns"])
    data = AdaptDataModule(config, 1, make_adapter("tiny-internvl").processor, 4096)
    data.setup()
    assert data.train_set.turner is not None and data.val_set.turner is None
