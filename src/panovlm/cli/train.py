"""``panovlm train``: train one stage or all three from a run config.

    panovlm train --config configs/tiny.yaml --stage all --out runs/tiny
    panovlm train --config configs/default.yaml --stage vision --out runs/real --epochs 1 --set trainer.devices=4
    panovlm train --config configs/tiny.yaml --stage finetune --out runs/tiny --resume runs/tiny/resampler/checkpoints/last.ckpt

Layering: dataclass defaults -> ``--config`` YAML -> shortcut flags -> ``--set key=value`` (last wins).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from panovlm.cli.common import cli_path, hub_offline, model_unavailable_message, unavailable_model
from panovlm.config.run_config import flag_overrides, load_run_config
from panovlm.stages import STAGE_NAMES, get_stage
from panovlm.training.guards import OutputDirError, RunLockedError, TrainingInterrupted
from panovlm.training.module import NonFiniteLossError, NonFiniteModelError
from panovlm.training.runner import run_training, stage_plan

logger = logging.getLogger(__name__)
STAGE_CHOICES = (*STAGE_NAMES, "all")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=cli_path, default=None,
                        help="run config YAML (overrides of the built-in tiny preset); default: none")
    parser.add_argument("--stage", choices=STAGE_CHOICES, default="all", help="stage to train (default: all)")
    parser.add_argument("--out", type=cli_path, required=True, help="run directory (state.json, logs, checkpoints)")
    parser.add_argument("--resume", nargs="?", const=True, default=False, type=cli_path, metavar="CKPT",
                        help="alone: continue the stopped run in --out (skip completed stages, resume from the newest valid "
                             "checkpoint at the batch where it stopped; docs/reliability.md); "
                             "with a checkpoint file: continue it exactly if it is the stage's own "
                             "(<run>/<stage>/checkpoints/, runs/vlm_<stage>/checkpoints/), else start the stage "
                             "from its weights")
    parser.add_argument("--epochs", type=int, default=None, help="epochs of every trained stage")
    parser.add_argument("--batch-size", type=int, default=None, help="batch size of every trained stage")
    parser.add_argument("--lr", type=float, default=None, help="learning rate of every trained stage")
    parser.add_argument("--data-dir", type=cli_path, default=None, help="folder with train.csv and val.csv")
    parser.add_argument("--num-workers", type=int, default=None, help="data-loader worker processes")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override any config key (repeatable), e.g. --set stages.vision.lr=1e-4")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")


def run(args: argparse.Namespace) -> int:
    plan = stage_plan(args.stage)
    flags = flag_overrides(plan, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                           data_dir=args.data_dir, num_workers=args.num_workers)
    config = load_run_config(args.config, overrides=[*flags, *args.overrides])
    if args.print_config:
        sys.stdout.write(config.to_yaml())
        return 0
    names = () if config.model.preset is not None else (config.model.vision, config.model.language,
                                                         config.model.tokenizer)
    missing = unavailable_model(names) if hub_offline() else None
    result = None
    try:
        result = None if missing else run_training(config, stage=args.stage, out_dir=args.out, resume=args.resume)
    except FileNotFoundError as err:  # our messages name the file (checkpoint, CSV, image folder)
        sys.stderr.write(f"panovlm train: {err}\n")
        return 2
    except TrainingInterrupted as err:  # a checkpoint was written; the message says how to resume
        sys.stderr.write(f"panovlm train: {err}\n")
        return err.exit_code
    except (RunLockedError, OutputDirError, NonFiniteLossError, NonFiniteModelError) as err:
        sys.stderr.write(f"panovlm train: {err}\n")  # each names the folder / step / checkpoint concerned
        return 2
    except OSError as err:
        if config.model.kind == "adapt":  # its message names the base model and the offline presets
            sys.stderr.write(f"panovlm train: {err}\n")
            return 2
        missing = unavailable_model(names)
        if missing is None:
            raise
        logger.debug("loading the models failed", exc_info=err)
    if missing is not None or result is None:
        # One line instead of transformers' traceback: the id, and the offline preset that works here.
        sys.stderr.write(f"panovlm train: {model_unavailable_message(missing)}\n")
        return 2
    summary = {name: {"model_dir": r.get("model_dir"), "global_step": r.get("global_step"),
                      get_stage(name).monitor.replace("/", "_"): r.get("metrics", {}).get(get_stage(name).monitor)}
               for name, r in result["stages"].items()}
    logger.info("training finished: %s", json.dumps(summary))
    logger.info("final model: %s", result["final_model_dir"])
    return 0
