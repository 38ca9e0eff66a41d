"""``panovlm compare OUT1 OUT2 ...``: a markdown table of the runs' metrics (printed), ``compare.csv``
and a bar chart ``compare.png`` in ``--out``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from panovlm.evaluation.compare import DEFAULT_METRICS, compare_runs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", type=Path, help="evaluation folders, each holding metrics.json")
    parser.add_argument("--out", type=Path, default=Path("compare"), help="folder for compare.csv/png (default ./compare)")
    parser.add_argument("--metrics", nargs="+", default=None,
                        help="metric names to show (default: the COCO metrics, direction_f1, direction_accuracy)")


def run(args: argparse.Namespace) -> int:
    result = compare_runs(args.runs, args.out, metrics=args.metrics or DEFAULT_METRICS)
    sys.stdout.write(result["markdown"])
    sys.stdout.write(f"\nsaved {result['csv']} and {result['png']}\n")
    return 0
