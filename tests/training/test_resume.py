"""Kill a training run with SIGKILL, resume it, and check it ends with the uninterrupted run's weights and steps."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

TRAIN_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "train.py"  # what users (and DDP) run
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "CI": "true"}
# Rotation and merged conversations draw python random numbers per sample: resume must reproduce them too.
OPTIONS = ("--num-workers", "0", "--batch-size", "2", "--set", "model.preset=test", "--set", "trainer.accelerator=cpu",
           "--set", "trainer.progress_bar=false", "--set", "checkpoint.every_n_steps=1",
           "--set", "data.max_train_samples=6", "--set", "trainer.limit_val_batches=1",
           "--set", "data.rotation=quarter_turns", "--set", "data.conversations=per_image")


def _cli(data_dir: Path, out: Path, stage: str, steps: int, *extra: str) -> list[str]:
    limits = [a for s in (("vision", "resampler", "finetune") if stage == "all" else (stage,))
              for a in ("--set", f"stages.{s}.max_steps={steps}")]
    return [sys.executable, str(TRAIN_SCRIPT), "--stage", stage, "--out", str(out), "--data-dir", str(data_dir),
            "--epochs", "20", *OPTIONS, *limits, *extra]


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def _kill_after(cmd: list[str], ckpt: Path, timeout: float = 180) -> None:
    """Start ``cmd`` and SIGKILL it as soon as ``ckpt`` exists (mid-step of the next batch)."""
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while not ckpt.exists():
        assert proc.poll() is None, f"training exited before {ckpt} was written"
        assert time.monotonic() < deadline, f"{ckpt} never appeared"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def _max_diff(a: Path, b: Path) -> float:
    left, right = load_file(a / "model_final" / "model.safetensors"), load_file(b / "model_final" / "model.safetensors")
    assert left.keys() == right.keys()
    return max(float((left[k].float() - right[k].float()).abs().max()) for k in left)


@pytest.fixture(scope="module")
def reference(panoshapes_dir, tmp_path_factory):
    """The uninterrupted resampler run: 7 steps (3 batches an epoch, so it ends mid-epoch)."""
    out = tmp_path_factory.mktemp("uninterrupted") / "run"
    _run(_cli(panoshapes_dir, out, "resampler", 7))
    return out


def test_sigkill_mid_epoch_then_resume_gives_the_uninterrupted_weights(panoshapes_dir, tmp_path, reference):
    out = tmp_path / "run"
    cmd = _cli(panoshapes_dir, out, "resampler", 7)
    _kill_after(cmd, out / "resampler" / "checkpoints" / "step-00000004.ckpt")  # epoch 2, batch 1 of 3
    assert json.loads((out / "state.json").read_text())["stages"]["resampler"]["status"] == "running"
    assert json.loads((out / ".lock").read_text())["pid"]  # left behind by the killed run: stale

    done = _run([*cmd, "--resume"])
    log = done.stdout + done.stderr
    assert "stale lock" in log and "data loader resumes at batch" in log
    state = json.loads((out / "state.json").read_text())["stages"]["resampler"]
    ref = json.loads((reference / "state.json").read_text())["stages"]["resampler"]
    assert state["status"] == "completed" and state["global_step"] == ref["global_step"] == 7
    assert _max_diff(out / "resampler", reference / "resampler") < 1e-6
    # a second run into the same directory without --resume refuses to overwrite it
    again = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=120)
    assert again.returncode != 0 and "--resume" in again.stderr


@pytest.mark.slow
@pytest.mark.parametrize("kill_stage,kill_step", [("vision", 2), ("resampler", 3), ("resampler", 5), ("finetune", 1),
                                                  ("finetune", 4)])
def test_sigkill_sweep_over_three_stages(panoshapes_dir, tmp_path_factory, kill_stage, kill_step):
    ref = tmp_path_factory.getbasetemp() / "sweep_reference" / "run"
    if not (ref / "finetune" / "model_final").exists():
        _run(_cli(panoshapes_dir, ref, "all", 5))
    out = tmp_path_factory.mktemp("sweep") / "run"
    cmd = _cli(panoshapes_dir, out, "all", 5)
    _kill_after(cmd, out / kill_stage / "checkpoints" / f"step-{kill_step:08d}.ckpt")
    _run([*cmd, "--resume"])
    for stage in ("vision", "resampler", "finetune"):
        steps = [json.loads((d / "state.json").read_text())["stages"][stage]["global_step"] for d in (out, ref)]
        assert steps == [5, 5], stage
        assert _max_diff(out / stage, ref / stage) < 1e-6, stage


def test_fresh_sampler_order_is_random_samplers():
    from torch.utils.data import RandomSampler

    from panovlm.training.loader import ResumableRandomSampler

    data = list(range(37))
    torch.manual_seed(3)
    expected = [list(RandomSampler(data)) for _ in range(3)]
    torch.manual_seed(3)
    sampler = ResumableRandomSampler(data)
    assert [list(sampler) for _ in range(3)] == expected
    sampler.resume_at(sampler.seed, 10)
    assert list(sampler) == expected[2][10:]
