"""``panovlm train``: train one stage or all three from a run config.

    panovlm train --config configs/tiny.yaml --stage all --out runs/tiny
    panovlm train --config configs/default.yaml --stage vision --out runs/real --epochs 1 --set trainer.devices=4

Layering: dataclass defaults -> ``--config`` YAML -> shortcut flags -> ``--set key=value`` (last wins).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

logger = logging.getLogger(__name__)
STAGE_CHOICES = ("vision", "resampler", "finetune", "all")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=None,
                        help="run config YAML (overrides of the built-in tiny preset); default: none")
    parser.add_argument("--stage", choices=STAGE_CHOICES, default="all", help="stage to train (default: all)")
    parser.add_argument("--out", type=Path, required=True, help="run directory (state.json, logs, checkpoints)")
    parser.add_argument("--resume", action="store_true",
                        help="continue a stopped run in --out: skip completed stages, resume from last.ckpt")
    parser.add_argument("--epochs", type=int, default=None, help="epochs of every trained stage")
    parser.add_argument("--batch-size", type=int, default=None, help="batch size of every trained stage")
    parser.add_argument("--lr", type=float, default=None, help="learning rate of every trained stage")
    parser.add_argument("--data-dir", type=Path, default=None, help="folder with train.csv and val.csv")
    parser.add_argument("--num-workers", type=int, default=None, help="data-loader worker processes")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override any config key (repeatable), e.g. --set stages.vision.lr=1e-4")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")


def run(args: argparse.Namespace) -> int:
    from panovlm.config.run_config import flag_overrides, load_run_config
    from panovlm.training.runner import stage_plan

    plan = stage_plan(args.stage)
    flags = flag_overrides(plan, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                           data_dir=args.data_dir, num_workers=args.num_workers)
    config = load_run_config(args.config, overrides=[*flags, *args.overrides])
    if args.print_config:
        sys.stdout.write(config.to_yaml())
        return 0
    from panovlm.training.runner import run_training

    result = run_training(config, stage=args.stage, out_dir=args.out, resume=args.resume)
    summary = {name: {"model_dir": r.get("model_dir"), "global_step": r.get("global_step"),
                      "val_loss": r.get("metrics", {}).get("val/loss")} for name, r in result["stages"].items()}
    logger.info("training finished: %s", json.dumps(summary))
    logger.info("final model: %s", result["final_model_dir"])
    return 0
