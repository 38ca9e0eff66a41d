"""``panovlm eval`` / ``generate`` on the tiny test preset (random weights, scaled up so answers vary)."""

import csv
import json
import shutil

import pytest
import torch

from panovlm.cli import main

needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="PTB tokenizer needs java")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    from panovlm.data.synth import generate_panoshapes
    from panovlm.models.tiny import tiny_model, tiny_processor

    root = tmp_path_factory.mktemp("tiny_eval")
    paths = generate_panoshapes(root / "data", train=0, val=0, test=2, seed=1, size=(128, 64))
    model = tiny_model(test=True, seed=0)
    with torch.no_grad():  # default init answers "\n" to everything; larger weights give varied text
        for param in model.parameters():
            param.normal_(0.0, 0.5)
    model.save_pretrained(root / "model")
    tiny_processor(test=True, config=model.config).save_pretrained(root / "model")
    return root, paths["test"]


def _predictions(folder):
    with (folder / "predictions.csv").open(newline="") as handle:
        return {row["sample_id"]: row["prediction"] for row in csv.DictReader(handle)}


@needs_java
def test_eval_writes_predictions_and_metrics_and_blind_differs(saved, capsys):
    root, test_csv = saved
    common = ["--model", str(root / "model"), "--csv", str(test_csv), "--max-new-tokens", "6", "--no-meteor",
              "--no-progress"]
    assert main(["eval", *common, "--out", str(root / "eval"), "--batch-size", "4"]) == 0
    assert "CIDEr" in capsys.readouterr().out
    metrics = json.loads((root / "eval" / "metrics.json").read_text())
    for key in ("Bleu_1", "Bleu_4", "ROUGE_L", "CIDEr", "direction_f1", "per_direction_accuracy", "num_samples"):
        assert key in metrics, key
    assert metrics["backend"]["CIDEr"] == "pycocoevalcap 1.2 Cider" and metrics["blind"] is False
    with_images = _predictions(root / "eval")
    assert len(with_images) == metrics["num_samples"] > 4 and all(with_images.values())

    # batch size must not change greedy answers (left padding is handled)
    assert main(["eval", *common, "--out", str(root / "eval_b1"), "--batch-size", "1"]) == 0
    assert _predictions(root / "eval_b1") == with_images

    assert main(["eval", *common, "--out", str(root / "eval_blind"), "--blind"]) == 0
    blind = _predictions(root / "eval_blind")
    assert blind.keys() == with_images.keys() and blind != with_images
    assert json.loads((root / "eval_blind" / "metrics.json").read_text())["blind"] is True


def test_generate_prints_the_answer_and_streams_the_same_text(saved, capsys):
    root, test_csv = saved
    image = next((test_csv.parent / "images").glob("test_*.png"))
    args = ["generate", "--model", str(root / "model"), "--image", str(image), "--prompt", "the scene",
            "--max-new-tokens", "6"]
    assert main(args) == 0
    plain = capsys.readouterr().out
    assert main([*args, "--stream"]) == 0
    streamed = capsys.readouterr().out
    assert plain.strip() and " ".join(streamed.split()) == plain.strip()


def test_caption_one_answers_the_first_sample(saved):
    from panovlm.evaluation.predict import caption_one

    root, test_csv = saved
    example = caption_one(root / "model", test_csv, max_new_tokens=4)
    assert set(example) == {"image", "query", "prediction", "reference"} and example["prediction"]
