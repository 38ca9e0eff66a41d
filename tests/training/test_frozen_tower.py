"""A stage that keeps a BatchNorm tower frozen must leave it exactly as it was, and serve it from the cache."""

import logging

import pytest
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


def test_recalibrate_batchnorm_sets_the_statistics_once_per_run(panoshapes_dir, tmp_path, caplog):
    from panovlm.training.runner import run_training

    steps = [f"stages.{s}.{k}" for s in ("resampler", "finetune") for k in ("max_steps=2", "batch_size=2")]
    config = load_run_config(None, [
        "model.preset=tiny", "model.vision_init=random", "model.language_init=random",
        "model.recalibrate_batchnorm=true", f"data.data_dir={panoshapes_dir}", "data.num_workers=0",
        "trainer.accelerator=cpu", "trainer.progress_bar=false", *steps])
    with caplog.at_level(logging.INFO):
        run_training(config, stage=["resampler", "finetune"], out_dir=tmp_path / "run")
    assert caplog.text.count("recalibrated 11 frozen BatchNorm layers") == 1  # the first stage only
    stats = [load_file(str(tmp_path / "run" / stage / "model_final" / "model.safetensors")) for stage in
             ("resampler", "finetune")]
    means = [k for k in stats[0] if k.startswith("vision_tower.") and k.endswith("running_mean")]
    assert not any(torch.equal(stats[0][k], torch.zeros_like(stats[0][k])) for k in means)
    assert all(torch.equal(stats[0][k], stats[1][k]) for k in means)  # the later stage reads them unchanged


def test_recalibrate_batchnorm_without_batchnorm_names_the_key(panoshapes_dir, tmp_path):
    from panovlm.training.runner import run_training

    config = load_run_config(None, ["model.preset=test", "model.recalibrate_batchnorm=true",
                                    f"data.data_dir={panoshapes_dir}", "data.num_workers=0",
                                    "trainer.accelerator=cpu", "trainer.progress_bar=false",
                                    "stages.resampler.max_steps=1"])
    with pytest.raises(ValueError, match="model.recalibrate_batchnorm=true.*SiglipVisionModel"):
        run_training(config, stage="resampler", out_dir=tmp_path / "run")
