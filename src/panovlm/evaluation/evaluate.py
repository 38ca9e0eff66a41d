"""Evaluate a saved model on a CSV: predict (resumable) and score, the routine ``panovlm eval`` and the quickstart share.

Writes ``OUT/predictions.csv`` (see :mod:`panovlm.evaluation.predict`), ``OUT/generation.json`` and, once
every prediction is on disk, ``OUT/metrics.json`` (see :mod:`panovlm.evaluation.scoring`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from panovlm.data.datasets import read_samples
from panovlm.evaluation.predict import predict, unique_pairs
from panovlm.evaluation.scoring import score_table, table_from_rows, write_metrics
from panovlm.models.loading import load_model

logger = logging.getLogger(__name__)


def run_eval(model_dir: str | Path, csv: str | Path, out: str | Path, batch_size: int = 8, max_new_tokens: int = 32,
             num_beams: int = 1, temperature: float = 0.0, max_samples: int | None = None, blind: bool = False,
             device: str | None = None, use_meteor: bool = True, use_spice: bool = True,
             progress: bool = True) -> dict[str, Any]:
    """Predict ``csv`` with the model in ``model_dir`` into ``out`` and score it; returns the metrics dict."""
    samples, report = read_samples(csv)
    if not samples:
        raise ValueError(f"{csv}: no readable samples ({report.summary()})")
    pairs = unique_pairs(samples)
    logger.info("%s: %d samples, %d (image, query) pairs", csv, len(samples), len(pairs))
    model, processor = load_model(model_dir, device=device)
    out = Path(out)
    rows = predict(model, processor, pairs, out / "predictions.csv", batch_size=batch_size,
                   max_new_tokens=max_new_tokens, num_beams=num_beams, temperature=temperature,
                   max_samples=max_samples, blind=blind, progress=progress)
    metrics = score_table(*table_from_rows(rows, source=str(out / "predictions.csv"), first_line=2),
                          use_meteor=use_meteor, use_spice=use_spice)
    metrics.update(model=str(model_dir), csv=str(csv), blind=blind, skipped_rows=report.total_skipped,
                   generation={"max_new_tokens": max_new_tokens, "num_beams": num_beams, "temperature": temperature})
    write_metrics(metrics, out)
    return metrics


__all__ = ["run_eval"]
