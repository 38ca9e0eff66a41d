"""A stage that keeps a BatchNorm tower frozen must leave it exactly as it was, and serve it from the cache."""

import logging

import torch
from safetensors.torch import load_file

from panovlm.config.run_config import load_run_config


def test_frozen_resnet_tower_keeps_its_running_statistics(panoshapes_dir, tmp_path, caplog):
    from panovlm.training.runner import run_training

    config = load_run_config(None, [
        "model.preset=tiny", "model.vision_init=random", "model.language_init=random",
        f"data.data_dir={panoshapes_dir}", "data.num_workers=0", "trainer.accelerator=cpu",
        "trainer.progress_bar=false", "stages.resampler.max_steps=3", "stages.resampler.batch_size=2"])
    with caplog.at_level(logging.INFO):
        run_training(config, stage="resampler", out_dir=tmp_path / "run")
    weights = load_file(str(tmp_path / "run" / "resampler" / "model_final" / "model.safetensors"))
    means = {k: v for k, v in weights.items() if k.startswith("vision_tower.") and k.endswith("running_mean")}
    tracked = {k: v for k, v in weights.items() if k.startswith("vision_tower.") and k.endswith("num_batches_tracked")}
    assert means and tracked
    # A train-mode BatchNorm would have moved its running mean off the random init's zeros and counted batches.
    assert all(torch.equal(v, torch.zeros_like(v)) for v in means.values())
    assert all(int(v) == 0 for v in tracked.values())
    assert "feature cache on" in caplog.text and "feature cache off" not in caplog.text
