"""Two-process DDP on CPU (gloo), launched the way multi-GPU / multi-node runs are: only config changes."""

import json
import os
import subprocess
import sys
from pathlib import Path

TRAIN_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "train.py"  # what users (and DDP) run


def test_two_process_ddp_on_cpu(panoshapes_dir, tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, str(TRAIN_SCRIPT), "--stage", "resampler", "--out", str(out),
           "--data-dir", str(panoshapes_dir), "--num-workers", "0", "--batch-size", "2",
           "--set", "model.preset=test", "--set", "trainer.accelerator=cpu", "--set", "trainer.devices=2",
           "--set", "trainer.strategy=ddp", "--set", "trainer.progress_bar=false",
           "--set", "stages.resampler.max_steps=3", "--set", "stages.resampler.epochs=5"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "CI": "true"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log
    assert "distributed_backend=gloo" in log and "All distributed processes registered" in log
    record = json.loads((out / "state.json").read_text())["stages"]["resampler"]
    assert record["status"] == "completed" and record["global_step"] == 3
    assert (out / "resampler" / "model_final" / "model.safetensors").is_file()
