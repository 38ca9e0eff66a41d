"""``panovlm export``: a Lightning checkpoint or a stage's ``model_final`` -> a folder anyone can load.

The folder holds safetensors weights, config, processor, the remote code (``trust_remote_code=True``
without panovlm) and a model card; see :mod:`panovlm.hub.convert`. An adapted VLM (``model.kind: adapt``)
exports as its base family's own folder, no remote code, plus ``panovlm_adapt.json``
(:mod:`panovlm.hub.adapt_export`). ``scripts/convert_to_hf.py`` is the
same command under the seed's name. A source that cannot be converted stops with one line naming the
file and what was expected (exit status 2).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from panovlm.hub.check import FolderError
from panovlm.hub.convert import MODEL_TYPES as HEAD_CLASSES
from panovlm.hub.convert import export

MODEL_TYPES: tuple[str, ...] = tuple(HEAD_CLASSES)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lightning-ckpt", "--source", dest="source", type=Path, required=True,
                        help="Lightning checkpoint (RUN/<stage>/checkpoints/last.ckpt, best-*.ckpt) or a saved model "
                             "folder (RUN/<stage>/model_final)")
    parser.add_argument("--output-dir", type=Path, required=True, help="export folder to write")
    parser.add_argument("--model-type", choices=MODEL_TYPES, default="conditional-generation",
                        help="head to export (default conditional-generation; a vision-stage checkpoint can give "
                             "vicreg or feature-extraction only)")
    parser.add_argument("--config", dest="config_dir", type=Path, default=None,
                        help="saved folder giving config.json and the processor (default: the run's model_final)")
    parser.add_argument("--keep-adapters", action="store_true",
                        help="LoRA: save the base weights and the peft adapter in OUT/adapter instead of merging "
                             "(needs a Lightning checkpoint: a model_final holds merged weights)")
    parser.add_argument("--metrics", type=Path, action="append", default=None,
                        help="metrics.json of panovlm eval for the card's model-index (repeatable)")
    parser.add_argument("--repo-id", default=None, help="hub id used in the card's usage snippet")
    parser.add_argument("--license", default=None, help="license id for the card metadata (e.g. apache-2.0)")
    parser.add_argument("--dataset", dest="datasets", action="append", default=[],
                        help="hub dataset id for the card metadata (repeatable)")
    parser.add_argument("--base-model", dest="base_models", action="append", default=[],
                        help="hub id of a base model (default: the run's named vision / language ids)")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --output-dir")


def run(args: argparse.Namespace) -> int:
    options = {"repo_id": args.repo_id, "license": args.license, "datasets": args.datasets,
               "base_models": args.base_models}
    try:
        result = export(args.source, args.output_dir, model_type=args.model_type, config_dir=args.config_dir,
                        keep_adapters=args.keep_adapters, metrics=args.metrics, overwrite=args.overwrite,
                        card_options=options)
    except (FolderError, FileNotFoundError) as err:
        sys.stderr.write(f"panovlm export: {err}\n")
        return 2
    sys.stdout.write(f"{result.output_dir}\n")
    return 0
