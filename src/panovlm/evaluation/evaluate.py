"""Evaluate a saved model on a CSV: predict (resumable) and score, the routine ``panovlm eval`` and the quickstart share.

Writes ``OUT/predictions.csv`` (see :mod:`panovlm.evaluation.predict`), ``OUT/generation.json`` and, once
every prediction is on disk, ``OUT/metrics.json`` (see :mod:`panovlm.evaluation.scoring`).

Bad rows are data, not crashes: a row with the wrong number of columns, an empty question or answer,
a missing image (found when the CSV is read) and an image that does not decode (found when it is
predicted) are each skipped, logged with their line, and counted by kind in ``metrics.json``
(``skipped``, ``skipped_lines``, ``skip_ratio``). The run fails only when the skipped share of the CSV's
rows exceeds ``max_skip_ratio`` (:class:`TooManySkippedError`); predictions already written stay.
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
MAX_SKIP_RATIO = 0.05
_LINES_KEPT = 100  # per kind in metrics.json; the log has them all


class TooManySkippedError(ValueError):
    """More of the CSV's rows were skipped than ``max_skip_ratio`` allows; the message counts them by kind."""


def skip_summary(report: Any, unreadable: list[Any]) -> dict[str, Any]:
    """``skipped`` (kind -> count), ``skipped_lines`` (kind -> lines) and ``skip_ratio`` of the CSV's rows."""
    lines = {k: list(v) for k, v in report.locations.items()}
    counts = dict(report.skipped)
    if unreadable:  # one (image, query) pair stands for each of its reference rows
        counts["unreadable_image"] = sum(len(s.references) for s in unreadable)
        lines["unreadable_image"] = [f"line {s.meta.get('line', '?')}" for s in unreadable]
    ratio = sum(counts.values()) / max(1, report.rows)
    return {"skipped": counts, "skipped_lines": {k: v[:_LINES_KEPT] for k, v in lines.items()},
            "skip_ratio": round(ratio, 4), "rows": report.rows}


def log_skips(summary: dict[str, Any], csv: Any, kinds: Any) -> None:
    for kind in kinds:
        logger.warning("%s: skipped %d row(s) of kind %s at %s", csv, summary["skipped"][kind], kind,
                       ", ".join(summary["skipped_lines"][kind]))


def check_skip_ratio(summary: dict[str, Any], csv: Any, max_skip_ratio: float) -> None:
    """TooManySkippedError when the skipped share of the CSV's rows exceeds ``max_skip_ratio``."""
    if summary["skip_ratio"] > max_skip_ratio:
        kinds = ", ".join(f"{k}={v}" for k, v in sorted(summary["skipped"].items()))
        raise TooManySkippedError(f"{csv}: {sum(summary['skipped'].values())} of {summary['rows']} rows skipped "
                                  f"(ratio {summary['skip_ratio']:.3f} > --max-skip-ratio {max_skip_ratio}): {kinds}; "
                                  "fix the rows named in the log, or raise --max-skip-ratio")


def run_eval(model_dir: str | Path, csv: str | Path, out: str | Path, batch_size: int = 8, max_new_tokens: int = 32,
             num_beams: int = 1, temperature: float = 0.0, max_samples: int | None = None, blind: bool = False,
             device: str | None = None, use_meteor: bool = True, use_spice: bool = True,
             progress: bool = True, max_skip_ratio: float = MAX_SKIP_RATIO) -> dict[str, Any]:
    """Predict ``csv`` with the model in ``model_dir`` into ``out`` and score it; returns the metrics dict."""
    if not 0 <= max_skip_ratio <= 1:
        raise ValueError(f"max_skip_ratio must be in [0, 1], got {max_skip_ratio}")
    samples, report = read_samples(csv)
    summary = skip_summary(report, [])
    log_skips(summary, csv, summary["skipped"])
    check_skip_ratio(summary, csv, max_skip_ratio)  # before any compute is spent
    if not samples:
        raise ValueError(f"{csv}: no readable samples ({report.summary()})")
    pairs = unique_pairs(samples)
    logger.info("%s: %d samples, %d (image, query) pairs", csv, len(samples), len(pairs))
    model, processor = load_model(model_dir, device=device)
    out = Path(out)
    skipped: dict[str, list[Any]] = {}
    rows = predict(model, processor, pairs, out / "predictions.csv", batch_size=batch_size,
                   max_new_tokens=max_new_tokens, num_beams=num_beams, temperature=temperature,
                   max_samples=max_samples, blind=blind, progress=progress, skipped=skipped)
    summary = skip_summary(report, skipped.get("unreadable_image", []))
    log_skips(summary, csv, [k for k in ("unreadable_image",) if k in summary["skipped"]])
    check_skip_ratio(summary, csv, max_skip_ratio)  # the predictions written so far stay in predictions.csv
    if not rows:
        raise ValueError(f"{csv}: no sample could be predicted ({summary['skipped']})")
    metrics = score_table(*table_from_rows(rows, source=str(out / "predictions.csv"), first_line=2),
                          use_meteor=use_meteor, use_spice=use_spice)
    metrics.update(model=str(model_dir), csv=str(csv), blind=blind, skipped_rows=sum(summary["skipped"].values()),
                   skipped=summary["skipped"], skipped_lines=summary["skipped_lines"], skip_ratio=summary["skip_ratio"],
                   generation={"max_new_tokens": max_new_tokens, "num_beams": num_beams, "temperature": temperature})
    write_metrics(metrics, out)
    return metrics


__all__ = ["MAX_SKIP_RATIO", "TooManySkippedError", "run_eval", "skip_summary"]
