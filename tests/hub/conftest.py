"""A real three-stage run of the test preset (one optimizer step per stage, LoRA in the finetune stage)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from panovlm.data.synth import generate_panoshapes

    root = tmp_path_factory.mktemp("hub_run")
    data = root / "data"
    generate_panoshapes(data, train=4, val=2, test=2, seed=0, size=(128, 64))
    out = root / "run"
    cmd = [sys.executable, "-m", "panovlm.cli", "train", "--stage", "all", "--out", str(out), "--data-dir", str(data),
           "--num-workers", "0", "--batch-size", "2", "--set", "model.preset=test", "--set", "model.use_lora=true",
           "--set", "trainer.accelerator=cpu", "--set", "trainer.progress_bar=false",
           "--set", "trainer.limit_val_batches=1", *[f"--set=stages.{s}.max_steps=1" for s in
                                                     ("vision", "resampler", "finetune")]]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "CI": "true", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=280, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return out
