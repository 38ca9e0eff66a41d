"""Evaluation: batched prediction, COCO caption metrics, the PanoShapes spatial score, comparisons.

Modules: ``text`` (clean-up before scoring), ``metrics`` (pycocoevalcap), ``spatial`` (direction F1),
``generation`` (one generate call, blind mode), ``predict`` (resumable predictions.csv), ``scoring``
(predictions -> metrics.json), ``evaluate`` (predict + score a CSV), ``compare`` (tables and charts
across runs). The names below are imported lazily so that importing one submodule does not import
all the others.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "clean_text": "panovlm.evaluation.text",
    "caption_metrics": "panovlm.evaluation.metrics",
    "direction_scores": "panovlm.evaluation.spatial",
    "parse_objects": "panovlm.evaluation.spatial",
    "predict": "panovlm.evaluation.predict",
    "caption_one": "panovlm.evaluation.generation",
    "score_file": "panovlm.evaluation.scoring",
    "run_eval": "panovlm.evaluation.evaluate",
    "compare_runs": "panovlm.evaluation.compare",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'panovlm.evaluation' has no attribute {name!r}; valid: {sorted(_EXPORTS)}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


__all__ = sorted(_EXPORTS)
