"""Predictions on disk -> ``metrics.json``: caption metrics plus the PanoShapes spatial score.

Reads ``predictions.csv`` from :func:`panovlm.evaluation.predict.predict` or any CSV with a
``prediction`` column and a ``reference`` or ``references`` column (one string, or a JSON list of
strings). Each row is one scored pair, keyed by ``sample_id`` when present, else by row number.
The spatial score is added when rows carry PanoShapes labels: a ``meta`` JSON column holding
``objects``/``target_direction``, or ``objects``/``target_direction`` columns of their own.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from panovlm.data.csv_io import ReadReport, iter_csv_records, read_header
from panovlm.evaluation.metrics import caption_metrics
from panovlm.evaluation.spatial import direction_scores, has_spatial_labels

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
# The headline numbers of format_metrics, in display order.
_ORDER = ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr", "SPICE", "direction_f1",
          "direction_accuracy", "empty_direction_accuracy", "colour_accuracy", "scene_colour_accuracy", "shape_accuracy",
          "presence_accuracy")


def parse_references(cell: str, where: str) -> list[str]:
    """A reference cell: a JSON list of strings, or one plain string."""
    text = (cell or "").strip()
    if text.startswith("["):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    if not text:
        raise ValueError(f"{where}: empty reference")
    return [text]


def _row_meta(row: dict, where: str) -> dict:
    if row.get("meta"):
        try:
            meta = json.loads(row["meta"])
        except json.JSONDecodeError as err:
            raise ValueError(f"{where}: column 'meta' is not JSON ({err.msg})") from err
        if not isinstance(meta, dict):
            raise ValueError(f"{where}: column 'meta' must hold a JSON object, got {type(meta).__name__}")
        return meta
    return {k: row[k] for k in ("objects", "target_direction") if row.get(k) not in (None, "")}


def read_scoring_table(path: str | Path) -> tuple[dict[str, str], dict[str, list[str]], list[dict]]:
    """``(predictions, references, metas)`` of a predictions CSV; keys are sample ids (or row numbers)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"predictions file not found: {path}")
    columns = read_header(path)
    if "prediction" not in columns or not {"reference", "references"} & set(columns):
        raise ValueError(f"{path} has columns {columns}; scoring needs 'prediction' and 'reference' "
                         "(or 'references')")
    # strict: a row with the wrong number of fields is an error, never a silently empty prediction.
    records = list(iter_csv_records(path, ReadReport(str(path)), strict=True))
    return table_from_rows([r.values for r in records], source=str(path), lines=[r.line for r in records])


def table_from_rows(rows: list[dict], source: str = "predictions", first_line: int = 1,
                    lines: list[int] | None = None) -> tuple[dict[str, str], dict[str, list[str]], list[dict]]:
    """``(predictions, references, metas)`` from prediction rows (dicts with the CSV's columns).

    Errors name ``source`` and the row's file line: ``lines[i]`` when given, else ``first_line + i``.
    """
    if lines is not None and len(lines) != len(rows):
        raise ValueError(f"lines has {len(lines)} entries for {len(rows)} rows")
    predictions: dict[str, str] = {}
    references: dict[str, list[str]] = {}
    metas: list[dict] = []
    numbers = lines if lines is not None else range(first_line, first_line + len(rows))
    for number, row in zip(numbers, rows, strict=True):
        where = f"{source}, line {number}"
        key = row.get("sample_id") or f"row{number}"
        if key in predictions:
            raise ValueError(f"{where}: sample_id {key!r} appears twice")
        predictions[key] = row["prediction"] or ""
        references[key] = parse_references(row.get("references") or row.get("reference") or "", where)
        metas.append(_row_meta(row, where))
    if not predictions:
        raise ValueError(f"{source} has no rows to score")
    return predictions, references, metas


def score_table(predictions: dict[str, str], references: dict[str, list[str]], metas: list[dict],
                use_meteor: bool = True, use_spice: bool = True) -> dict:
    """Caption metrics, plus ``direction_f1`` etc. when ``metas`` carry PanoShapes labels."""
    metrics = caption_metrics(predictions, references, use_meteor=use_meteor, use_spice=use_spice)
    if has_spatial_labels(metas):
        spatial = direction_scores(list(predictions.values()), metas)
        metrics.update(spatial)
        metrics["backend"]["direction_f1"] = "panovlm.evaluation.spatial"
    return metrics


def score_file(predictions_csv: str | Path, out_dir: str | Path, use_meteor: bool = True,
               use_spice: bool = True) -> dict:
    """Score a predictions CSV and write ``out_dir/metrics.json``; returns the metrics."""
    metrics = score_table(*read_scoring_table(predictions_csv), use_meteor=use_meteor, use_spice=use_spice)
    metrics["predictions"] = str(predictions_csv)
    write_metrics(metrics, out_dir)
    return metrics


def write_metrics(metrics: dict, out_dir: str | Path) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / METRICS_FILE
    path.write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
    logger.info("wrote %s", path)
    return path


def format_metrics(metrics: dict) -> str:
    """Plain-text table of the headline numbers, skipped metrics with their reason."""
    lines = [f"{'metric':<26}value", f"{'num_samples':<26}{metrics.get('num_samples')}"]
    for name in _ORDER:
        if name not in metrics:
            continue
        value = metrics[name]
        shown = f"{value:.4f}" if isinstance(value, float) else f"skipped: {metrics.get('skipped', {}).get(name, 'n/a')}"
        lines.append(f"{name:<26}{shown}")
    for direction, acc in (metrics.get("per_direction_accuracy") or {}).items():
        lines.append(f"{'accuracy[' + direction + ']':<26}{acc:.4f}")
    return "\n".join(lines) + "\n"
