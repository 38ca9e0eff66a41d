"""The quickstart pipeline (synthesise, train, evaluate) that ``panovlm quickstart`` and ``panovlm ablate`` share.

Not a subcommand: the two command modules import it, neither imports the other.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

from panovlm.config.run_config import RunConfig
from panovlm.data.synth import generate_panoshapes
from panovlm.evaluation.evaluate import run_eval
from panovlm.evaluation.generation import caption_one
from panovlm.training.runner import run_training

logger = logging.getLogger(__name__)

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "tiny.yaml"


def run_pipeline(config: RunConfig, out: Path, seed: int, train: int | None = None, test: int | None = None,
                 data_dir: Path | None = None) -> dict:
    """Synthesise (unless ``data_dir`` already holds the data), train, evaluate; returns the summary.

    The ablation (``panovlm ablate``) runs this once per variant on one shared ``data_dir`` per seed.
    """
    start = time.monotonic()
    qs = config.quickstart
    if data_dir is None or not (data_dir / "test.csv").is_file():
        data_dir = data_dir or out / "data"
        logger.info("1/5 synthesising PanoShapes (%s backgrounds) into %s", qs.backgrounds, data_dir)
        generate_panoshapes(data_dir, train=train or qs.train, val=qs.val, test=test or qs.test,
                            seed=seed, size=qs.size, backgrounds=qs.backgrounds)
    else:
        logger.info("1/5 using the PanoShapes data in %s", data_dir)
    config = config.with_data_dir(data_dir).with_seed(seed)

    logger.info("2/5 training the stages %s of the tiny preset", ", ".join(qs.stages))
    result = run_training(config, stage=qs.stages, out_dir=out / "runs")
    final_dir = Path(result["final_model_dir"])

    logger.info("3/5 copying the final model to %s", out / "model")
    if (out / "model").exists():
        shutil.rmtree(out / "model")
    shutil.copytree(final_dir, out / "model")

    logger.info("4/5 evaluating on the test split, with and without images")
    test_csv = data_dir / "test.csv"
    metrics = run_eval(out / "model", test_csv, out / "eval", batch_size=qs.eval_batch_size)
    blind = run_eval(out / "model", test_csv, out / "eval_blind", batch_size=qs.eval_batch_size, blind=True)

    logger.info("5/5 captioning one test panorama")
    example = caption_one(out / "model", test_csv)
    summary = _summary(metrics, blind, example, time.monotonic() - start)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def _summary(metrics: dict, blind: dict, example: dict, seconds: float) -> dict:
    keys = ("direction_f1", "colour_accuracy", "scene_colour_accuracy", "shape_accuracy", "presence_accuracy",
            "CIDEr", "Bleu_4", "METEOR", "ROUGE_L")
    return {
        "seconds": round(seconds, 1),
        "with_images": {k: metrics.get(k) for k in keys},
        "blind": {k: blind.get(k) for k in keys},
        "example": example,
    }


__all__ = ["DEFAULT_CONFIG", "run_pipeline"]
