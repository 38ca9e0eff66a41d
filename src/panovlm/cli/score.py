"""``panovlm score``: caption metrics (and the PanoShapes spatial score) for an existing predictions CSV.

The CSV needs ``prediction`` and ``reference`` (or ``references``) columns; a reference cell is one
string or a JSON list of strings. Writes ``OUT/metrics.json``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from panovlm.evaluation.scoring import format_metrics, score_file


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--predictions", type=Path, required=True, help="CSV with prediction and reference columns")
    parser.add_argument("--out", type=Path, required=True, help="output folder for metrics.json")
    parser.add_argument("--no-meteor", action="store_true", help="skip METEOR (Java, the slowest metric)")


def run(args: argparse.Namespace) -> int:
    metrics = score_file(args.predictions, args.out, use_meteor=not args.no_meteor)
    sys.stdout.write(format_metrics(metrics))
    return 0
