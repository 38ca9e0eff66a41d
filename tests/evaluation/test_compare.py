import csv
import json

import pytest
from PIL import Image

from panovlm.cli import main
from panovlm.evaluation.compare import comparison_rows, load_runs


def _run(folder, **values):
    folder.mkdir(parents=True)
    metrics = {"Bleu_1": None, "METEOR": None, "CIDEr": None, "num_samples": 10, "backend": {}, **values}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


def test_compare_prints_markdown_and_saves_csv_and_png(tmp_path, capsys):
    a = _run(tmp_path / "eval", Bleu_1=0.5, CIDEr=1.25, direction_f1=0.8)
    b = _run(tmp_path / "eval_blind", Bleu_1=0.25, CIDEr=0.5, direction_f1=0.1)
    out = tmp_path / "cmp"
    assert main(["compare", str(a), str(b), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| run | num_samples | Bleu_1 | CIDEr | direction_f1 |" in printed
    assert "| eval | 10 | 0.5000 | 1.2500 | 0.8000 |" in printed
    assert "METEOR" not in printed  # skipped in every run: no empty column
    with (out / "compare.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["run"] for r in rows] == ["eval", "eval_blind"] and rows[1]["CIDEr"] == "0.5"
    with Image.open(out / "compare.png") as image:
        assert image.format == "PNG" and image.size[0] > 300


def test_same_folder_names_are_made_unique_and_missing_metrics_named(tmp_path):
    a = _run(tmp_path / "x" / "eval", CIDEr=1.0)
    b = _run(tmp_path / "y" / "eval", CIDEr=2.0)
    assert list(load_runs([a, b])) == ["x/eval", "y/eval"]
    columns, rows = comparison_rows(load_runs([a, b]))
    assert columns == ["CIDEr"] and rows[1]["CIDEr"] == 2.0
    with pytest.raises(FileNotFoundError, match="no metrics.json"):
        load_runs([tmp_path])
