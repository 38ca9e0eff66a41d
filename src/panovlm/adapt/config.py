"""``AdaptSettings``: the ``model`` block of a run config with ``model.kind: adapt``.

    model:
      kind: adapt
      base: Qwen/Qwen2.5-VL-3B-Instruct   # a hub id, a local folder, or a tiny preset (tiny-qwen2_5_vl, tiny-internvl)
      adapt_mode: views                   # views: our view plan as multi-image input; native: the ERP as one image
      view_size: 448                      # px per square view (native: the ERP's height)
      max_visual_tokens: 2400             # cap per panorama: a smaller view size is picked to fit

Every field is checked here; an error names ``model.<field>``, the value and the valid range.
:func:`check_run_config` refuses the run-config keys of the core path that the adapter does not
read, so none is silently ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_type_hints

from panovlm.config.typed import ConfigError, check, coerce
from panovlm.plans import GLOBAL_MODES, STRATEGIES

ADAPT_STAGES: tuple[str, ...] = ("vision", "finetune")


@dataclass(frozen=True)
class AdaptSettings:
    """How an off-the-shelf VLM is made panoramic (docs/adapt.md)."""

    base: str = "tiny-qwen2_5_vl"
    adapt_mode: Literal["views", "native"] = "views"
    view_size: int = 448  # multiple of the family's 28 px token; native: ERP height (Qwen width = 2x)
    max_visual_tokens: int | None = None  # None: no cap
    crop_strategy: str = "anyres_e2p"
    fov_deg: float = 90.0
    overlap_ratio: float = 0.5
    pitch_range: tuple[float, float] = (-45.0, 45.0)  # anyres_e2p tile rows (the default: one ring at pitch 0)
    global_mode: Literal["squash", "letterbox"] = "squash"
    direction_tags: bool = True  # a short text tag before each view ("Global view:", "View yaw 45, pitch 0:")
    overlap_mode: Literal["ray", "strip"] = "ray"
    overlap_include_global: bool = False
    overlap_head_dim: int = 0  # 0: VICReg on the visual tokens themselves; > 0: a VICRegProjector head of that width
    default_overlap_weight: float = 0.1  # finetune stage weight (stages.finetune.vicreg_loss_weight: 0 turns it off)
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    lora_vision: bool = False  # LoRA on the vision tower's attention too
    train_projector: bool = True  # the merger / projector trains (the only path of the overlap loss without lora_vision)
    stages: tuple[str, ...] = ("finetune",)  # what `--stage all` runs; "vision": an overlap-only first stage
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"  # auto: bf16 on a GPU, fp32 on CPU
    max_text_length: int = 4096  # tokens per sample, visual tokens included

    def __post_init__(self) -> None:
        check(self.adapt_mode in ("views", "native"), "model.adapt_mode", self.adapt_mode, '"views" or "native"')
        check(self.view_size >= 28 and self.view_size % 28 == 0, "model.view_size", self.view_size,
              "a multiple of 28 px (14 px patches x 2 merge) >= 28")
        check(self.max_visual_tokens is None or self.max_visual_tokens >= 1, "model.max_visual_tokens",
              self.max_visual_tokens, "null or an integer >= 1")
        check(self.crop_strategy in STRATEGIES, "model.crop_strategy", self.crop_strategy, f"one of {list(STRATEGIES)}")
        check(0.0 < self.fov_deg < 180.0, "model.fov_deg", self.fov_deg, "a float in (0, 180)")
        check(0.0 <= self.overlap_ratio < 1.0, "model.overlap_ratio", self.overlap_ratio, "a float in [0, 1)")
        check(self.global_mode in GLOBAL_MODES, "model.global_mode", self.global_mode, f"one of {list(GLOBAL_MODES)}")
        check(self.overlap_head_dim >= 0, "model.overlap_head_dim", self.overlap_head_dim, "an integer >= 0")
        check(self.default_overlap_weight >= 0, "model.default_overlap_weight", self.default_overlap_weight,
              "a float >= 0")
        check(self.lora_r >= 1, "model.lora_r", self.lora_r, "an integer >= 1")
        check(self.lora_alpha >= 1, "model.lora_alpha", self.lora_alpha, "an integer >= 1")
        check(0.0 <= self.lora_dropout < 1.0, "model.lora_dropout", self.lora_dropout, "a float in [0, 1)")
        check(len(self.lora_target_modules) > 0, "model.lora_target_modules", list(self.lora_target_modules),
              "a non-empty list of module names")
        check(len(self.stages) > 0 and set(self.stages) <= set(ADAPT_STAGES)
              and list(self.stages) == sorted(set(self.stages), key=ADAPT_STAGES.index),
              "model.stages", list(self.stages), f"distinct stages from {list(ADAPT_STAGES)} in that order")
        check(self.max_text_length >= 16, "model.max_text_length", self.max_text_length, "an integer >= 16")

    def to_dict(self) -> dict[str, Any]:
        import dataclasses

        out = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def adapt_settings(data: Mapping[str, Any], prefix: str = "model") -> AdaptSettings:
    """Build from a mapping (the run config's free model keys); unknown keys list the valid ones."""
    hints = get_type_hints(AdaptSettings)
    unknown = [k for k in data if k not in hints]
    if unknown:
        raise ConfigError(f"{prefix}.{unknown[0]}", data[unknown[0]],
                          f"kind, or an adapter field: {sorted(hints)}")
    return AdaptSettings(**{k: coerce(v, hints[k], f"{prefix}.{k}") for k, v in data.items()})


def check_run_config(config: Any) -> None:
    """Refuse, as a ``ConfigError``, a key of the core path that ``model.kind: adapt`` does not read.

    Keys whose defaults are the core's (``model.preset: tiny``, ``stages.finetune.max_text_length: 320``)
    cannot be told apart from an explicit setting of the same value; any other value is refused.
    """
    from panovlm.config.run_config import INIT_KEYS, ModelSettings
    from panovlm.config.stage_config import StageSet

    model, default_model = config.model, ModelSettings()
    for key in ("preset", "vision", "language", "tokenizer", "recalibrate_batchnorm", *INIT_KEYS):
        value = getattr(model, key)
        check(value == getattr(default_model, key), f"model.{key}", value,
              f"{_shown(getattr(default_model, key))} with model.kind=adapt: the base model is model.base "
              "(its own tokenizer and vision tower)")
    check(config.data.system_prompt is None, "data.system_prompt", config.data.system_prompt,
          "null with model.kind=adapt: the base's chat template supplies the system turn, in training and "
          "in generation alike")
    default_stages = StageSet()
    for name in ADAPT_STAGES:
        cfg, default = config.stages.get(name), default_stages.get(name)
        own = int(config.model.settings.get("max_text_length", AdaptSettings.max_text_length))
        check(cfg.max_text_length in (default.max_text_length, own), f"stages.{name}.max_text_length",
              cfg.max_text_length, f"{_shown(default.max_text_length)} or model.max_text_length ({own}) with "
              "model.kind=adapt: the adapter's text length (visual tokens included) is model.max_text_length")
        check(cfg.unfreeze_last_n_vision_blocks == 0, f"stages.{name}.unfreeze_last_n_vision_blocks",
              cfg.unfreeze_last_n_vision_blocks, "0 with model.kind=adapt: train the vision tower with "
              "model.lora_vision: true")


def _shown(default: Any) -> str:
    """A default as the YAML a user would write (``null``, ``tiny``)."""
    return "null" if default is None else f"the default ({default})"
