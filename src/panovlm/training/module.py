"""The LightningModule: a thin wrapper that runs one stage of the transformers model.

It defines no layers. ``training_step`` calls ``model(**batch, stage=...)``, combines the output's
named loss terms (the stage row's ``loss_terms``, weighted by :func:`~panovlm.training.stages.loss_weights`)
and logs every named field of the output; in stages with the overlap loss, validation also logs the
collapse diagnostics of the VICReg embeddings (:func:`panovlm.losses.diagnostics.embedding_diagnostics`);
``configure_optimizers`` builds AdamW named groups with a schedule sized from
``trainer.estimated_stepping_batches``. No try/except around the steps: a failing batch fails the run.

A NaN / inf training loss is caught before its backward pass, so the weights stay those of the last
good step: ``nonfinite="stop"`` raises :class:`NonFiniteLossError` naming the step, ``"skip"`` drops
the batch (no optimizer step) and counts it as ``train/nonfinite_skipped``. A checkpoint is never
written from weights that are not finite (:class:`NonFiniteModelError`).
"""

from __future__ import annotations

import logging
from typing import Any

import lightning as L
import torch
from torch import nn

from panovlm.config.stage_config import StageConfig
from panovlm.losses.diagnostics import embedding_diagnostics
from panovlm.stages import get_stage
from panovlm.training.optim import build_optimizer
from panovlm.training.stages import loss_weights

logger = logging.getLogger(__name__)

# Output fields logged when the model returns them (scalars only).
LOGGED_FIELDS: tuple[str, ...] = ("vicreg_loss", "invariance", "variance", "covariance", "ar_loss")
_MODEL_INPUTS: tuple[str, ...] = ("pixel_values", "input_ids", "attention_mask", "labels", "view_plan")


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN / inf; the message names the stage, step and batch."""


class NonFiniteModelError(FloatingPointError):
    """Trainable weights are NaN / inf; nothing is saved from them."""


def nonfinite_parameters(model: nn.Module) -> list[str]:
    """Names of trainable parameters holding a NaN or inf (the first few)."""
    bad = [n for n, p in model.named_parameters() if p.requires_grad and not bool(torch.isfinite(p).all())]
    return bad[:5]


class PanoVLMModule(L.LightningModule):
    """Trains ``model`` in ``stage`` with the hyper-parameters of ``stage_cfg``."""

    def __init__(self, model: nn.Module, stage: str, stage_cfg: StageConfig, gradient_checkpointing: bool = False,
                 diagnostics: bool = True, nonfinite: str = "stop") -> None:
        super().__init__()
        if nonfinite not in ("stop", "skip"):
            raise ValueError(f"nonfinite must be 'stop' or 'skip', got {nonfinite!r}")
        self.nonfinite = nonfinite
        self.nonfinite_skipped = 0
        self.model = model
        self.stage = stage
        self.row = get_stage(stage)
        self.stage_cfg = stage_cfg
        self.weights = loss_weights(stage, stage_cfg)
        self.gradient_checkpointing = gradient_checkpointing
        self.diagnostics = diagnostics and self.row.logs_collapse

    def on_fit_start(self) -> None:
        if self.gradient_checkpointing:
            self.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})

    def forward(self, batch: dict) -> Any:
        inputs = {k: batch[k] for k in _MODEL_INPUTS if k in batch}
        if self.row.needs_text:
            inputs["loss_only"] = True  # the LM head only where labels are (same loss, no logits)
        return self.model(**inputs, stage=self.stage)

    def _loss(self, output: Any) -> torch.Tensor:
        terms = []
        for name, weight in self.weights.items():
            value = getattr(output, name, None)
            if value is None:
                raise ValueError(f"stage {self.stage!r} weights loss term {name!r} but the model output has none "
                                 f"(fields: {[k for k, v in output.items() if v is not None]})")
            terms.append(weight * value)
        return torch.stack(terms).sum()

    def _metrics(self, output: Any, loss: torch.Tensor, split: str) -> dict[str, torch.Tensor]:
        metrics = {f"{split}/loss": loss.detach()}
        for name in LOGGED_FIELDS:
            value = getattr(output, name, None)
            if isinstance(value, torch.Tensor) and value.numel() == 1:
                metrics[f"{split}/{name}"] = value.detach().float()
        return metrics

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor | None:
        if batch["pixel_values"] is None:  # every sample of this batch was bad (already logged)
            self.log("data/skipped", float(batch["skipped"]), reduce_fx="sum", on_step=False, on_epoch=True)
            return None
        output = self(batch)
        loss = self._loss(output)
        if not self._all_finite(loss):
            return self._nonfinite(loss, batch_idx)
        size = batch["pixel_values"].shape[0]
        self.log_dict(self._metrics(output, loss, "train"), batch_size=size, on_step=True, on_epoch=False)
        self.log("train/loss_epoch", loss.detach(), batch_size=size, on_step=False, on_epoch=True, prog_bar=True)
        if batch["skipped"]:
            self.log("data/skipped", float(batch["skipped"]), reduce_fx="sum", on_step=False, on_epoch=True)
        return loss

    def _all_finite(self, loss: torch.Tensor) -> bool:
        # Every rank must agree, or DDP ranks would disagree on whether this step runs.
        return bool(self.trainer.strategy.reduce_boolean_decision(bool(torch.isfinite(loss)), all=True))

    def _nonfinite(self, loss: torch.Tensor, batch_idx: int) -> None:
        where = f"stage {self.stage}: the training loss is {float(loss)} at step {self.global_step} " \
                f"(epoch {self.current_epoch}, batch {batch_idx})"
        if self.nonfinite == "stop":
            raise NonFiniteLossError(f"{where}; the weights are those of the last good step "
                                     "(set checkpoint.nonfinite_loss=skip to skip such batches)")
        self.nonfinite_skipped += 1
        logger.warning("%s: batch skipped (%d so far)", where, self.nonfinite_skipped)
        self.log("train/nonfinite_skipped", float(self.nonfinite_skipped), on_step=True, on_epoch=False)
        return None

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        bad = nonfinite_parameters(self.model)
        if bad:
            raise NonFiniteModelError(f"stage {self.stage}: not writing a checkpoint at step {self.global_step}: "
                                      f"trainable weights are NaN/inf ({', '.join(bad)})")

    def _forward_embedded(self, batch: dict) -> tuple[Any, torch.Tensor | None]:
        """The output and, with diagnostics on, the VICReg projector's output ``(B, V, S', Dp)`` (read by a hook)."""
        if not self.diagnostics:
            return self(batch), None
        captured: list[torch.Tensor] = []
        hook = self.model.vicreg_projector.register_forward_hook(lambda module, args, out: captured.append(out.detach()))
        try:
            output = self(batch)
        finally:
            hook.remove()
        return output, captured[0] if captured else None

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        if batch["pixel_values"] is None:
            return
        output, embedded = self._forward_embedded(batch)
        loss = self._loss(output)
        size = batch["pixel_values"].shape[0]
        metrics = self._metrics(output, loss, "val")
        if embedded is not None:
            metrics.update({f"val/{k}": v for k, v in embedding_diagnostics(embedded).items()})
        monitor = self.row.monitor
        if monitor not in metrics:
            raise ValueError(f"stage {self.stage!r} monitors {monitor!r} but validation logs only {sorted(metrics)}")
        self.log_dict({k: v for k, v in metrics.items() if k != monitor}, batch_size=size, on_step=False,
                      on_epoch=True, sync_dist=True)
        self.log(monitor, metrics[monitor], batch_size=size, on_step=False, on_epoch=True, sync_dist=True,
                 prog_bar=True)

    def configure_optimizers(self) -> dict:
        return build_optimizer(self.model, self.stage_cfg, int(self.trainer.estimated_stepping_batches))

