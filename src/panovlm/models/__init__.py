"""PanoLLaVA models, registered with the transformers Auto classes on import.

After ``import panovlm.models``: ``AutoConfig`` / ``AutoModel`` / ``AutoModelForImageTextToText`` /
``AutoProcessor`` / ``AutoImageProcessor`` ``.from_pretrained(dir)`` return the PanoLLaVA classes, and
``register_for_auto_class`` marks them so ``save_pretrained`` records an ``auto_map`` for a later
remote-code export.
"""

from __future__ import annotations

from transformers import (
    AutoConfig,
    AutoImageProcessor,
    AutoModel,
    AutoModelForImageTextToText,
    AutoProcessor,
)

from ..data.image import PanoramaImageProcessor
from .configuration_panollava import PanoLLaVaConfig
from .modeling_heads import PanoLLaVaForFeatureExtraction, PanoLLaVaForVICReg
from .modeling_outputs import GenerationOutput, PanoLLaVaFeatureOutput, TrainingStageOutput, VisionStageOutput
from .modeling_panollava import PanoLLaVaForConditionalGeneration, PanoLLaVaPreTrainedModel
from .processing_panollava import PanoLLaVaProcessor


def _register() -> None:
    AutoConfig.register(PanoLLaVaConfig.model_type, PanoLLaVaConfig, exist_ok=True)
    AutoModel.register(PanoLLaVaConfig, PanoLLaVaForConditionalGeneration, exist_ok=True)
    AutoModelForImageTextToText.register(PanoLLaVaConfig, PanoLLaVaForConditionalGeneration, exist_ok=True)
    AutoImageProcessor.register(PanoLLaVaConfig, slow_image_processor_class=PanoramaImageProcessor, exist_ok=True)
    AutoProcessor.register(PanoLLaVaConfig, PanoLLaVaProcessor, exist_ok=True)


_register()

__all__ = [
    "PanoLLaVaConfig",
    "PanoLLaVaPreTrainedModel",
    "PanoLLaVaForConditionalGeneration",
    "PanoLLaVaForVICReg",
    "PanoLLaVaForFeatureExtraction",
    "PanoLLaVaProcessor",
    "VisionStageOutput",
    "TrainingStageOutput",
    "GenerationOutput",
    "PanoLLaVaFeatureOutput",
]
