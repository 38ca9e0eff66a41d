import csv
import json
import shutil

import numpy as np
import pytest

from panovlm.cli import main
from panovlm.data.synth import sample_scene, scene_rows
from panovlm.evaluation.metrics import caption_metrics
from panovlm.evaluation.scoring import parse_references, read_scoring_table

needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="PTB tokenizer needs java")


def _write(path, rows):
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_reference_cells_may_be_one_string_or_a_json_list():
    assert parse_references('["a", "b"]', "x") == ["a", "b"]
    assert parse_references("[not json", "x") == ["[not json"]
    assert parse_references("a red circle", "x") == ["a red circle"]
    with pytest.raises(ValueError, match="line 3: empty reference"):
        parse_references("  ", "line 3")


def test_missing_columns_are_named(tmp_path):
    path = _write(tmp_path / "p.csv", [{"prediction": "a", "answer": "b"}])
    with pytest.raises(ValueError, match="needs 'prediction' and 'reference'"):
        read_scoring_table(path)



def test_short_row_is_an_error_naming_its_line_not_an_empty_prediction(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text('prediction,reference\n"two\nlines",a ref\nonly a prediction\n')
    with pytest.raises(ValueError, match=r"p\.csv, line 4: 1 fields but the header has 2"):
        read_scoring_table(path)


def test_rows_are_keyed_by_their_file_line_when_cells_span_lines(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text('prediction,reference\n"two\nlines",a ref\nthird,"b ref"\n')
    predictions, references, _ = read_scoring_table(path)
    assert predictions == {"row2": "two\nlines", "row4": "third"}
    assert references == {"row2": ["a ref"], "row4": ["b ref"]}

@needs_java
def test_score_cli_writes_metrics_equal_to_the_library(tmp_path, capsys):
    rows = [{"prediction": "a red circle in front", "reference": '["a red circle in front", "a red disc ahead"]'},
            {"prediction": "a blue star", "reference": "a small blue star to the left"},
            {"prediction": "nothing", "reference": "nothing"}]
    path = _write(tmp_path / "preds.csv", rows)
    assert main(["score", "--predictions", str(path), "--out", str(tmp_path / "out"), "--no-meteor"]) == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    expected = caption_metrics({f"row{i + 2}": r["prediction"] for i, r in enumerate(rows)},
                               {"row2": ["a red circle in front", "a red disc ahead"],
                                "row3": ["a small blue star to the left"], "row4": ["nothing"]},
                               use_meteor=False)
    for name in ("Bleu_1", "Bleu_4", "ROUGE_L", "CIDEr"):
        assert metrics[name] == pytest.approx(expected[name], abs=1e-12)
    assert metrics["num_samples"] == 3 and "direction_f1" not in metrics
    out = capsys.readouterr().out
    assert "CIDEr" in out and "METEOR" in out and "skipped" in out


@needs_java
def test_panoshapes_labels_add_the_spatial_score(tmp_path):
    rng = np.random.default_rng(3)
    rows = []
    for i in range(6):
        for r in scene_rows(sample_scene(rng), f"images/{i}.png", rng):
            rows.append({"prediction": r["annotation"], "reference": r["annotation"], "objects": r["objects"],
                         "target_direction": r["target_direction"]})
    path = _write(tmp_path / "preds.csv", rows)
    assert main(["score", "--predictions", str(path), "--out", str(tmp_path), "--no-meteor"]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["direction_f1"] == 1.0 and metrics["backend"]["direction_f1"] == "panovlm.evaluation.spatial"
    assert metrics["per_direction_accuracy"] and metrics["CIDEr"] > 1.0
