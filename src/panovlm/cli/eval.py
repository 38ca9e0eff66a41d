"""``panovlm eval``: predict a CSV with a saved model, then score the predictions (:func:`panovlm.evaluation.evaluate.run_eval`).

Writes ``OUT/predictions.csv`` (incremental, resumable; see :mod:`panovlm.evaluation.predict`),
``OUT/generation.json`` (decoding settings) and, once every prediction is on disk, ``OUT/metrics.json``
(``Bleu_1``..``Bleu_4``, ``METEOR``, ``ROUGE_L``, ``CIDEr``, ``SPICE``, ``backend``, ``num_samples``, and
``direction_f1`` / ``per_direction_accuracy`` for PanoShapes CSVs).
"""

from __future__ import annotations

import argparse
import sys

from panovlm.cli.common import cli_path
from panovlm.data.csv_io import DatasetError
from panovlm.evaluation.evaluate import MAX_SKIP_RATIO, TooManySkippedError, run_eval
from panovlm.evaluation.scoring import format_metrics


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
    parser.add_argument("--max-skip-ratio", type=float, default=MAX_SKIP_RATIO,
                        help="fail when more than this share of the CSV's rows is skipped as bad (missing or "
                             f"unreadable image, empty question, wrong column count; default {MAX_SKIP_RATIO})")


def run(args: argparse.Namespace) -> int:
    # The two usual mistakes get one line each, not a traceback.
    if not args.csv.is_file():
        sys.stderr.write(f"panovlm eval: --csv {args.csv}: no such file; give the test CSV "
                         "(QuIC-360 / PanoShapes format, e.g. from `panovlm synth`)\n")
        return 2
    if not (args.model / "config.json").is_file():
        sys.stderr.write(f"panovlm eval: --model {args.model} holds no saved model (config.json missing); train that "
                         "stage first (scripts/stage*_train.sh) or set RUN_DIR\n")
        return 2
    if not 0 <= args.max_skip_ratio <= 1:
        sys.stderr.write(f"panovlm eval: --max-skip-ratio {args.max_skip_ratio}: expected a share in [0, 1]\n")
        return 2
    try:
        metrics = run_eval(args.model, args.csv, args.out, batch_size=args.batch_size,
                           max_new_tokens=args.max_new_tokens, num_beams=args.num_beams, temperature=args.temperature,
                           max_samples=args.max_samples, blind=args.blind, device=args.device,
                           use_meteor=not args.no_meteor, progress=not args.no_progress,
                           max_skip_ratio=args.max_skip_ratio)
    except (TooManySkippedError, DatasetError) as err:  # each names the file and counts what was wrong
        sys.stderr.write(f"panovlm eval: {err}\n")
        return 2
    sys.stdout.write(format_metrics(metrics))
    return 0
