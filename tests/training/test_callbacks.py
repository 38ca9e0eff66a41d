"""Callbacks read the stage row: the best checkpoint and the validation log follow its monitored metric."""

import logging
from types import SimpleNamespace

import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from panovlm.config.run_config import RunConfig
from panovlm.stages import STAGE_NAMES, get_stage
from panovlm.training.callbacks import ProgressLog, build_callbacks


def test_best_checkpoint_monitors_the_stage_row(tmp_path):
    for stage in STAGE_NAMES:
        row = get_stage(stage)
        checkpoints = [c for c in build_callbacks(RunConfig(), stage, tmp_path) if isinstance(c, ModelCheckpoint)]
        best = [c for c in checkpoints if c.monitor != "step"]
        assert [(c.monitor, c.mode) for c in best] == [(row.monitor, row.monitor_mode)]
        assert any(c.save_last for c in checkpoints if c.monitor == "step")


def test_progress_log_reports_the_monitored_metric(caplog):
    log = ProgressLog("vision", 10, monitor="val/vicreg_loss")
    trainer = SimpleNamespace(callback_metrics={"val/loss": torch.tensor(9.0), "val/vicreg_loss": torch.tensor(1.5)},
                              is_global_zero=True, sanity_checking=False, global_step=4)
    with caplog.at_level(logging.INFO, logger="panovlm.training.callbacks"):
        log.on_validation_end(trainer, None)
    assert "val/vicreg_loss 1.5000" in caplog.text and "9.0" not in caplog.text
