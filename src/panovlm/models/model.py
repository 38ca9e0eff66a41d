"""The seed's module path: re-exports :mod:`panovlm.compat.model`."""

from panovlm.compat.model import GenerationOutput, PanoramaVLM, TrainingStageOutput, VisionStageOutput

__all__ = ["PanoramaVLM", "VisionStageOutput", "TrainingStageOutput", "GenerationOutput"]
