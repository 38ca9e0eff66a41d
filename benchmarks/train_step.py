"""Step time of the full training path (Lightning + data loader + processor in workers) vs a bare loop.

Both paths train the same model (same preset, stage, batch size, trainable groups, AdamW groups and
gradient clipping); the bare loop runs forward + backward + optimizer on batches loaded before timing.
The ratio is the overhead of Lightning and of loading data while training. Target: <= 1.10x.
In the caption stages it also times the bare loop with the LM head at every position (transformers'
default) against the labelled-positions loss both paths use (``loss_only``).

    python benchmarks/train_step.py [--preset tiny|test] [--stage resampler] [--batch-size 4] [--steps 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _config(args: argparse.Namespace, data_dir: Path):
    from panovlm.config.run_config import load_run_config

    s = f"stages.{args.stage}"
    return load_run_config(None, [
        f"model.preset={args.preset}", f"data.data_dir={data_dir}", f"data.num_workers={args.workers}",
        "trainer.accelerator=cpu", "trainer.progress_bar=false", "trainer.log_every_n_steps=10",
        "checkpoint.every_n_steps=100000", "checkpoint.every_minutes=null", "logging.tensorboard=false",
        f"{s}.batch_size={args.batch_size}", f"{s}.max_steps={args.warmup + args.steps}", f"{s}.epochs=1000",
    ])


def _model(config, stage: str):
    from panovlm.training.runner import build_model
    from panovlm.training.stages import set_trainable

    model, processor = build_model(config)
    set_trainable(model, stage, config.stages.get(stage))
    return model, processor


def lightning_path(config, stage: str, out: Path, warmup: int) -> list[float]:
    import lightning as L

    from panovlm.training.datamodule import PanoramaDataModule
    from panovlm.training.logging_setup import silence_litlogger_tip
    from panovlm.training.module import PanoVLMModule
    from panovlm.training.runner import build_trainer

    class Timer(L.Callback):
        def __init__(self) -> None:
            self.stamps: list[float] = []

        def on_train_batch_end(self, *args) -> None:
            self.stamps.append(time.perf_counter())

    silence_litlogger_tip()
    model, processor = _model(config, stage)
    module = PanoVLMModule(model, stage, config.stages.get(stage))
    data = PanoramaDataModule(config, stage, processor, model.config.vision_token, model.config.system_prompt)
    timer = Timer()
    trainer = build_trainer(config, stage, out, limit_val_batches=0)
    trainer.callbacks.append(timer)
    trainer.fit(module, datamodule=data)
    return [b - a for a, b in zip(timer.stamps[warmup:-1], timer.stamps[warmup + 1:], strict=True)]


def bare_path(config, stage: str, steps: int, warmup: int, loss_only: bool = True) -> list[float]:
    from panovlm.training.datamodule import PanoramaDataModule
    from panovlm.training.optim import build_optimizer

    model, processor = _model(config, stage)
    data = PanoramaDataModule(config, stage, processor, model.config.vision_token, model.config.system_prompt)
    data.setup("fit")
    batches, loader = [], iter(data.train_dataloader())
    while len(batches) < warmup + steps + 1:
        batch = next(loader, None)
        if batch is None:
            loader = iter(data.train_dataloader())
            continue
        batches.append(batch)
    cfg = config.stages.get(stage)
    optimizer = build_optimizer(model, cfg, warmup + steps + 1)["optimizer"]
    keys = ("pixel_values", "input_ids", "attention_mask", "labels", "view_plan")
    # The Lightning module asks for the labelled-positions loss in the caption stages; so does this loop.
    extra = {"loss_only": loss_only} if stage != "vision" else {}
    model.train()
    times = []
    for batch in batches:
        start = time.perf_counter()
        loss = model(**{k: batch[k] for k in keys}, stage=stage, **extra).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], cfg.gradient_clip_val)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    return times[warmup:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=("tiny", "test"), default="tiny")
    parser.add_argument("--stage", choices=("vision", "resampler", "finetune"), default="resampler")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--size", default="256x128", help="ERP size of the synthetic panoramas")
    args = parser.parse_args()

    from panovlm.data.synth import generate_panoshapes

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        w, h = (int(v) for v in args.size.split("x"))
        generate_panoshapes(data_dir, train=64, val=4, test=0, seed=0, size=(w, h))
        config = _config(args, data_dir)
        bare = bare_path(config, args.stage, args.steps, args.warmup)
        logits = bare_path(config, args.stage, args.steps, args.warmup, loss_only=False) if args.stage != "vision" else None
        full = lightning_path(config, args.stage, Path(tmp) / "run", args.warmup)
    b, f = statistics.median(bare), statistics.median(full)
    print(f"preset={args.preset} stage={args.stage} batch={args.batch_size} workers={args.workers} "
          f"threads={torch.get_num_threads()} steps={len(full)}")
    print(f"bare loop (pre-loaded batches): median {b * 1000:.1f} ms/step")
    print(f"Lightning + data loader:        median {f * 1000:.1f} ms/step")
    print(f"ratio: {f / b:.3f}x (target <= 1.10x)")
    if logits is not None:
        g = statistics.median(logits)
        print(f"bare loop, LM head at every position: median {g * 1000:.1f} ms/step; labelled positions only "
              f"{b / g:.3f}x of it")


if __name__ == "__main__":
    main()
