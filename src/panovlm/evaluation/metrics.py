"""COCO caption metrics (BLEU-1..4, METEOR, ROUGE-L, CIDEr, SPICE) through pycocoevalcap.

:func:`caption_metrics` is what ``COCOEvalCap.evaluate`` does, with the library's pitfalls handled:

* **One PTB tokenizer run.** pycocoevalcap's ``PTBTokenizer`` starts Java and writes a temp file into
  its own package folder; COCOEvalCap runs it twice (references, then predictions). We tokenise both
  sides in one call (tokenisation is per line, so the result is identical) and fail with a clear error
  if the package folder is not writable.
* **Empty predictions are kept** and score zero, as a wrong answer would (dropping them would reward a
  model for saying nothing on hard samples); their count is reported. Empty references are dropped;
  a key left with none is an error.
* **METEOR** runs ``meteor-1.5.jar`` as a subprocess: skipped with a clear reason when ``java`` is
  missing; its stderr is drained in a thread (a full pipe is how it deadlocks on large sets); the
  process is closed after use.
* **SPICE** needs Stanford CoreNLP 3.6.0 jars in ``pycocoevalcap/spice/lib``; ``Spice()`` downloads
  them from a server that is gone, so it runs only when the jars are already there, otherwise it is
  skipped with the reason. We never trigger the download.
* Scorers print to stdout; that output is captured and logged at debug level (the library must not print).
* CIDEr's IDF comes from the evaluated set itself, so CIDEr depends on the test set (0 for one sample).

Without Java the PTB tokenizer cannot run either; then a regex re-implementation of its rules is used,
logged as a warning and named in ``backend["tokenizer"]`` so the numbers are never mistaken for the
Java ones (``tests/evaluation/test_metrics.py`` checks it agrees with the Java tokenizer on captions).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from panovlm.evaluation.text import clean_text

logger = logging.getLogger(__name__)

METRIC_NAMES: tuple[str, ...] = ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr", "SPICE")
SPICE_JARS: tuple[str, ...] = ("stanford-corenlp-3.6.0.jar", "stanford-corenlp-3.6.0-models.jar")
# pycocoevalcap's PTBTokenizer.PUNCTUATIONS, repeated for the no-Java tokenizer.
_PUNCTUATIONS = {"''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!", ",", ":", "-", "--", "...", ";"}
_INSTALL = "pip install 'panovlm[eval]'"


def _package_dir(subpackage: str) -> Path:
    try:
        import pycocoevalcap
    except ImportError as err:
        raise ImportError(f"caption metrics need pycocoevalcap: {_INSTALL}") from err
    # A namespace package (no __init__.py): __file__ is None, __path__ holds its folder.
    return Path(next(iter(pycocoevalcap.__path__))).resolve() / subpackage


def _version() -> str:
    return importlib.metadata.version("pycocoevalcap")


def java_available() -> bool:
    """True when a ``java`` executable is on PATH (PTB tokenizer, METEOR and SPICE need it)."""
    return shutil.which("java") is not None


def spice_missing_jars() -> list[str]:
    """The Stanford CoreNLP jars SPICE needs that are not in ``pycocoevalcap/spice/lib``."""
    lib = _package_dir("spice") / "lib"
    return [name for name in SPICE_JARS if not (lib / name).is_file()]


def _check_inputs(predictions: Mapping, references: Mapping) -> None:
    missing = [k for k in predictions if k not in references]
    extra = [k for k in references if k not in predictions]
    if missing or extra:
        raise ValueError(
            f"predictions and references must have the same keys: {len(missing)} prediction keys have no "
            f"references (e.g. {missing[:3]}), {len(extra)} reference keys have no prediction (e.g. {extra[:3]})"
        )
    if not predictions:
        raise ValueError("caption_metrics needs at least one prediction, got none")
    for key, refs in references.items():
        if isinstance(refs, str) or not isinstance(refs, Sequence):
            raise ValueError(f"references[{key!r}] must be a list of strings, got {type(refs).__name__}")


_BRACKETS = {"(": "-lrb-", ")": "-rrb-", "[": "-lsb-", "]": "-rsb-", "{": "-lcb-", "}": "-rcb-"}


def _regex_ptb(sentence: str) -> str:
    """PTBTokenizer's observable rules: lower-case, split off punctuation and clitics, drop punctuation.

    With ``-lowerCase`` the jar writes brackets as ``-lrb-`` etc., which its upper-case punctuation list
    does not catch, so they stay; mirrored here.
    """
    text = sentence.replace("\n", " ").lower()
    text = re.sub(r"([.,!?;:()\[\]{}\"`])", r" \1 ", text)
    text = re.sub(r"(\w)('s|'re|'ve|'ll|'d|'m|n't)\b", r"\1 \2", text)
    tokens = (_BRACKETS.get(t, t) for t in text.split())
    return " ".join(t for t in tokens if t not in _PUNCTUATIONS and t != '"')


def tokenize(captions: Mapping[Hashable, list[str]]) -> tuple[dict[Hashable, list[str]], str]:
    """PTB-tokenise every caption in one tokenizer run -> (tokenised captions, tokenizer backend name)."""
    if not java_available():
        logger.warning("java not found: PTB tokenisation uses panovlm's regex re-implementation, "
                       "not Stanford CoreNLP; install a JRE (apt-get install openjdk-17-jre-headless) for COCO numbers")
        return {k: [_regex_ptb(c) for c in caps] for k, caps in captions.items()}, "panovlm regex PTB (no Java)"
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    folder = _package_dir("tokenizer")
    if not os.access(folder, os.W_OK):
        raise PermissionError(f"pycocoevalcap's PTBTokenizer writes a temp file into {folder}, which is not writable; "
                              "install pycocoevalcap into a writable environment (e.g. a venv)")
    indexed = {i: [{"caption": c} for c in caps] for i, caps in enumerate(captions.values())}
    with contextlib.redirect_stdout(io.StringIO()) as captured:
        tokenised = PTBTokenizer().tokenize(indexed)
    _log_captured("PTBTokenizer", captured)
    return {k: tokenised.get(i, []) for i, k in enumerate(captions)}, f"pycocoevalcap {_version()} PTBTokenizer (Java)"


def _log_captured(name: str, captured: io.StringIO) -> None:
    text = captured.getvalue().strip()
    if text:
        logger.debug("%s output: %s", name, text)


def _drain(stream) -> None:
    for _ in iter(stream.readline, b""):
        pass


def _run_meteor(gts: dict, res: dict) -> float:
    from pycocoevalcap.meteor.meteor import Meteor

    scorer = Meteor()
    process = scorer.meteor_p
    drainer = threading.Thread(target=_drain, args=(process.stderr,), daemon=True)
    drainer.start()
    try:
        score, _ = scorer.compute_score(gts, res)
    except (ValueError, BrokenPipeError) as err:
        raise RuntimeError(f"METEOR (meteor-1.5.jar) failed: {err}; is there enough memory for java -Xmx2G?") from err
    finally:
        # Scoring is done; the jar only waits for more input. Meteor.__del__ tolerates a dead process.
        process.kill()
        process.wait()
    return float(score)


def _run_spice(gts: dict, res: dict) -> float:
    from pycocoevalcap.spice.spice import Spice

    # Java >= 9 refuses SPICE's reflective access without this (tylin/coco-caption #59).
    previous = os.environ.get("JDK_JAVA_OPTIONS")
    os.environ["JDK_JAVA_OPTIONS"] = "--add-opens java.base/java.lang=ALL-UNNAMED"
    try:
        score, _ = Spice().compute_score(gts, res)
    finally:
        if previous is None:
            os.environ.pop("JDK_JAVA_OPTIONS", None)
        else:
            os.environ["JDK_JAVA_OPTIONS"] = previous
    return float(score)


def _skip_reasons(use_meteor: bool, use_spice: bool) -> dict[str, str]:
    skipped: dict[str, str] = {}
    if not use_meteor:
        skipped["METEOR"] = "disabled by the caller (use_meteor=False)"
    elif not java_available():
        skipped["METEOR"] = "java not found on PATH (METEOR runs meteor-1.5.jar); apt-get install openjdk-17-jre-headless"
    if not use_spice:
        skipped["SPICE"] = "disabled by the caller (use_spice=False)"
    elif not java_available():
        skipped["SPICE"] = "java not found on PATH (SPICE runs spice-1.0.jar)"
    elif missing := spice_missing_jars():
        skipped["SPICE"] = (f"Stanford CoreNLP jars missing from {_package_dir('spice') / 'lib'}: {', '.join(missing)} "
                            "(pycocoevalcap would download them from nlp.stanford.edu, which is offline; copy them there)")
    for name, reason in skipped.items():
        logger.info("%s skipped: %s", name, reason)
    return skipped


def _prepare(predictions: Mapping, references: Mapping) -> tuple[dict, dict, int, int]:
    _check_inputs(predictions, references)
    preds = {k: clean_text(v) for k, v in predictions.items()}
    refs: dict = {}
    dropped = 0
    for key, texts in references.items():
        cleaned = [clean_text(t) for t in texts]
        refs[key] = [t for t in cleaned if t]
        dropped += len(cleaned) - len(refs[key])
        if not refs[key]:
            raise ValueError(f"references[{key!r}] has no non-empty reference (got {list(texts)!r})")
    return preds, refs, sum(1 for v in preds.values() if not v), dropped


def caption_metrics(predictions: Mapping[Hashable, str], references: Mapping[Hashable, Sequence[str]],
                    use_meteor: bool = True, use_spice: bool = True) -> dict:
    """COCO caption metrics of ``predictions[key]`` against the list ``references[key]``.

    Keys identify one (image, query) pair; give all its references in one list (QuIC-360 has 1-12).
    Both sides are cleaned with :func:`panovlm.evaluation.text.clean_text`, then PTB-tokenised once.

    Returns ``{"Bleu_1".."Bleu_4", "METEOR", "ROUGE_L", "CIDEr", "SPICE": float | None (None = skipped),
    "backend": {metric: "pycocoevalcap 1.2 <Scorer>", "tokenizer": ...}, "num_samples": int,
    "num_empty_predictions": int, "num_empty_references_dropped": int, "skipped": {metric: reason},
    "seconds": {scorer: wall time}}``. METEOR (Java) runs in a thread beside the Python scorers.
    """
    start = time.perf_counter()
    preds, refs, empty_preds, dropped = _prepare(predictions, references)
    keys = list(preds)
    merged = {("ref", i): refs[k] for i, k in enumerate(keys)} | {("pred", i): [preds[k]] for i, k in enumerate(keys)}
    tokenised, tokenizer_backend = tokenize(merged)
    gts = {i: tokenised[("ref", i)] for i in range(len(keys))}
    res = {i: tokenised[("pred", i)] for i in range(len(keys))}
    skipped = _skip_reasons(use_meteor, use_spice)
    result: dict = dict.fromkeys(METRIC_NAMES)
    backend, seconds = {"tokenizer": tokenizer_backend}, {"tokenizer": round(time.perf_counter() - start, 3)}
    java, python = _scorers(skipped)
    # The Java scorers mostly wait on their subprocess: run them beside the Python ones.
    with ThreadPoolExecutor(max_workers=1) as pool:
        futures = {name: pool.submit(_timed, fn, gts, res, False) for name, fn in java.items()}
        done = {name: _timed(fn, gts, res, True) for name, fn in python.items()}
        done |= {name: future.result() for name, future in futures.items()}
    version = _version()
    for name, (scores, elapsed) in done.items():
        seconds[name] = round(elapsed, 3)
        for metric, value in scores.items():
            result[metric] = float(value)
            backend[metric] = f"pycocoevalcap {version} {name}"
    result.update(backend=backend, num_samples=len(keys), num_empty_predictions=empty_preds,
                  num_empty_references_dropped=dropped, skipped=skipped, seconds=seconds)
    return result


def _timed(fn: Callable[[dict, dict], dict], gts: dict, res: dict, capture: bool) -> tuple[dict, float]:
    """Run one scorer; ``capture`` its prints (main thread only: redirect_stdout swaps a process-wide object)."""
    start = time.perf_counter()
    if not capture:
        return fn(gts, res), time.perf_counter() - start
    with contextlib.redirect_stdout(io.StringIO()) as captured:  # Bleu prints its ratios
        scores = fn(gts, res)
    _log_captured(getattr(fn, "__name__", "scorer"), captured)
    return scores, time.perf_counter() - start


def _bleu(gts: dict, res: dict) -> dict:
    from pycocoevalcap.bleu.bleu import Bleu

    scores, _ = Bleu(4).compute_score(gts, res, verbose=0)
    return {f"Bleu_{n + 1}": s for n, s in enumerate(scores)}


def _rouge(gts: dict, res: dict) -> dict:
    from pycocoevalcap.rouge.rouge import Rouge

    return {"ROUGE_L": Rouge().compute_score(gts, res)[0]}


def _cider(gts: dict, res: dict) -> dict:
    from pycocoevalcap.cider.cider import Cider

    return {"CIDEr": Cider().compute_score(gts, res)[0]}


def _scorers(skipped: Mapping[str, str]) -> tuple[dict, dict]:
    """(Java scorers, Python scorers) to run, by pycocoevalcap class name."""
    java = {"Meteor": lambda g, r: {"METEOR": _run_meteor(g, r)}, "Spice": lambda g, r: {"SPICE": _run_spice(g, r)}}
    java = {name: fn for name, fn in java.items() if name.upper() not in skipped}
    return java, {"Bleu": _bleu, "Rouge": _rouge, "Cider": _cider}
