"""``panovlm score``: caption metrics (and the PanoShapes spatial score) for an existing predictions CSV.

The CSV needs ``prediction`` and ``reference`` (or ``references``) columns; a reference cell is one
string or a JSON list of strings. Writes ``OUT/metrics.json``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

_ORDER = ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr", "SPICE", "direction_f1",
          "direction_accuracy", "empty_direction_accuracy", "colour_accuracy", "scene_colour_accuracy", "shape_accuracy",
          "presence_accuracy")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--predictions", type=Path, required=True, help="CSV with prediction and reference columns")
    parser.add_argument("--out", type=Path, required=True, help="output folder for metrics.json")
    parser.add_argument("--no-meteor", action="store_true", help="skip METEOR (Java, the slowest metric)")


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


def run(args: argparse.Namespace) -> int:
    from panovlm.evaluation.scoring import score_file

    metrics = score_file(args.predictions, args.out, use_meteor=not args.no_meteor)
    sys.stdout.write(format_metrics(metrics))
    return 0
