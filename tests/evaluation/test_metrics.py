"""caption_metrics must give exactly what pycocoevalcap gives when called the COCOEvalCap way."""

import math
import shutil

import pytest

from panovlm.evaluation import metrics as M
from panovlm.evaluation.metrics import caption_metrics

pytestmark = pytest.mark.skipif(shutil.which("java") is None, reason="the reference PTB tokenizer needs java")

PREDICTIONS = {
    "a": "A large red circle in front.",
    "b": "a small blue star to the left and a green square behind",
    "c": "nothing",
    "d": "A yellow triangle, above!",
}
REFERENCES = {
    "a": ["a large red circle in front", "a big red circle ahead of you"],
    "b": ["a small blue star to the left", "a blue star on the left and a green square behind you"],
    "c": ["nothing"],
    "d": ["a large yellow triangle above"],
}


def _direct(predictions, references, with_meteor=False):
    """COCOEvalCap.evaluate, step by step, with the library's own classes."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    tok = PTBTokenizer()
    gts = tok.tokenize({k: [{"caption": c} for c in v] for k, v in references.items()})
    res = tok.tokenize({k: [{"caption": predictions[k]}] for k in references})
    out = dict(zip(["Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4"], Bleu(4).compute_score(gts, res)[0], strict=True))
    out["ROUGE_L"] = Rouge().compute_score(gts, res)[0]
    out["CIDEr"] = Cider().compute_score(gts, res)[0]
    if with_meteor:
        from pycocoevalcap.meteor.meteor import Meteor

        out["METEOR"] = Meteor().compute_score(gts, res)[0]
    return out


def test_equals_pycocoevalcap_called_directly():
    ours = caption_metrics(PREDICTIONS, REFERENCES, use_meteor=False, use_spice=False)
    direct = _direct(PREDICTIONS, REFERENCES)
    for name, value in direct.items():
        assert ours[name] == pytest.approx(value, abs=1e-12), name
    assert 0.0 < ours["Bleu_4"] < ours["Bleu_1"] < 1.0
    assert ours["num_samples"] == 4
    assert ours["backend"]["CIDEr"].startswith("pycocoevalcap 1.2 Cider")
    assert "PTBTokenizer" in ours["backend"]["tokenizer"]
    assert ours["METEOR"] is None and "use_meteor=False" in ours["skipped"]["METEOR"]


@pytest.mark.slow
def test_meteor_equals_pycocoevalcap():
    ours = caption_metrics(PREDICTIONS, REFERENCES, use_spice=False)
    assert ours["METEOR"] == pytest.approx(_direct(PREDICTIONS, REFERENCES, with_meteor=True)["METEOR"], abs=1e-12)
    assert ours["backend"]["METEOR"] == "pycocoevalcap 1.2 Meteor"


def test_empty_prediction_is_kept_and_scores_zero():
    preds = dict(PREDICTIONS, c="<|im_end|>")
    ours = caption_metrics(preds, REFERENCES, use_meteor=False, use_spice=False)
    assert ours["num_samples"] == 4 and ours["num_empty_predictions"] == 1
    direct = _direct(dict(PREDICTIONS, c=""), REFERENCES)
    assert ours["CIDEr"] == pytest.approx(direct["CIDEr"], abs=1e-12)
    assert ours["CIDEr"] < caption_metrics(PREDICTIONS, REFERENCES, use_meteor=False, use_spice=False)["CIDEr"]


def test_special_tokens_are_cleaned_before_scoring():
    noisy = {k: f"assistant: {v}<|im_end|>" for k, v in PREDICTIONS.items()}
    a = caption_metrics(noisy, REFERENCES, use_meteor=False, use_spice=False)
    b = caption_metrics(PREDICTIONS, REFERENCES, use_meteor=False, use_spice=False)
    assert all(a[k] == b[k] for k in ("Bleu_4", "ROUGE_L", "CIDEr"))


def test_spice_is_skipped_without_its_jars_and_never_downloads(monkeypatch):
    monkeypatch.setattr(M, "spice_missing_jars", lambda: ["stanford-corenlp-3.6.0.jar"])

    def no_download():
        raise AssertionError("SPICE download attempted")

    monkeypatch.setattr("pycocoevalcap.spice.get_stanford_models.get_stanford_models", no_download)
    out = caption_metrics(PREDICTIONS, REFERENCES, use_meteor=False)
    assert out["SPICE"] is None and "stanford-corenlp-3.6.0.jar" in out["skipped"]["SPICE"]


def test_without_java_meteor_is_skipped_and_tokenizer_is_labelled(monkeypatch):
    monkeypatch.setattr(M, "java_available", lambda: False)
    out = caption_metrics(PREDICTIONS, REFERENCES)
    assert out["METEOR"] is None and "java not found" in out["skipped"]["METEOR"]
    assert out["backend"]["tokenizer"] == "panovlm regex PTB (no Java)"
    assert not math.isnan(out["CIDEr"]) and out["CIDEr"] > 0


def test_regex_tokenizer_agrees_with_java_ptb_on_captions():
    sentences = [*PREDICTIONS.values(), *[r for refs in REFERENCES.values() for r in refs],
                 "There's a red circle; it isn't small (really).", "What's [behind] you? A star, {two} \"squares\"."]
    java, _ = M.tokenize({i: [s] for i, s in enumerate(sentences)})
    assert [M._regex_ptb(s) for s in sentences] == [java[i][0] for i in range(len(sentences))]


def test_bad_inputs_name_the_problem():
    with pytest.raises(ValueError, match="same keys"):
        caption_metrics({"a": "x"}, {"b": ["x"]})
    with pytest.raises(ValueError, match="list of strings"):
        caption_metrics({"a": "x"}, {"a": "x"})
    with pytest.raises(ValueError, match="no non-empty reference"):
        caption_metrics({"a": "x"}, {"a": ["", "  "]})
