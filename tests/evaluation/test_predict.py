import csv
import json

import pytest

from panovlm.data.datasets import Sample
from panovlm.evaluation.predict import COLUMNS, predict, read_predictions, unique_pairs


def _csv_ids(path):
    with path.open(newline="") as handle:
        return [row["sample_id"] for row in csv.DictReader(handle)]


def test_predictions_are_written_with_all_columns(tmp_path, fakes):
    model, processor = fakes.Model(), fakes.Processor()
    rows = predict(model, processor, fakes.samples(5), tmp_path / "predictions.csv", batch_size=2, progress=False)
    assert [r["sample_id"] for r in rows] == [f"test:{i}" for i in range(5)]
    assert len(model.calls) == 3 and all(c["do_sample"] is False and c["num_beams"] == 1 for c in model.calls)
    on_disk = read_predictions(tmp_path / "predictions.csv")
    assert on_disk == rows and tuple(on_disk[0]) == COLUMNS
    assert on_disk[0]["prediction"] == "answer 1010"  # cleaned: special token gone, image was given
    assert json.loads(on_disk[0]["references"]) == ["reference 0"]
    # the prompt is the conversation without the answer being predicted
    assert processor.calls[0]["text"][0] == [{"role": "user", "content": "question 0"}]


def test_interrupted_run_resumes_without_duplicates(tmp_path, fakes):
    out = tmp_path / "predictions.csv"
    samples = fakes.samples(7)
    with pytest.raises(KeyboardInterrupt):
        predict(fakes.Model(fail_on_call=2), fakes.Processor(), samples, out, batch_size=3, progress=False)
    assert _csv_ids(out) == ["test:0", "test:1", "test:2"]  # the first batch was flushed
    model = fakes.Model()
    rows = predict(model, fakes.Processor(), samples, out, batch_size=3, progress=False)
    assert _csv_ids(out) == [f"test:{i}" for i in range(7)]
    assert [r["sample_id"] for r in rows] == [f"test:{i}" for i in range(7)]
    assert len(model.calls) == 2  # only the 4 missing samples were predicted


def test_a_torn_last_line_is_dropped_and_predicted_again(tmp_path, fakes):
    out = tmp_path / "predictions.csv"
    samples = fakes.samples(3)
    predict(fakes.Model(), fakes.Processor(), samples[:2], out, progress=False)
    with out.open("a") as handle:
        handle.write('test:2,pano.png,"question 2')  # killed mid-write
    rows = predict(fakes.Model(), fakes.Processor(), samples, out, progress=False)
    assert _csv_ids(out) == ["test:0", "test:1", "test:2"] and rows[2]["prediction"].startswith("answer")


def test_blind_mode_removes_the_images(tmp_path, fakes):
    model, processor = fakes.Model(), fakes.Processor()
    rows = predict(model, processor, fakes.samples(3), tmp_path / "predictions.csv", blind=True, progress=False)
    assert all(call["images"] is None for call in processor.calls)
    assert all(call["pixel_values"] is None for call in model.calls)
    assert rows[0]["prediction"] == "answer 10"


def test_resuming_with_other_settings_is_refused(tmp_path, fakes):
    out = tmp_path / "predictions.csv"
    predict(fakes.Model(), fakes.Processor(), fakes.samples(2), out, progress=False)
    with pytest.raises(ValueError, match="blind"):
        predict(fakes.Model(), fakes.Processor(), fakes.samples(2), out, blind=True, progress=False)


def test_max_samples_and_sampling_settings(tmp_path, fakes):
    model = fakes.Model()
    rows = predict(model, fakes.Processor(), fakes.samples(5), tmp_path / "p.csv", max_samples=2, temperature=0.7,
                   max_new_tokens=5, progress=False)
    assert len(rows) == 2
    assert model.calls[0]["do_sample"] is True and model.calls[0]["temperature"] == 0.7
    assert model.calls[0]["max_new_tokens"] == 5
    with pytest.raises(ValueError, match="max_new_tokens"):
        predict(model, fakes.Processor(), fakes.samples(1), tmp_path / "q.csv", max_new_tokens=0, progress=False)


def test_unique_pairs_groups_references_per_image_and_query():
    def sample(i, url, query, ref):
        return Sample(image_path=url, sample_id=f"s{i}", references=[ref],
                      messages=[{"role": "user", "content": query}, {"role": "assistant", "content": ref}],
                      meta={"url": url, "query": query})

    samples = [sample(0, "a.png", "q", "r1"), sample(1, "b.png", "q", "r2"), sample(2, "a.png", "q", "r3")]
    pairs = unique_pairs(samples)
    assert [(p.sample_id, p.references) for p in pairs] == [("s0", ["r1", "r3"]), ("s1", ["r2"])]
