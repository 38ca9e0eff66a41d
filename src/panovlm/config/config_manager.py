"""The seed's module path: re-exports :mod:`panovlm.compat.config`."""

from panovlm.compat.config import DEFAULT_LANGUAGE, DEFAULT_VISION, ModelConfig

__all__ = ["ModelConfig", "DEFAULT_VISION", "DEFAULT_LANGUAGE"]
