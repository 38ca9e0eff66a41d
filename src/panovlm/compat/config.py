"""The seed's flat ``ModelConfig``, a thin view of ``PanoLLaVaConfig``.

Its fields are generated from ``PanoLLaVaConfig``'s own typed fields (same names, same defaults), plus
the model names and the seed's two AnyRes-VICReg aliases; nothing is listed twice. Construction
validates by building a ``PanoLLaVaConfig`` from the settings, so the errors and warnings are the
same (e.g. ``ValueError: overlap_ratio must be in (0, 1), got 1.5. Typical range: [0.3, 0.7]``).

``vision_name`` / ``language_model_name`` accept an HF id, a local path or a config dict (random init;
``panovlm.models.tiny.tiny_specs()`` gives the tiny preset's dicts).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from transformers import AutoTokenizer

from panovlm.models.component_spec import hub_error
from panovlm.models.components import config_from_components
from panovlm.models.configuration_panollava import PanoLLaVaConfig
from panovlm.models.tiny import tiny_tokenizer

DEFAULT_VISION = "google/siglip-base-patch16-224"
DEFAULT_LANGUAGE = "Qwen/Qwen2.5-0.5B-Instruct"
# Composite-only fields: filled from the sub-models / tokenizer, not set by hand.
_DERIVED = {"vision_config", "text_config", "vision_token_id", "vision_tokens_per_view", "tie_word_embeddings"}


def _setting_fields() -> list[tuple[str, Any, dataclasses.Field]]:
    own = PanoLLaVaConfig.__annotations__
    out = []
    for f in dataclasses.fields(PanoLLaVaConfig):
        if f.name in own and f.name not in _DERIVED:
            default = (dataclasses.field(default_factory=f.default_factory)
                       if f.default_factory is not dataclasses.MISSING else dataclasses.field(default=f.default))
            out.append((f.name, f.type, default))
    return out


class _ModelConfigMethods:
    """Behaviour of ``ModelConfig``; the fields come from ``PanoLLaVaConfig`` (see ``_setting_fields``)."""

    def __post_init__(self) -> None:
        if self.anyres_vicreg_pairing_strategy is not None:
            self.pairing_strategy = self.anyres_vicreg_pairing_strategy
        PanoLLaVaConfig(**self.settings())  # validation with the composite's own rules and messages

    def settings(self) -> dict[str, Any]:
        """The ``PanoLLaVaConfig`` fields of this config."""
        return {name: getattr(self, name) for name, _, _ in _setting_fields()}

    def load_tokenizer(self) -> Any:
        """``tokenizer_name``, else the LM name when it is an id / path, else the shipped tiny tokenizer."""
        name = self.tokenizer_name or (self.language_model_name if isinstance(self.language_model_name, str) else None)
        if name is None:
            return tiny_tokenizer()
        try:
            return AutoTokenizer.from_pretrained(name)
        except OSError as err:
            raise hub_error(name, err) from err

    def to_hf_config(self, tokenizer: Any = None) -> PanoLLaVaConfig:
        """The composite config (sub-configs resolved from the names; ``<|vision|>`` registered in ``tokenizer``)."""
        return config_from_components(self.vision_name, self.language_model_name, tokenizer, **self.settings())

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        valid = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - valid)
        if unknown:
            raise ValueError(f"unknown ModelConfig field(s) {unknown}; valid: {sorted(valid)}")
        return cls(**data)


ModelConfig = dataclasses.make_dataclass(
    "ModelConfig",
    [
        ("vision_name", Any, dataclasses.field(default=DEFAULT_VISION)),
        ("language_model_name", Any, dataclasses.field(default=DEFAULT_LANGUAGE)),
        ("tokenizer_name", Any, dataclasses.field(default=None)),
        # False: sequential neighbour pairs; True with tile_metas_batch: grid pairing.
        ("use_anyres_e2p_vicreg", bool, dataclasses.field(default=False)),
        ("anyres_vicreg_pairing_strategy", Any, dataclasses.field(default=None)),
        *_setting_fields(),
    ],
    bases=(_ModelConfigMethods,),
    kw_only=True,
)
ModelConfig.__module__ = __name__
ModelConfig.__doc__ = __doc__

__all__ = ["ModelConfig", "DEFAULT_VISION", "DEFAULT_LANGUAGE"]
