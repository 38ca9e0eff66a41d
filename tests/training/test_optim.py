"""AdamW named groups and the warmup + decay schedule, sized from Lightning's optimizer-step estimate."""

import math

import lightning as L
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from panovlm.config.stage_config import StageConfig
from panovlm.training.optim import build_optimizer, lr_lambda, param_groups


class _Toy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.resampler = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4))
        self.projector = nn.Linear(4, 1)


def test_param_groups_split_decay_by_module():
    model = _Toy()
    model.projector.requires_grad_(False)
    groups = {g["name"]: g for g in param_groups(model.named_parameters(), weight_decay=0.1)}
    assert set(groups) == {"resampler", "resampler.no_decay"}
    assert groups["resampler"]["weight_decay"] == 0.1 and len(groups["resampler"]["params"]) == 1  # Linear weight
    assert groups["resampler.no_decay"]["weight_decay"] == 0.0
    assert len(groups["resampler.no_decay"]["params"]) == 3  # Linear bias, LayerNorm weight + bias
    model.requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        param_groups(model.named_parameters(), 0.1)


@pytest.mark.parametrize("schedule", ["cosine", "linear"])
def test_lr_lambda_warmup_then_decay_to_floor(schedule):
    fn = lr_lambda(total_steps=20, warmup_ratio=0.1, schedule=schedule, min_lr_ratio=0.1)
    assert [fn(0), fn(1)] == [0.5, 1.0]  # 2 warmup steps
    assert fn(2) == pytest.approx(1.0)
    assert fn(20) == pytest.approx(0.1)
    mid = fn(11)  # halfway through the decay
    assert mid == pytest.approx(0.55 if schedule == "linear" else 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))


class _Recorder(L.LightningModule):
    def __init__(self, cfg: StageConfig) -> None:
        super().__init__()
        self.model, self.cfg, self.lrs, self.total = _Toy(), cfg, [], None

    def training_step(self, batch, batch_idx):
        return self.model.projector(self.model.resampler(batch[0])).pow(2).mean()

    def on_train_batch_start(self, batch, batch_idx):
        self.lrs.append(self.trainer.optimizers[0].param_groups[0]["lr"])

    def configure_optimizers(self):
        self.total = int(self.trainer.estimated_stepping_batches)
        return build_optimizer(self.model, self.cfg, self.total)


def test_schedule_is_sized_in_optimizer_steps_with_accumulation(tmp_path):
    cfg = StageConfig(epochs=3, batch_size=2, lr=1.0, warmup_ratio=0.2, schedule="linear", accumulate_grad_batches=2)
    module = _Recorder(cfg)
    data = DataLoader(TensorDataset(torch.randn(20, 4)), batch_size=2)  # 10 batches per epoch
    trainer = L.Trainer(max_epochs=3, accumulate_grad_batches=2, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(module, data)
    assert module.total == 15  # 3 epochs x 10 batches / 2 accumulated
    assert trainer.global_step == 15
    final_lr = trainer.optimizers[0].param_groups[0]["lr"]
    assert final_lr == pytest.approx(lr_lambda(15, 0.2, "linear")(15)) and final_lr == pytest.approx(0.0)
    assert module.lrs[0] == pytest.approx(1 / 3)  # warmup of round(0.2 * 15) = 3 steps
