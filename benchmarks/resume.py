"""Checkpoint write / check / load time and time to resume, for the tiny preset and a SigLIP-base + Qwen2.5-0.5B shape.

State (both models): a Lightning-like checkpoint (all model tensors + AdamW moments of the stage's
trainable parameters) written with ``AtomicCheckpointIO`` (temporary file, fsync, rename), checked
with ``check_checkpoint`` (zip CRC scan, what ``--resume`` runs on each candidate) and loaded back
(``torch.load(weights_only=True)`` + ``load_state_dict``). The base-shaped model is random-init from
configs (no download) and too slow to train on a CPU, so only its state is timed.

Resume (tiny preset only, ``--resume-run``): a resampler-stage run is killed with SIGKILL after the
checkpoint of step 3 is written, then resumed; the times are process start until the first step's
checkpoint is on disk, fresh and resumed (so the difference is what resuming costs).

    python benchmarks/resume.py --model tiny --resume-run
    python benchmarks/resume.py --model base --stage resampler
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SIGLIP_BASE = {"model_type": "siglip_vision_model", "hidden_size": 768, "intermediate_size": 3072,
               "num_hidden_layers": 12, "num_attention_heads": 12, "patch_size": 16, "image_size": 224}
QWEN25_05B = {"model_type": "qwen2", "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
              "num_attention_heads": 14, "num_key_value_heads": 2, "vocab_size": 151936, "tie_word_embeddings": True,
              "max_position_embeddings": 32768, "rope_theta": 1000000.0}
TRAIN_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "train.py"


def build(name: str, stage: str):
    from panovlm.config.stage_config import StageSet
    from panovlm.models.modeling_panollava import PanoLLaVaForConditionalGeneration
    from panovlm.models.tiny import TINY_SETTINGS, tiny_model, tiny_tokenizer
    from panovlm.training.stages import set_trainable

    torch.manual_seed(0)
    if name == "tiny":
        model = tiny_model(vision_init="random")
    else:
        model = PanoLLaVaForConditionalGeneration.from_components(dict(SIGLIP_BASE), dict(QWEN25_05B),
                                                                  tiny_tokenizer(), **TINY_SETTINGS)
    set_trainable(model, stage, StageSet().get(stage))
    return model


def checkpoint_of(model) -> dict:
    """What Lightning writes, minus the small loop/callback dicts: weights + AdamW state after one step."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    for p in params:
        p.grad = torch.zeros_like(p)
    optimizer.step()
    return {"state_dict": model.state_dict(), "optimizer_states": [optimizer.state_dict()], "global_step": 1}


def time_state(name: str, stage: str, repeats: int) -> None:
    from panovlm.training.checkpointing import AtomicCheckpointIO, check_checkpoint

    model = build(name, stage)
    ckpt = checkpoint_of(model)
    io = AtomicCheckpointIO()
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        path = Path(tmp) / "step-00000001.ckpt"
        write, check, load = [], [], []
        for _ in range(repeats):
            start = time.perf_counter()
            io.save_checkpoint(ckpt, path)
            write.append(time.perf_counter() - start)
            start = time.perf_counter()
            check_checkpoint(path)
            check.append(time.perf_counter() - start)
            start = time.perf_counter()
            loaded = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(loaded["state_dict"])
            load.append(time.perf_counter() - start)
        size = path.stat().st_size
    params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print(f"{name} ({params / 1e6:.1f} M params, {trainable / 1e6:.2f} M trainable in {stage}): checkpoint "
          f"{size / 1e6:.1f} MB; write {statistics.median(write):.3f} s, check {statistics.median(check):.3f} s, "
          f"load {statistics.median(load):.3f} s (median of {repeats})")


def _until(path: Path, proc: subprocess.Popen, start: float) -> float:
    while not path.exists():
        if proc.poll() is not None:
            raise RuntimeError(f"training exited ({proc.returncode}) before {path} was written")
        time.sleep(0.01)
    return time.monotonic() - start


def time_resume() -> None:
    from panovlm.data.synth import generate_panoshapes

    with tempfile.TemporaryDirectory() as tmp:
        data, out = Path(tmp) / "data", Path(tmp) / "run"
        generate_panoshapes(data, train=16, val=4, test=0, seed=0, size=(512, 256))
        cmd = [sys.executable, str(TRAIN_SCRIPT), "--stage", "resampler", "--out", str(out), "--data-dir", str(data),
               "--num-workers", "0", "--batch-size", "4", "--set", "trainer.accelerator=cpu",
               "--set", "trainer.progress_bar=false", "--set", "checkpoint.every_n_steps=1",
               "--set", "stages.resampler.max_steps=6", "--set", "trainer.limit_val_batches=1"]
        env = {**os.environ, "CI": "true"}
        ckpts = out / "resampler" / "checkpoints"
        start = time.monotonic()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        fresh = _until(ckpts / "step-00000001.ckpt", proc, start)
        _until(ckpts / "step-00000003.ckpt", proc, start)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for later in ckpts.glob("step-0000000[4-9].ckpt"):
            later.unlink()  # resume from step 3 whatever the kill raced with
        start = time.monotonic()
        proc = subprocess.Popen([*cmd, "--resume"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        resumed = _until(ckpts / "step-00000004.ckpt", proc, start)
        proc.wait()
    print(f"tiny preset, resampler stage, batch 4: process start -> first step's checkpoint on disk: fresh {fresh:.1f} s, "
          f"resumed from step 3 {resumed:.1f} s (resume cost {resumed - fresh:+.1f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("tiny", "base"), default="tiny", help="tiny preset or the base shape")
    parser.add_argument("--stage", default="resampler", help="stage whose trainable set sizes the optimizer state")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats of write / check / load (median)")
    parser.add_argument("--resume-run", action="store_true", help="also time a killed-and-resumed tiny run")
    args = parser.parse_args()
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    time_state(args.model, args.stage, args.repeats)
    if args.resume_run:
        time_resume()


if __name__ == "__main__":
    main()
