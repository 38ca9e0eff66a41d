"""One test per training fault: each is detected, and its message names what to look at."""

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from panovlm.config.run_config import load_run_config
from panovlm.training.checkpointing import AtomicCheckpointIO, newest_valid_checkpoint
from panovlm.training.guards import OutputDirError, RunLock, RunLockedError, check_writable

TRAIN_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "train.py"


def _config(data_dir: Path, *extra: str):
    return load_run_config(None, ["model.preset=test", f"data.data_dir={data_dir}", "data.num_workers=0",
                                  "trainer.accelerator=cpu", "trainer.progress_bar=false", "logging.tensorboard=false",
                                  "checkpoint.every_n_steps=1", "stages.resampler.batch_size=2",
                                  "stages.resampler.max_steps=4", "trainer.limit_val_batches=1", *extra])


def test_truncated_newest_checkpoint_falls_back_to_the_previous(tmp_path, caplog):
    io = AtomicCheckpointIO()
    io.save_checkpoint({"global_step": 1, "w": torch.ones(1000)}, tmp_path / "step-00000001.ckpt")
    time.sleep(0.02)
    io.save_checkpoint({"global_step": 2, "w": torch.ones(1000)}, tmp_path / "step-00000002.ckpt")
    newest = tmp_path / "step-00000002.ckpt"
    newest.write_bytes(newest.read_bytes()[:-300])  # a write cut short (e.g. a copy to a full disk)
    with caplog.at_level(logging.WARNING, logger="panovlm.training.checkpointing"):
        assert newest_valid_checkpoint(tmp_path) == tmp_path / "step-00000001.ckpt"
    assert "step-00000002.ckpt is unreadable" in caplog.text and "trying the previous" in caplog.text


def test_damaged_checkpoint_fails_its_crc(tmp_path, caplog):
    path = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"w": torch.zeros(4096)}, path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside the tensor data
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="panovlm.training.checkpointing"):
        assert newest_valid_checkpoint(tmp_path) is None
    assert "fails its CRC check" in caplog.text


def _nan_from_step(monkeypatch, step: int) -> None:
    from panovlm.training.module import PanoVLMModule

    original = PanoVLMModule._loss

    def loss(self, output):
        value = original(self, output)
        return value * float("nan") if self.global_step >= step else value

    monkeypatch.setattr(PanoVLMModule, "_loss", loss)


def test_nan_loss_stops_naming_the_step_and_the_last_good_checkpoint(panoshapes_dir, tmp_path, monkeypatch):
    from panovlm.training.module import NonFiniteLossError
    from panovlm.training.runner import run_training

    _nan_from_step(monkeypatch, 2)
    with pytest.raises(NonFiniteLossError) as err:
        run_training(_config(panoshapes_dir), stage="resampler", out_dir=tmp_path / "run")
    message = str(err.value)
    assert "loss is nan at step 2" in message and "step-00000002.ckpt" in message
    assert not (tmp_path / "run" / "resampler" / "model_final").exists()  # a NaN model is never saved
    assert not (tmp_path / "run" / ".lock").exists()


def test_nan_loss_skip_policy_drops_and_counts_the_batches(panoshapes_dir, tmp_path, monkeypatch, caplog):
    from safetensors.torch import load_file

    from panovlm.training.runner import run_training

    _nan_from_step(monkeypatch, 3)
    config = _config(panoshapes_dir, "checkpoint.nonfinite_loss=skip", "stages.resampler.max_steps=6")
    with caplog.at_level(logging.WARNING, logger="panovlm.training.module"):
        record = run_training(config, stage="resampler", out_dir=tmp_path / "run")["stages"]["resampler"]
    # Lightning still counts a step whose training_step returned None (the optimizer sees no gradient)
    assert record["global_step"] == 6
    assert "loss is nan at step 5 (epoch 0, batch 5): batch skipped (3 so far)" in caplog.text
    weights = load_file(Path(record["model_dir"]) / "model.safetensors")
    assert all(bool(torch.isfinite(t).all()) for t in weights.values())


def test_nan_weights_are_never_saved(tmp_path):
    from panovlm.config.run_config import RunConfig
    from panovlm.models.tiny import tiny_model, tiny_processor
    from panovlm.training.module import NonFiniteModelError
    from panovlm.training.runner import save_final

    model = tiny_model(test=True)
    with torch.no_grad():
        next(model.projector.parameters()).fill_(float("inf"))
    with pytest.raises(NonFiniteModelError, match="NaN/inf.*projector"):
        save_final(model, tiny_processor(config=model.config), RunConfig(), tmp_path / "model_final")
    assert not (tmp_path / "model_final").exists()


def test_unwritable_output_folder_is_refused_naming_it(tmp_path, monkeypatch):
    def refuse(self, data):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "write_bytes", refuse)  # chmod does not stop root, which runs CI here
    with pytest.raises(OutputDirError, match=f"output folder {tmp_path} is not writable"):
        check_writable(tmp_path)


def test_too_little_disk_is_refused_before_training(panoshapes_dir, tmp_path, monkeypatch):
    import shutil

    from panovlm.training.runner import run_training

    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr("panovlm.training.guards.shutil.disk_usage", lambda path: usage._replace(free=10**6))
    with pytest.raises(OutputDirError) as err:
        run_training(_config(panoshapes_dir), stage="resampler", out_dir=tmp_path / "run")
    assert "0.00 GB free" in str(err.value) and "GB needed" in str(err.value) and str(tmp_path / "run") in str(err.value)
    state = json.loads((tmp_path / "run" / "state.json").read_text()) if (tmp_path / "run" / "state.json").exists() \
        else {"stages": {}}
    assert "resampler" not in state["stages"]  # refused before the stage started


def test_second_run_into_a_locked_folder_is_refused_naming_the_process(tmp_path, caplog):
    with RunLock(tmp_path):
        with pytest.raises(RunLockedError, match=f"in use by another run: pid {os.getpid()} on host"):
            RunLock(tmp_path).acquire()
    assert not (tmp_path / ".lock").exists()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / ".lock").write_text(json.dumps({"pid": int(dead.stdout), "host": socket.gethostname()}))
    with caplog.at_level(logging.WARNING, logger="panovlm.training.guards"), RunLock(tmp_path):
        assert json.loads((tmp_path / ".lock").read_text())["pid"] == os.getpid()
    assert f"stale lock {tmp_path / '.lock'} of pid {int(dead.stdout)}" in caplog.text


class _Samples(torch.utils.data.Dataset):
    """Items 0..7; item 5 kills its worker process or raises, like a crashing image decoder."""

    def __init__(self, mode: str) -> None:
        from types import SimpleNamespace

        self.mode = mode
        self.samples = [SimpleNamespace(sample_id=f"train:{i + 2}", image_path=Path(f"img{i}.png"),
                                        meta={"line": i + 2}) for i in range(8)]

    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int) -> int:
        if index == 5 and self.mode == "die":
            os.kill(os.getpid(), signal.SIGKILL)
        if index == 5:
            raise OSError("broken data stream when reading image file")
        return index


@pytest.mark.parametrize("mode", ["die", "raise"])
def test_data_loader_worker_failure_names_the_sample(mode):
    from panovlm.training.loader import ResumableLoader, SampleLoadError, TrackedDataset

    tracked = TrackedDataset(_Samples(mode), num_workers=1)
    loader = ResumableLoader(tracked, position=lambda: 0, batch_size=1, num_workers=1, collate_fn=list)
    with pytest.raises(SampleLoadError, match=r"sample train:7 \(index 5, row/line 7, image img5.png\)"):
        list(loader)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_writes_a_checkpoint_and_says_how_to_resume(panoshapes_dir, tmp_path, signum):
    out = tmp_path / "run"
    cmd = [sys.executable, str(TRAIN_SCRIPT), "--stage", "resampler", "--out", str(out), "--data-dir",
           str(panoshapes_dir), "--num-workers", "0", "--batch-size", "2", "--epochs", "50",
           "--set", "model.preset=test", "--set", "trainer.accelerator=cpu", "--set", "trainer.progress_bar=false",
           "--set", "checkpoint.every_n_steps=2", "--set", "trainer.limit_val_batches=1"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "CI": "true"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = out / "resampler" / "checkpoints" / "step-00000002.ckpt"
    deadline = time.monotonic() + 120
    while not first.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, stderr[-2000:]
    written = sorted((out / "resampler" / "checkpoints").glob("interrupt-*.ckpt"))
    assert len(written) == 1
    assert f"stopped by {signal.Signals(signum).name} at step" in stderr and str(written[0]) in stderr
    assert f"Resume with: panovlm train --out {out} --resume" in stderr
    assert not (out / ".lock").exists()
