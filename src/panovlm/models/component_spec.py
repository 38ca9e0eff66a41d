"""How a component (vision tower, language model) is named: an HF id / local path, a config dict or a config.

The one parser of those names, shared by the composite config (:mod:`.components`) and the vision
tower builder (:mod:`.vision`), with the one error for a name that cannot be loaded offline.
"""

from __future__ import annotations

from collections.abc import Mapping

from transformers import AutoConfig, PretrainedConfig


def hub_error(name: str, err: OSError) -> OSError:
    """The error for a component ``name`` that cannot be loaded, saying what works offline instead."""
    return OSError(f"cannot load {name!r}: {err}. Without network access (HF_HUB_OFFLINE=1 here) use a local "
                   "directory, a config dict, or the offline tiny preset (panovlm.models.tiny.tiny_model(), "
                   "configs/tiny.yaml)")


def config_from_spec(spec: str | Mapping | PretrainedConfig, vision: bool) -> PretrainedConfig:
    """A sub-config from an id/path, a dict with ``model_type`` or a config (vision: the tower's config)."""
    if isinstance(spec, str):
        try:
            config = AutoConfig.from_pretrained(spec)
        except OSError as err:
            raise hub_error(spec, err) from err
    elif isinstance(spec, Mapping):
        fields = dict(spec)
        if "model_type" not in fields:
            raise ValueError(f"a model config dict needs a 'model_type' key, got keys {sorted(fields)}")
        config = AutoConfig.for_model(fields.pop("model_type"), **fields)
    elif isinstance(spec, PretrainedConfig):
        config = spec
    else:
        raise TypeError(f"a model is named by an HF id / path, a config dict or a PretrainedConfig, "
                        f"got {type(spec).__name__}")
    if vision and getattr(config, "vision_config", None) is not None:
        return config.vision_config
    if not vision and getattr(config, "text_config", None) is not None and not hasattr(config, "vocab_size"):
        return config.text_config
    return config


__all__ = ["config_from_spec", "hub_error"]
