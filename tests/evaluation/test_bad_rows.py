"""``panovlm eval`` treats bad rows as data: each kind skipped, counted in metrics.json with its lines, fatal only in bulk."""

import csv
import json
import shutil

import pytest

from panovlm.cli import main

needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="PTB tokenizer needs java")


@pytest.fixture(scope="module")
def bad_csv(tmp_path_factory):
    """A tiny saved model and a test CSV of 10 good rows (lines 2-11) then one bad row of each kind (12-15)."""
    from panovlm.data.synth import generate_panoshapes
    from panovlm.models.tiny import tiny_model, tiny_processor

    root = tmp_path_factory.mktemp("bad_rows")
    paths = generate_panoshapes(root / "data", train=0, val=0, test=3, seed=2, size=(128, 64))
    model = tiny_model(test=True, seed=0)
    model.save_pretrained(root / "model")
    tiny_processor(test=True, config=model.config).save_pretrained(root / "model")
    rows = list(csv.reader(paths["test"].open(newline="")))
    header, good = rows[0], rows[1:]
    assert len(good) == 10
    (root / "data" / "images" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 50)
    blank = [""] * (len(header) - 3)
    bad = [["images/gone.png", "What is in front of you?", "a red circle", *blank],  # line 12: missing image
           [good[0][0], "", "a red circle", *blank],  # line 13: empty question
           [good[0][0], "What is behind you?", "a red", "circle", *blank, "extra"],  # line 14: unquoted comma
           ["images/corrupt.png", "What is on your left?", "nothing", *blank]]  # line 15: does not decode
    path = root / "data" / "bad.csv"
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([header, *good, *bad])
    return root, path


def _eval(root, path, out, *extra):
    return main(["eval", "--model", str(root / "model"), "--csv", str(path), "--out", str(out), "--max-new-tokens",
                 "2", "--no-meteor", "--no-progress", *extra])


@needs_java
def test_bad_rows_are_skipped_and_counted_by_kind(bad_csv, tmp_path, capsys):
    root, path = bad_csv
    assert _eval(root, path, tmp_path / "eval", "--max-skip-ratio", "0.5") == 0
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["skipped"] == {"missing_image": 1, "empty_text": 1, "broken_row": 1, "unreadable_image": 1}
    assert metrics["skipped_lines"] == {"missing_image": ["line 12"], "empty_text": ["line 13"],
                                        "broken_row": ["line 14"], "unreadable_image": ["line 15"]}
    assert metrics["skip_ratio"] == pytest.approx(4 / 14, abs=1e-4) and metrics["skipped_rows"] == 4


@needs_java
def test_too_many_bad_rows_fail_keeping_the_finished_answers(bad_csv, tmp_path, capsys):
    root, path = bad_csv
    assert _eval(root, path, tmp_path / "early") == 2  # default 0.05: refused before predicting
    err = capsys.readouterr().err
    assert "3 of 14 rows skipped" in err and "broken_row=1, empty_text=1, missing_image=1" in err
    assert not (tmp_path / "early" / "predictions.csv").exists()

    # 3/14 passes 0.25 when read; the undecodable image found while predicting makes it 4/14
    assert _eval(root, path, tmp_path / "late", "--max-skip-ratio", "0.25") == 2
    assert "4 of 14 rows skipped" in capsys.readouterr().err
    with (tmp_path / "late" / "predictions.csv").open(newline="") as handle:
        assert len(list(csv.DictReader(handle))) > 0  # the answers already written stay
    assert not (tmp_path / "late" / "metrics.json").exists()


def test_a_missing_csv_is_one_line_naming_it(bad_csv, tmp_path, capsys):
    root, _ = bad_csv
    assert _eval(root, tmp_path / "nowhere.csv", tmp_path / "eval") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(tmp_path / "nowhere.csv") in err


def test_an_unreadable_image_leaves_the_rest_of_its_batch(tmp_path, fakes):
    from panovlm.data.io import ImageLoadError
    from panovlm.evaluation.predict import predict

    class Processor(fakes.Processor):
        def __call__(self, text, images=None, **kwargs):
            for image in images or ():
                if "bad" in image:
                    raise ImageLoadError("truncated or corrupt image data", image)
            return super().__call__(text, images, **kwargs)

    samples = fakes.samples(4)
    samples[1].image_path = tmp_path / "bad.png"
    skipped: dict = {}
    rows = predict(fakes.Model(), Processor(), samples, tmp_path / "p.csv", batch_size=4, progress=False,
                   skipped=skipped)
    assert [r["sample_id"] for r in rows] == [s.sample_id for s in samples if s is not samples[1]]
    assert skipped["unreadable_image"] == [samples[1]]
