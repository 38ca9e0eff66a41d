"""`data.conversations: per_image` on the adapter path: one conversation per panorama, turns shuffled.

The core's grouping (``panovlm.data.conversations``) merges a panorama's questions; the adapter puts
the views into the first user turn only, supervises every assistant turn, reorders the turns at
every training access and keeps one fixed order in validation.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest

from panovlm.adapt.data import AdaptDataModule
from panovlm.adapt.messages import IGNORE_INDEX
from panovlm.data.conversations import shuffle_turns


@pytest.fixture(scope="module")
def questions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """PanoShapes direction questions (scene captions dropped): no answer contains another, so one conversation per panorama."""
    from panovlm.data.synth import generate_panoshapes

    out = tmp_path_factory.mktemp("panoshapes_per_image")
    generate_panoshapes(out, train=3, val=2, test=1, size=(256, 128), backgrounds="plain")
    for split in ("train", "val"):
        with (out / f"{split}.csv").open(newline="") as f:
            rows = [r for r in csv.DictReader(f) if r["target_direction"]]  # direction questions only
        with (out / f"{split}_q.csv").open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return out


def _data(make_adapter, questions: Path, *overrides: str) -> AdaptDataModule:
    from panovlm.config.run_config import load_run_config

    config = load_run_config(None, ["model.kind=adapt", "model.base=tiny-internvl", f"data.data_dir={questions}",
                                    "data.train_file=train_q.csv", "data.val_file=val_q.csv",
                                    "data.conversations=per_image", *overrides])
    data = AdaptDataModule(config, 1, make_adapter("tiny-internvl").processor, 4096)
    data.setup()
    return data


def _questions_by_image(path: Path) -> dict[str, set[str]]:
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    out: dict[str, set[str]] = {}
    for row in rows:
        out.setdefault(str(path.parent / row["url"]), set()).add(row["query"])
    return out


def test_one_conversation_per_panorama_with_every_question(make_adapter, questions: Path) -> None:
    data = _data(make_adapter, questions)
    for dataset, name in ((data.train_set, "train_q.csv"), (data.val_set, "val_q.csv")):
        expected = _questions_by_image(questions / name)
        assert len(dataset) == len(expected)
        for sample in dataset.samples:
            asked = {q for q in expected[str(sample.image_path)] if any(
                q in m["content"] for m in sample.messages if m["role"] == "user")}
            assert asked == expected[str(sample.image_path)]
            assert sample.meta["turns"] == len(expected[str(sample.image_path)])
    assert max(s.meta["turns"] for s in data.train_set.samples) >= 2


def test_turns_reshuffle_in_training_and_stay_fixed_in_validation(make_adapter, questions: Path) -> None:
    data = _data(make_adapter, questions)
    train, val = data.train_set, data.val_set
    index = max(range(len(train)), key=lambda i: train.samples[i].meta["turns"])
    assert train.samples[index].meta["turns"] >= 3  # 3! orders: 20 draws give more than one
    random.seed(0)
    orders = {tuple(train[index]["input_ids"]) for _ in range(20)}
    assert len(orders) > 1
    assert train.turn_seed is None and val.turn_seed == data.config.seed
    first = [val[i]["input_ids"] for i in range(len(val))]
    assert first == [val[i]["input_ids"] for i in range(len(val))]
    for i, sample in enumerate(val.samples):  # the core's seeding, per sample
        fixed = shuffle_turns(sample, random.Random(val.turn_seed * 1_000_003 + i))
        assert first[i] == val.processor.training_ids(fixed.messages, 4096)[0]


def test_views_in_the_first_turn_and_labels_on_every_answer(make_adapter, questions: Path, monkeypatch) -> None:
    data = _data(make_adapter, questions)
    train, processor = data.train_set, data.train_set.processor
    index = max(range(len(train)), key=lambda i: train.samples[i].meta["turns"])
    shuffled = shuffle_turns(train.samples[index], random.Random(3))
    monkeypatch.setattr("panovlm.adapt.data.shuffle_turns", lambda sample, rng: shuffled)
    item = train[index]
    ids, labels = item["input_ids"], item["labels"]
    image_id = processor.tokenizer.convert_tokens_to_ids(processor.family.image_token)
    image_at = [i for i, t in enumerate(ids) if t == image_id]
    labelled = [i for i, t in enumerate(labels) if t != IGNORE_INDEX]
    assert len(image_at) == sum(h * w for h, w in processor.grids)  # every view once, no view repeated
    assert processor.tokenizer.decode(ids[:max(image_at) + 1]).count("<|im_start|>user") == 1  # first turn only
    assert max(image_at) < labelled[0]
    runs, start = [], labelled[0]
    for prev, cur in zip(labelled, labelled[1:] + [None], strict=True):
        if cur != prev + 1:
            runs.append(processor.tokenizer.decode(ids[start:prev + 1]))
            start = cur
    answers = [m["content"] for m in shuffled.messages if m["role"] == "assistant"]
    assert len(runs) == len(answers) == shuffled.meta["turns"]
    for run, answer in zip(runs, answers, strict=True):  # in the shuffled order, with the end of turn
        assert run.startswith(answer) and run[len(answer):].strip() == "<|im_end|>"
    assert all(labels[i] == ids[i] for i in labelled)


def test_training_steps_run_on_merged_conversations(questions: Path, tmp_path: Path) -> None:
    from panovlm.config.run_config import load_run_config
    from panovlm.training.runner import run_training

    config = load_run_config(None, [
        "model.kind=adapt", "model.base=tiny-internvl", "model.view_size=56", f"data.data_dir={questions}",
        "data.train_file=train_q.csv", "data.val_file=val_q.csv", "data.conversations=per_image",
        "data.max_turns=2", "data.num_workers=0", "stages.finetune.batch_size=2", "stages.finetune.max_steps=2",
        "logging.tensorboard=false", "trainer.progress_bar=false"])
    record = run_training(config, "all", tmp_path / "run")["stages"]["finetune"]
    assert record["global_step"] == 2 and record["metrics"]["train/ar_loss"] > 0
