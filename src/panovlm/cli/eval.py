"""``panovlm eval``: predict a CSV with a saved model, then score the predictions.

Writes ``OUT/predictions.csv`` (incremental, resumable; see :mod:`panovlm.evaluation.predict`),
``OUT/generation.json`` (decoding settings) and, once every prediction is on disk, ``OUT/metrics.json``
(``Bleu_1``..``Bleu_4``, ``METEOR``, ``ROUGE_L``, ``CIDEr``, ``SPICE``, ``backend``, ``num_samples``, and
``direction_f1`` / ``per_direction_accuracy`` for PanoShapes CSVs).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from panovlm.cli.common import cli_path

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=cli_path, required=True, help="saved model folder (save_pretrained output)")
    parser.add_argument("--csv", type=cli_path, required=True, help="test CSV (QuIC-360 / PanoShapes / instruction) or LLaVA JSON")
    parser.add_argument("--out", type=cli_path, required=True, help="output folder for predictions.csv and metrics.json")
    parser.add_argument("--batch-size", type=int, default=8, help="panoramas per generate call (default 8)")
    parser.add_argument("--max-new-tokens", type=int, default=32, help="tokens to generate per answer (default 32)")
    parser.add_argument("--num-beams", type=int, default=1, help="beam search width (default 1 = greedy)")
    parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy, deterministic (default); > 0 samples")
    parser.add_argument("--max-samples", type=int, default=None, help="evaluate only the first N (image, query) pairs")
    parser.add_argument("--blind", action="store_true", help="same model without the images (text-only baseline)")
    parser.add_argument("--device", default=None, help="torch device, e.g. cuda (default: where the model loads, CPU)")
    parser.add_argument("--no-meteor", action="store_true", help="skip METEOR (Java, the slowest metric)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run_eval(model_dir: str | Path, csv: str | Path, out: str | Path, batch_size: int = 8, max_new_tokens: int = 32,
             num_beams: int = 1, temperature: float = 0.0, max_samples: int | None = None, blind: bool = False,
             device: str | None = None, use_meteor: bool = True, use_spice: bool = True,
             progress: bool = True) -> dict[str, Any]:
    """Predict ``csv`` with the model in ``model_dir`` into ``out`` and score it; returns the metrics dict."""
    from panovlm.data.datasets import read_samples
    from panovlm.evaluation.generation import load_model
    from panovlm.evaluation.predict import predict, unique_pairs
    from panovlm.evaluation.scoring import score_table, table_from_rows, write_metrics

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


def run(args: argparse.Namespace) -> int:
    import sys

    from panovlm.cli.score import format_metrics

    # The two usual mistakes get one line each, not a traceback (seed 004's eval scripts).
    if not args.csv.is_file():
        sys.stderr.write(f"panovlm eval: --csv {args.csv}: no such file; give the test CSV "
                         "(QuIC-360 / PanoShapes format, e.g. from `panovlm synth`)\n")
        return 2
    if not (args.model / "config.json").is_file():
        sys.stderr.write(f"panovlm eval: --model {args.model} holds no saved model (config.json missing); train that "
                         "stage first (scripts/stage*_train.sh) or set RUN_DIR\n")
        return 2
    metrics = run_eval(args.model, args.csv, args.out, batch_size=args.batch_size, max_new_tokens=args.max_new_tokens,
                       num_beams=args.num_beams, temperature=args.temperature, max_samples=args.max_samples,
                       blind=args.blind, device=args.device, use_meteor=not args.no_meteor,
                       progress=not args.no_progress)
    sys.stdout.write(format_metrics(metrics))
    return 0
