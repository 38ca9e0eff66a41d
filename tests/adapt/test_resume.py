"""`--resume` on model.kind: adapt: a run stopped mid-epoch and resumed ends with the uninterrupted run's weights.

The stop is an exception raised inside a training step after the step-3 checkpoint (a crash, as far
as the run folder can tell); the resume restores the LoRA + trainable weights, optimizer, scheduler,
step, the data loader's position and the RNG states (LoRA dropout 0.05 and the quarter-turn
rotation draw from them).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from panovlm.adapt.train import AdaptModule
from panovlm.config.run_config import load_run_config
from panovlm.training.runner import run_training

STEPS, STOP = 6, 3  # 4 batches an epoch: the stop is mid-epoch, the resumed part crosses an epoch end


class Crash(RuntimeError):
    """Stands in for a killed process."""


@pytest.fixture(scope="module")
def panoshapes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from panovlm.data.synth import generate_panoshapes

    out = tmp_path_factory.mktemp("panoshapes_resume")
    generate_panoshapes(out, train=4, val=1, test=1, size=(256, 128), backgrounds="plain")
    return out


def _config(data: Path) -> object:
    return load_run_config(None, [
        "model.kind=adapt", "model.base=tiny-qwen2_5_vl", "model.view_size=56", f"data.data_dir={data}",
        "data.num_workers=0", "data.max_train_samples=4", "stages.finetune.batch_size=1", f"stages.finetune.max_steps={STEPS}",
        "stages.finetune.epochs=5", "stages.finetune.lr=0.01", "checkpoint.every_n_steps=1",
        "data.rotation=quarter_turns",  # python random per sample: the resume must replay those draws too
        "logging.tensorboard=false", "trainer.progress_bar=false"])


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "finetune" / "model_final" / "model.safetensors"))


def test_resume_mid_epoch_gives_the_uninterrupted_weights(panoshapes: Path, tmp_path: Path, monkeypatch,
                                                          caplog) -> None:
    reference = run_training(_config(panoshapes), "finetune", tmp_path / "reference")
    assert reference["stages"]["finetune"]["global_step"] == STEPS

    step = AdaptModule.training_step

    def crashing(self, batch, batch_idx):
        if self.global_step == STOP:
            raise Crash(f"stopped at step {STOP}")
        return step(self, batch, batch_idx)

    with monkeypatch.context() as patch:
        patch.setattr(AdaptModule, "training_step", crashing)
        with pytest.raises(Crash):
            run_training(_config(panoshapes), "finetune", tmp_path / "run")
    run = tmp_path / "run"
    assert json.loads((run / "state.json").read_text())["stages"]["finetune"]["status"] == "running"
    with pytest.raises(FileExistsError, match="--resume"):
        run_training(_config(panoshapes), "finetune", run)  # without --resume the folder is refused
    with caplog.at_level(logging.INFO, logger="panovlm.training.loader"):
        resumed = run_training(_config(panoshapes), "finetune", run, resume=True)
    assert f"data loader resumes at batch {STOP} of 4" in caplog.text
    assert resumed["stages"]["finetune"]["global_step"] == STEPS
    state = json.loads((run / "state.json").read_text())["stages"]["finetune"]
    assert state["status"] == "completed" and state["resumed_from"].endswith(f"step-{STOP:08d}.ckpt")
    ref, got = _weights(tmp_path / "reference"), _weights(run)
    assert ref.keys() == got.keys()
    assert max(float((ref[k] - got[k]).abs().max()) for k in ref) < 1e-6
    # the resumed steps trained: the merger (trained in full) moved after the step-3 checkpoint
    ckpt = torch.load(run / "finetune" / "checkpoints" / f"step-{STOP:08d}.ckpt", weights_only=True)["state_dict"]
    merger = "visual.merger.mlp.0.weight"  # saved name; the module's is model.visual.merger...
    assert not torch.allclose(ckpt[f"adapter.base.model.{merger}"], got[merger])
    again = run_training(_config(panoshapes), "finetune", run, resume=True)  # completed: skipped
    assert again["stages"]["finetune"]["global_step"] == STEPS
