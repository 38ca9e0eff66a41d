"""Load a ``save_pretrained`` folder: the one reader that training (a stage's start) and evaluation share."""

from __future__ import annotations

from pathlib import Path

from .modeling_panollava import PanoLLaVaForConditionalGeneration
from .processing_panollava import PanoLLaVaProcessor


def load_model(model_dir: str | Path, device: str | None = None) -> tuple[PanoLLaVaForConditionalGeneration,
                                                                          PanoLLaVaProcessor]:
    """``(model, processor)`` from a ``save_pretrained`` folder, in eval mode (on ``device`` when given)."""
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"{model_dir} holds no saved model (config.json missing)")
    from panovlm.adapt.model import is_adapted

    if is_adapted(model_dir):  # model.kind: adapt (an off-the-shelf HF VLM, panovlm.adapt)
        from panovlm.adapt.model import PanoAdapter

        adapter = PanoAdapter.from_pretrained(model_dir)
        return (adapter.to(device) if device else adapter).eval(), adapter.processor
    model = PanoLLaVaForConditionalGeneration.from_pretrained(model_dir)
    processor = PanoLLaVaProcessor.from_pretrained(model_dir)
    if device:
        model = model.to(device)
    return model.eval(), processor


__all__ = ["load_model"]
