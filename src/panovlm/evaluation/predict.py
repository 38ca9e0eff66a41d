"""Batched prediction for a dataset, written incrementally to ``predictions.csv`` and resumable.

``predictions.csv`` columns: ``sample_id, image, query, prediction, references`` (JSON list of all
references of the (image, query) pair) and ``meta`` (JSON: the sample's structured labels, e.g.
PanoShapes' ``objects`` and ``target_direction``, so ``panovlm score`` can compute the spatial score).

Every batch is appended and flushed before the next starts. A sample whose image does not decode is
skipped (logged with its line, and recorded in ``skipped["unreadable_image"]``); the rest of its batch
is predicted. A rerun reads the rows already there
(by ``sample_id``), drops a half-written last line, and predicts only the rest. The decoding settings
are stored next to the CSV (``generation.json``); resuming with different settings is an error, so
one file never mixes two decodings.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from panovlm.data.datasets import group_references
from panovlm.data.io import ImageLoadError
from panovlm.evaluation.generation import GenerationSettings, caption_one, generate_batch, prompt_messages, user_text

logger = logging.getLogger(__name__)

COLUMNS: tuple[str, ...] = ("sample_id", "image", "query", "prediction", "references", "meta")
SETTINGS_FILE = "generation.json"


def unique_pairs(samples: Sequence[Any]) -> list[Any]:
    """One sample per (image, query) with all of that pair's references (QuIC-360 has 1-12 per pair).

    Samples without ``meta["url"]``/``meta["query"]`` (e.g. LLaVA JSON) are kept as they are.
    """
    keyed = [s for s in samples if "url" in s.meta and "query" in s.meta]
    groups = group_references(keyed)
    seen: set[tuple[str, str]] = set()
    out = []
    for sample in samples:
        if "url" not in sample.meta or "query" not in sample.meta:
            out.append(sample)
            continue
        key = (sample.meta["url"], sample.meta["query"])
        if key not in seen:
            seen.add(key)
            out.append(replace(sample, references=list(groups[key])))
    return out


def _json_meta(meta: dict) -> str:
    keep = {k: v for k, v in meta.items() if k not in ("url", "query", "line")}
    return json.dumps(keep, ensure_ascii=False, default=str)


def read_predictions(path: str | Path) -> list[dict[str, str]]:
    """Complete rows of a ``predictions.csv`` written by :func:`predict` (a truncated last row is dropped)."""
    path = Path(path)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise ValueError(f"{path} has columns {reader.fieldnames}, expected {list(COLUMNS)}; "
                             "it was not written by panovlm eval (delete it or choose another --out)")
        rows = []
        for row in reader:
            if any(row.get(c) is None for c in COLUMNS) or None in row:
                logger.warning("%s: dropping an incomplete row (an interrupted write): %r", path, row)
                continue
            rows.append(row)
    return rows


def _check_settings(out_dir: Path, settings: dict, resuming: bool) -> None:
    path = out_dir / SETTINGS_FILE
    if resuming and path.is_file():
        previous = json.loads(path.read_text())
        if previous != settings:
            raise ValueError(f"{out_dir / 'predictions.csv'} was made with {previous}, this run asks for {settings}; "
                             "use another output folder or delete the old predictions")
    path.write_text(json.dumps(settings, indent=2))


def _open_for_append(out_csv: Path, done_rows: list[dict]) -> Any:
    """Rewrite the complete rows (dropping any torn tail) and return the file opened for appending."""
    tmp = out_csv.with_suffix(".csv.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(done_rows)
    os.replace(tmp, out_csv)
    return out_csv.open("a", newline="", encoding="utf-8")


def _batches(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _progress(enabled: bool) -> Any:
    return Progress(TextColumn("[bold]predict"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=Console(stderr=True), disable=not enabled)


def predict(model: Any, processor: Any, samples: Sequence[Any], out_csv: str | Path, batch_size: int = 8,
            max_new_tokens: int = 32, num_beams: int = 1, temperature: float = 0.0, max_samples: int | None = None,
            blind: bool = False, progress: bool = True,
            skipped: dict[str, list[Any]] | None = None) -> list[dict[str, str]]:
    """Predict every sample (first ``max_samples``), appending to ``out_csv``; returns the rows, in sample order.

    Greedy by default. ``blind=True`` runs the same model without images (see
    :mod:`panovlm.evaluation.generation`). Samples whose ``sample_id`` is already in ``out_csv`` are skipped.
    Samples with an unreadable image are left out of the result and appended to
    ``skipped["unreadable_image"]`` (when given).
    """
    skipped = {} if skipped is None else skipped
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if max_samples is not None and max_samples < 1:
        raise ValueError(f"max_samples must be >= 1 or None, got {max_samples}")
    settings = GenerationSettings(max_new_tokens=max_new_tokens, num_beams=num_beams, temperature=temperature)
    samples = list(samples)[:max_samples]
    ids = [s.sample_id for s in samples]
    if len(set(ids)) != len(ids):
        raise ValueError("sample_id values must be unique; got duplicates such as "
                         f"{sorted({i for i in ids if ids.count(i) > 1})[:3]}")
    out_csv = Path(out_csv)
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    resuming = out_csv.is_file()
    done = {row["sample_id"]: row for row in read_predictions(out_csv)} if resuming else {}
    _check_settings(out_csv.parent, {**asdict(settings), "blind": blind}, resuming)
    todo = [s for s in samples if s.sample_id not in done]
    if done:
        logger.info("resuming %s: %d of %d samples already predicted", out_csv, len(samples) - len(todo), len(samples))
    with _open_for_append(out_csv, list(done.values())) as handle, _progress(progress) as bar:
        writer = csv.DictWriter(handle, fieldnames=list(COLUMNS), lineterminator="\n")
        task = bar.add_task("predict", total=len(samples), completed=len(samples) - len(todo))
        for batch in _batches(todo, batch_size):
            kept, texts = _generate(model, processor, batch, settings, blind, skipped.setdefault("unreadable_image", []))
            for sample, text in zip(kept, texts, strict=True):
                row = _row(sample, text)
                writer.writerow(row)
                done[sample.sample_id] = row
            handle.flush()
            bar.advance(task, len(batch))
    return [done[i] for i in ids if i in done]


def _generate(model: Any, processor: Any, batch: list, settings: GenerationSettings, blind: bool,
              unreadable: list[Any]) -> tuple[list, list[str]]:
    """Answers for ``batch``; a sample whose image fails to decode is dropped (appended to ``unreadable``)."""
    while batch:
        texts = [prompt_messages(s.messages) for s in batch]
        images = None if blind else [s.image_path for s in batch]
        try:
            return batch, generate_batch(model, processor, texts, images, settings)
        except ImageLoadError as err:
            bad = [s for s in batch if err.path is not None and str(s.image_path) == str(err.path)]
            if not bad:  # the error does not name one of this batch's files: not a bad row
                raise
            for sample in bad:
                logger.warning("skipping %s line %s: unreadable image %s (%s)", sample.sample_id,
                               sample.meta.get("line", "?"), sample.image_path, err)
                unreadable.append(sample)
            batch = [s for s in batch if s not in bad]
    return [], []


def _row(sample: Any, prediction: str) -> dict[str, str]:
    return {
        "sample_id": sample.sample_id,
        "image": str(sample.image_path),
        "query": sample.meta.get("query", user_text(sample.messages)),
        "prediction": prediction,
        "references": json.dumps(list(sample.references), ensure_ascii=False),
        "meta": _json_meta(sample.meta),
    }


__all__ = ["COLUMNS", "caption_one", "predict", "read_predictions", "unique_pairs"]
