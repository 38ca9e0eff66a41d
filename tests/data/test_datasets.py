"""Dataset readers: QuIC-360 / instruction CSV / LLaVA JSON, robust CSV parsing, skip reporting."""

from __future__ import annotations

import csv
import json
import logging

import pytest

from panovlm.data.csv_io import DatasetError
from panovlm.data.datasets import (
    QUIC_PROMPT,
    group_references,
    read_instruction_csv,
    read_llava_json,
    read_quic360_csv,
    read_samples,
)
from panovlm.data.synth import generate_panoshapes


@pytest.fixture()
def images(tmp_path):
    (tmp_path / "img").mkdir()
    for name in ("a.png", "b.png"):
        (tmp_path / "img" / name).write_bytes(b"not decoded by the reader")
    return tmp_path


def _write_csv(path, header, rows):
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_quic_rows_become_single_turn_chats_with_the_prompt_template(images):
    caption = 'a table, two chairs and\na "lamp"'
    path = _write_csv(images / "q.csv", ["url", "query", "annotation"],
                      [["img/a.png", "furniture", caption], ["img/b.png", "street", "cars"]])
    samples, report = read_quic360_csv(path)
    assert report.kept == report.rows == 2 and report.total_skipped == 0
    first = samples[0]
    assert first.image_path == images / "img" / "a.png"
    assert first.messages == [
        {"role": "user", "content": QUIC_PROMPT.format(query="furniture")},
        {"role": "assistant", "content": caption},
    ]
    assert first.references == [caption]
    assert first.meta["url"] == "img/a.png" and first.meta["query"] == "furniture" and first.meta["line"] == 2
    assert samples[1].meta["line"] == 4  # the quoted newline made row 1 span lines 2-3
    assert "<image>" not in first.messages[0]["content"] and "<|vision|>" not in first.messages[0]["content"]


def test_prompt_template_and_system_prompt_are_configurable(images):
    path = _write_csv(images / "q.csv", ["url", "query", "annotation"], [["img/a.png", "sky", "blue"]])
    samples, _ = read_samples(path, prompt_template="Describe {query}.", system_prompt="Be brief.")
    assert samples[0].messages[:2] == [{"role": "system", "content": "Be brief."},
                                       {"role": "user", "content": "Describe sky."}]
    with pytest.raises(ValueError, match=r"\{query\}"):
        read_quic360_csv(path, prompt_template="no placeholder")


def test_broken_row_is_reported_with_its_line_number_and_skipped(images, caplog):
    path = images / "broken.csv"
    path.write_text(
        'url,query,annotation\n'
        'img/a.png,room,"two lines\nof caption"\n'
        'img/b.png,street,cars, bikes and people\n'
        'img/b.png,street,quiet\n',
        encoding="utf-8",
    )
    with caplog.at_level(logging.WARNING):
        samples, report = read_quic360_csv(path)
    assert [s.references for s in samples] == [["two lines\nof caption"], ["quiet"]]
    assert report.skipped == {"broken_row": 1} and report.rows == 3
    assert "line 4" in report.messages[0] and str(path) in report.messages[0] and "unquoted comma" in report.messages[0]
    assert "line 4" in caplog.text
    with pytest.raises(DatasetError, match="line 4"):
        read_quic360_csv(path, strict=True)


def test_missing_image_empty_annotation_and_remote_url_are_counted_never_substituted(images):
    path = _write_csv(images / "q.csv", ["url", "query", "annotation"], [
        ["img/a.png", "room", "ok"],
        ["img/missing.png", "room", "ok"],
        ["img/b.png", "room", "   "],
        ["https://live.staticflickr.com/1/2.jpg", "room", "ok"],
        ["img/a.png", "", "ok"],
    ])
    samples, report = read_quic360_csv(path)
    assert len(samples) == 1 and samples[0].image_path.name == "a.png"
    assert report.skipped == {"missing_image": 1, "empty_text": 2, "remote_image": 1}
    assert any("line 3" in m and "missing.png" in m for m in report.messages)
    assert "skipped 4" in report.summary()
    with pytest.raises(DatasetError, match="line 3.*missing.png"):
        read_quic360_csv(path, strict=True)


def test_image_root_overrides_the_csv_folder(images, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("csvs")
    path = _write_csv(elsewhere / "q.csv", ["url", "query", "annotation"], [["img/a.png", "room", "ok"]])
    assert read_quic360_csv(path)[1].skipped == {"missing_image": 1}
    samples, _ = read_quic360_csv(path, image_root=images)
    assert samples[0].image_path == images / "img" / "a.png"


def test_instruction_csv_uses_the_instruction_as_written(images):
    path = _write_csv(images / "i.csv", ["url", "instruction", "response"],
                      [["img/a.png", "What is, on the left?", "a door"]])
    samples, report = read_samples(path)
    assert report.kept == 1
    assert samples[0].messages == [{"role": "user", "content": "What is, on the left?"},
                                   {"role": "assistant", "content": "a door"}]
    assert read_instruction_csv(path)[0][0].meta["query"] == "What is, on the left?"


def test_unknown_columns_are_a_clear_error(images):
    path = _write_csv(images / "x.csv", ["image", "caption"], [["img/a.png", "x"]])
    with pytest.raises(DatasetError, match="url.*query.*annotation"):
        read_samples(path)
    with pytest.raises(DatasetError, match="missing column"):
        read_quic360_csv(path)


def test_llava_json_multi_turn(images):
    items = [
        {"id": "x1", "image": "img/a.png", "conversations": [
            {"from": "human", "value": "<image>\nWhat is in front?"},
            {"from": "gpt", "value": "a red circle"},
            {"from": "human", "value": "And behind?"},
            {"from": "gpt", "value": "nothing"},
        ]},
        {"image": "img/b.png", "conversations": [{"from": "human", "value": "hi"}]},
        {"image": "img/missing.png", "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]},
        {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]},
    ]
    path = images / "conv.json"
    path.write_text(json.dumps(items), encoding="utf-8")
    samples, report = read_samples(path)
    assert len(samples) == 1
    assert samples[0].messages == [
        {"role": "user", "content": "What is in front?"}, {"role": "assistant", "content": "a red circle"},
        {"role": "user", "content": "And behind?"}, {"role": "assistant", "content": "nothing"},
    ]
    assert samples[0].references == ["a red circle", "nothing"] and samples[0].sample_id == "conv:x1"
    assert report.skipped == {"bad_json": 1, "missing_image": 1, "missing_field": 1}
    assert any("item 1" in m and "alternate" in m for m in report.messages)
    with pytest.raises(DatasetError, match="item 1"):
        read_llava_json(path, strict=True)


def test_group_references_collects_all_annotations_of_a_pair(images):
    path = _write_csv(images / "q.csv", ["url", "query", "annotation"], [
        ["img/a.png", "room", "first"], ["img/b.png", "room", "other"], ["img/a.png", "room", "second"],
    ])
    samples, _ = read_quic360_csv(path)
    assert group_references(samples) == {("img/a.png", "room"): ["first", "second"], ("img/b.png", "room"): ["other"]}


def test_panoshapes_csv_reads_back_with_structured_meta(tmp_path):
    paths = generate_panoshapes(tmp_path, train=3, val=0, test=0, seed=2, size=(64, 32))
    samples, report = read_samples(paths["train"])
    assert report.total_skipped == 0 and report.kept == report.rows == len(samples) >= 6
    for sample in samples:
        assert sample.image_path.is_file()
        assert isinstance(sample.meta["objects"], list) and sample.meta["objects"][0]["colour"]
        assert sample.meta["target_direction"] in ("", "front", "right", "behind", "left", "above", "below")
    bad = tmp_path / "bad.csv"
    text = paths["train"].read_text(encoding="utf-8").splitlines()
    bad.write_text("\n".join([text[0], text[1].replace('"[{', '"[{{', 1)]) + "\n", encoding="utf-8")
    assert read_samples(bad)[1].skipped == {"bad_json": 1}


def test_conversations_per_image_merges_turns_in_order(tmp_path):
    from panovlm.data.conversations import conversations_per_image
    from panovlm.data.datasets import Sample

    def sample(image, question, answer, i):
        messages = [{"role": "system", "content": "sys"}, {"role": "user", "content": question},
                    {"role": "assistant", "content": answer}]
        return Sample(image_path=tmp_path / image, messages=messages, sample_id=f"s{i}", references=[answer],
                      meta={"url": image, "query": question})

    rows = [sample("a.png", "q1", "r1", 0), sample("b.png", "q2", "r2", 1), sample("a.png", "q3", "r3", 2)]
    merged = conversations_per_image(rows)
    assert [m.sample_id for m in merged] == ["s0+s2", "s1"]
    first = merged[0].messages
    assert [m["role"] for m in first] == ["system", "user", "assistant", "user", "assistant"]
    assert [m["content"] for m in first[1:]] == ["q1", "r1", "q3", "r3"]
    assert merged[0].references == ["r1", "r3"]
    split = conversations_per_image(rows, max_turns=1)
    assert len(split) == 3
    with pytest.raises(ValueError, match="max_turns"):
        conversations_per_image(rows, max_turns=0)


def test_shuffle_turns_permutes_whole_questions_of_merged_conversations(tmp_path):
    import random

    from panovlm.data.conversations import conversations_per_image, shuffle_turns
    from panovlm.data.datasets import Sample

    def sample(question, answer, i):
        messages = [{"role": "system", "content": "sys"}, {"role": "user", "content": question},
                    {"role": "assistant", "content": answer}]
        return Sample(image_path=tmp_path / "a.png", messages=messages, sample_id=f"s{i}", references=[answer],
                      meta={"url": "a.png", "query": question})

    merged, = conversations_per_image([sample(f"q{i}", f"r{i}", i) for i in range(3)])
    orders = set()
    for seed in range(40):
        shuffled = shuffle_turns(merged, random.Random(seed))
        contents = [m["content"] for m in shuffled.messages]
        assert contents[0] == "sys" and [m["role"] for m in shuffled.messages[1:]] == ["user", "assistant"] * 3
        questions = contents[1::2]
        assert contents[2::2] == [q.replace("q", "r") for q in questions]  # every answer stays with its question
        assert shuffled.references == contents[2::2]
        orders.add(tuple(questions))
    assert len(orders) == 6  # all 3! orders occur
    assert merged.messages[1]["content"] == "q0"  # the input is not modified
    single = sample("q", "r", 9)
    assert shuffle_turns(single, random.Random(0)) is single


def test_conversations_per_image_keeps_copyable_answers_apart(tmp_path):
    from panovlm.data.conversations import conversations_per_image
    from panovlm.data.datasets import Sample

    def sample(question, answer, i):
        messages = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        return Sample(image_path=tmp_path / "a.png", messages=messages, sample_id=f"s{i}", references=[answer],
                      meta={"url": "a.png", "query": question})

    rows = [sample("scene", "A small blue triangle behind and a large red circle in front.", 0),
            sample("behind?", "a small blue triangle", 1), sample("front?", "a large red circle", 2),
            sample("left?", "nothing", 3), sample("above?", "nothing", 4), sample("below?", "a small blue star", 5)]
    merged = conversations_per_image(rows)
    # The caption contains two answers and moves out first; the two "nothing"s copy each other.
    assert [m.sample_id for m in merged] == ["s1+s2+s4+s5", "s0+s3"]
    assert [m.sample_id for m in conversations_per_image(rows, max_turns=3)] == ["s1+s2+s4", "s5", "s0+s3"]
