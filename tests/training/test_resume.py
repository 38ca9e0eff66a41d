"""Kill a training run with SIGKILL mid-stage, resume it, and check it finishes at the right step."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

TRAIN_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "train.py"  # what users (and DDP) run


def _cli(data_dir: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, str(TRAIN_SCRIPT), "--stage", "resampler", "--out", str(out),
            "--data-dir", str(data_dir), "--num-workers", "0", "--epochs", "10", "--batch-size", "2",
            "--set", "model.preset=test", "--set", "trainer.accelerator=cpu", "--set", "trainer.progress_bar=false",
            "--set", "checkpoint.every_n_steps=2",
            "--set", "data.max_train_samples=8", "--set", "trainer.limit_val_batches=1", *extra]


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"training exited early: {proc.stdout.read()}"
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_sigkill_then_resume_finishes_at_the_planned_step(panoshapes_dir, tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "CI": "true"}
    proc = subprocess.Popen(_cli(panoshapes_dir, out), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    last = out / "resampler" / "checkpoints" / "last.ckpt"
    _wait_for(last, proc, timeout=90)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    state = json.loads((out / "state.json").read_text())
    assert state["stages"]["resampler"]["status"] == "running"  # killed mid-stage
    killed_at = torch.load(last, map_location="cpu", weights_only=False)["global_step"]
    assert 0 < killed_at < 40

    done = subprocess.run(_cli(panoshapes_dir, out, "--resume"), env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    state = json.loads((out / "state.json").read_text())["stages"]["resampler"]
    assert state["status"] == "completed"
    assert state["global_step"] == 40  # 10 epochs x (8 samples / batch 2): nothing lost, nothing repeated
    assert "Restored all states" in done.stdout + done.stderr or "resuming" in done.stdout + done.stderr
    assert (out / "resampler" / "model_final" / "model.safetensors").is_file()
    # a second run into the same directory without --resume refuses to overwrite it
    again = subprocess.run(_cli(panoshapes_dir, out), env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode != 0 and "--resume" in again.stderr
