"""``panovlm ablate``: what each part of the framework buys, on the quickstart's budget and data.

    panovlm ablate --out ablation [--seeds 0 1] [--variants anyres_e2p anyres_e2p+vicreg ...]

Every variant is the quickstart (same data per seed, same stage budgets) with a few config keys
changed; each is evaluated with and without images. Writes ``ablation.md`` (mean and range over
seeds), ``ablation.csv``, ``ablation.png`` (bar chart) and ``ablation.json`` in ``--out``; a finished
variant (its ``summary.json`` exists) is not run again, so a stopped ablation continues.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from panovlm.cli.pipeline import DEFAULT_CONFIG, run_pipeline
from panovlm.config.run_config import load_run_config
from panovlm.evaluation.compare import bar_chart, write_csv
from panovlm.stages import STAGE_NAMES

logger = logging.getLogger(__name__)

_TRAIN_ENCODER = [f"stages.{s}.unfreeze_last_n_vision_blocks=-1" for s in STAGE_NAMES]
# The overlap loss needs a token grid: the MLP resampler keeps one (2 x 2 pooling: 16 tokens per view).
# Its tokens have rays of their own, so these rows turn the ray encoding back on.
_GRID_RESAMPLER = ["model.resampler_type=mlp", "model.resampler_pool=2", "model.resampler_num_queries=null",
                   "model.resampler_num_heads=null", "model.resampler_depth=null",
                   "model.use_positional_encoding=true", "model.pe_init=random"]
_WITH_VISION_STAGE = [f"quickstart.stages=[{','.join(STAGE_NAMES)}]"]
# name -> config overrides on top of the quickstart's config (cubemap with poles, view tags, Perceiver,
# pretrained encoder with recalibrated BatchNorm statistics and pretrained LM, resampler + finetune stages)
VARIANTS: dict[str, list[str]] = {
    "resize": ["model.crop_strategy=resize"],
    "e2p": ["model.crop_strategy=e2p"],
    "cubemap": [],
    "cubemap-no-tags": ["model.view_tags=false"],
    "cubemap+ray_pe": ["model.use_positional_encoding=true", "model.pe_init=random"],
    "cubemap-no-recalibration": ["model.recalibrate_batchnorm=false"],
    "anyres_e2p": ["model.crop_strategy=anyres_e2p"],
    "anyres_e2p+mlp": ["model.crop_strategy=anyres_e2p", *_GRID_RESAMPLER],
    "anyres_e2p+mlp+vicreg": ["model.crop_strategy=anyres_e2p", *_GRID_RESAMPLER, *_WITH_VISION_STAGE],
    "anyres_e2p+mlp+vicreg_strip": ["model.crop_strategy=anyres_e2p", *_GRID_RESAMPLER, *_WITH_VISION_STAGE,
                                    "model.overlap_mode=strip"],
    "cubemap+rotation": ["data.rotation=quarter_turns"],
    "random_encoder": ["model.vision_init=random", *_TRAIN_ENCODER],
    "random_lm": ["model.language_init=random", "stages.resampler.train=[resampler,projector,language_model]"],
}
METRICS: tuple[str, ...] = ("direction_f1", "colour_accuracy", "shape_accuracy", "presence_accuracy", "CIDEr")
BLIND = "blind (cubemap, no image)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("ablation"), help="output folder (default ./ablation)")
    parser.add_argument("--config", type=Path, default=None, help="run config (default: the packaged tiny.yaml)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="seeds (default 0 1)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS),
                        help="variants to run (default: all)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key of every variant (repeatable)")


def run(args: argparse.Namespace) -> int:
    results: dict[str, list[dict]] = {}
    for seed in args.seeds:
        data_dir = args.out / f"seed{seed}" / "data"
        for name in args.variants:
            out = args.out / f"seed{seed}" / name
            done = out / "summary.json"
            if done.is_file():
                summary = json.loads(done.read_text())
                logger.info("ablation %s seed %d: already done (%s)", name, seed, done)
            else:
                logger.info("ablation %s seed %d: %s", name, seed, " ".join(VARIANTS[name]) or "the quickstart")
                config = load_run_config(args.config or DEFAULT_CONFIG,
                                         overrides=[*VARIANTS[name], *args.overrides])
                summary = run_pipeline(config, out, seed, data_dir=data_dir)
            results.setdefault(name, []).append(summary["with_images"])
            if name == "cubemap":
                results.setdefault(BLIND, []).append(summary["blind"])
    rows = [_row(name, runs) for name, runs in results.items()]
    args.out.mkdir(parents=True, exist_ok=True)
    header = f"Seeds {args.seeds}; each cell: mean (min-max) over seeds.\n\n"
    table = _markdown(rows)
    (args.out / "ablation.md").write_text(header + table)
    # compare's CSV has a num_samples column; here each row is a mean over seeds, not a sample count.
    means = [{"run": r["run"], "num_samples": None, **{m: r[m]["mean"] for m in METRICS}} for r in rows]
    write_csv(METRICS, means, args.out / "ablation.csv")
    bar_chart(METRICS, means, args.out / "ablation.png")
    (args.out / "ablation.json").write_text(json.dumps({"seeds": args.seeds, "rows": rows}, indent=2))
    sys.stdout.write(header + table + f"\nsaved {args.out}/ablation.{{md,csv,png,json}}\n")
    return 0


def _row(name: str, runs: list[dict]) -> dict:
    row: dict = {"run": name}
    for metric in METRICS:
        values = [float(r[metric]) for r in runs if r.get(metric) is not None]
        row[metric] = {"mean": sum(values) / len(values) if values else None,
                       "min": min(values, default=None), "max": max(values, default=None), "n": len(values)}
    return row


def _cell(cell: dict) -> str:
    if cell["mean"] is None:
        return "n/a"
    if cell["n"] > 1:
        return f"{cell['mean']:.3f} ({cell['min']:.3f}-{cell['max']:.3f})"
    return f"{cell['mean']:.3f}"


def _markdown(rows: list[dict]) -> str:
    lines = ["| run | " + " | ".join(METRICS) + " |", "|---" * (len(METRICS) + 1) + "|"]
    lines += ["| " + " | ".join([row["run"], *(_cell(row[m]) for m in METRICS)]) + " |" for row in rows]
    return "\n".join(lines) + "\n"
