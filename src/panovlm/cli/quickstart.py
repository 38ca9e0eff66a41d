"""``panovlm quickstart``: the whole mission on the embedded default, on a CPU, in minutes.

1. synthesise a small PanoShapes set (``DIR/data``),
2. train the three stages of the tiny preset (``DIR/runs``),
3. copy the final model and processor to ``DIR/model`` (loadable with ``from_pretrained``),
4. evaluate it on the test split with and without images (``DIR/eval``, ``DIR/eval_blind``),
5. caption one test panorama and log a short summary.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from panovlm.cli.pipeline import DEFAULT_CONFIG, run_pipeline
from panovlm.config.run_config import load_run_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("quickstart"), help="output folder (default: ./quickstart)")
    parser.add_argument("--config", type=Path, default=None, help="run config (default: the packaged tiny.yaml)")
    parser.add_argument("--train", type=int, default=None, help="training panoramas (default: from the config)")
    parser.add_argument("--test", type=int, default=None, help="test panoramas (default: from the config)")
    parser.add_argument("--seed", type=int, default=0, help="data and training seed")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key (repeatable), e.g. --set stages.finetune.epochs=2")


def run(args: argparse.Namespace) -> int:
    config = load_run_config(args.config or DEFAULT_CONFIG, overrides=list(args.overrides))
    summary = run_pipeline(config, args.out, args.seed, train=args.train, test=args.test)
    sys.stdout.write(_render(summary, args.out))
    return 0


def _fmt(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) else "n/a"


def _render(summary: dict, out: Path) -> str:
    lines = [
        "",
        f"PanoVLM quickstart finished in {summary['seconds']:.0f} s. Outputs in {out}/",
        "",
        f"{'metric':<22}{'with images':>14}{'blind (no image)':>18}",
    ]
    for key, value in summary["with_images"].items():
        lines.append(f"{key:<22}{_fmt(value):>14}{_fmt(summary['blind'][key]):>18}")
    ex = summary["example"]
    lines += ["", f"Example: {ex['image']}", f"  Q: {ex['query']}", f"  A: {ex['prediction']}",
              f"  reference: {ex['reference']}", ""]
    return "\n".join(lines)
