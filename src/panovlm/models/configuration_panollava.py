"""``PanoLLaVaConfig``: the composite transformers config of the panoramic VLM.

One config holds everything the network needs: the vision sub-config (any HF vision model), the text
sub-config (any causal LM), the resampler, projector, positional-encoding, overlap-loss, image-plan,
LoRA and prompt settings. It is validated where it is built (``__post_init__``), so a bad value fails
when the config is made, not halfway through training. The image-plan fields are the flat, saved form
of a :class:`~panovlm.plans.ViewPlanSpec` (``config.plan_spec``), which validates them;
``config.view_plan()`` is that spec's plan.

Import-light on purpose (nothing is built here, no lightning/peft) so that the remote-code export can
copy it next to the weights; it imports only the registries whose names it validates (resamplers,
positional-encoding inits, VICReg modes) and the plan spec.
"""

from __future__ import annotations

import warnings
from dataclasses import field
from typing import Any

from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

from ..geometry import ViewPlan
from ..losses.terms import VICREG_MODES
from ..plans import DEFAULT_SPEC, ViewPlanSpec
from .component_spec import config_from_spec
from .positional import PE_INITS
from .resamplers import ALIASES as RESAMPLER_ALIASES
from .resamplers import RESAMPLERS

PROJECTOR_INITS: tuple[str, ...] = ("default", "embedding_scale")

RESAMPLER_TYPES: tuple[str, ...] = tuple(RESAMPLERS)
OVERLAP_MODES: tuple[str, ...] = ("ray", "strip")
PAIRING_STRATEGIES: tuple[str, ...] = ("adjacent", "distance_based", "all_pairs")
DEFAULT_SYSTEM_PROMPT = "You are a helpful AI assistant specialized in analyzing panoramic images."

# Which config fields feed which resampler constructor argument (None = use the resampler's default).
_RESAMPLER_OPTION_FIELDS: dict[str, dict[str, str]] = {
    "mlp": {"hidden_dim": "resampler_hidden_dim", "depth": "resampler_depth", "use_ln": "resampler_use_ln",
            "dropout": "resampler_dropout", "pool": "resampler_pool", "pool_mode": "resampler_pool_mode"},
    "qformer": {"num_queries": "resampler_num_queries", "num_layers": "resampler_num_layers",
                "num_heads": "resampler_num_heads"},
    "perceiver": {"num_latents": "resampler_num_queries", "depth": "resampler_depth",
                  "num_heads": "resampler_num_heads"},
    "bimamba": {"hidden_dim": "resampler_hidden_dim", "num_layers": "resampler_num_layers",
                "d_state": "resampler_d_state", "d_conv": "resampler_d_conv", "expand": "resampler_expand",
                "dropout": "resampler_dropout"},
}


class PanoLLaVaConfig(PreTrainedConfig):
    """Composite config: ``vision_config`` + ``text_config`` + panorama settings.

    ``vision_config`` / ``text_config`` accept ``None`` (defaults: SigLIP-base vision, Qwen2.5-0.5B-shaped
    LM), a dict (with or without ``model_type``) or a config instance. Everything else is a typed field.
    """

    model_type = "panollava"
    sub_configs_defaults = {
        "vision_config": SubConfigSpec(config_class=AutoConfig, model_type="siglip_vision_model"),
        "text_config": SubConfigSpec(
            config_class=AutoConfig, model_type="qwen2",
            init_kwargs={"hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
                         "num_attention_heads": 14, "num_key_value_heads": 2, "vocab_size": 151936,
                         "tie_word_embeddings": True},
        ),
    }

    vision_config: dict | PreTrainedConfig | None = None
    text_config: dict | PreTrainedConfig | None = None
    # resampler
    resampler_type: str = "mlp"
    latent_dimension: int = 768
    resampler_hidden_dim: int | None = None
    resampler_depth: int | None = None
    resampler_use_ln: bool | None = None
    resampler_dropout: float | None = None
    resampler_pool: int | None = None
    resampler_pool_mode: str | None = None
    resampler_num_queries: int | None = None
    resampler_num_layers: int | None = None
    resampler_num_heads: int | None = None
    resampler_d_state: int | None = None
    resampler_d_conv: int | None = None
    resampler_expand: float | None = None
    resampler_config: dict = field(default_factory=dict)
    # projector + positional encoding
    use_positional_encoding: bool = True
    pe_num_frequencies: int = 8
    pe_init: str = "zero"  # "random": the encoding's Linear starts at the default init (models trained from scratch)
    pe_token_norm: bool = False  # LayerNorm on the resampler tokens before the encoding is added
    # "embedding_scale": the projector starts with outputs at the LM's token-embedding scale
    # (panovlm.models.components.match_projector_scale); "default": nn.Linear's own init.
    projector_init: str = "default"
    # overlap loss (vision stage)
    vicreg_projector_dim: int | None = None
    vicreg_projector_hidden_dim: int | None = None
    vicreg_projector_depth: int = 2
    vicreg_loss_weight: float = 1.0
    vicreg_similarity_weight: float = 25.0
    vicreg_variance_weight: float = 25.0
    vicreg_covariance_weight: float = 1.0
    vicreg_mode: str = "pairwise"
    vicreg_pair_chunk: int = 8
    overlap_mode: str = "ray"
    pairing_strategy: str = "adjacent"
    vicreg_include_global: bool = False
    # image plan: the flat keys of ``plan_spec`` (image_size None: the vision config's)
    crop_strategy: str = DEFAULT_SPEC.strategy
    image_size: int | list | None = None
    fov_deg: float = DEFAULT_SPEC.fov_deg
    overlap_ratio: float = DEFAULT_SPEC.overlap_ratio
    anyres_e2p_closed_loop: bool = DEFAULT_SPEC.closed_loop
    anyres_e2p_pitch_range: list = field(default_factory=lambda: list(DEFAULT_SPEC.pitch_range))
    global_mode: str = DEFAULT_SPEC.global_mode
    cubemap_poles: bool = DEFAULT_SPEC.cubemap_poles
    image_mean: list = field(default_factory=lambda: [0.5, 0.5, 0.5])
    image_std: list = field(default_factory=lambda: [0.5, 0.5, 0.5])
    # text / fusion
    vision_token: str = "<|vision|>"
    vision_token_id: int | None = None
    vision_tokens_per_view: int | None = None
    # view tags: each view's direction word (panovlm.directions.view_tag) as token ids before its vision tokens;
    # the ids are filled from the tokenizer by components.config_from_components when view_tags is on
    view_tags: bool = False
    view_tag_ids: list | None = None
    max_text_length: int = 512
    system_prompt: str | None = DEFAULT_SYSTEM_PROMPT
    # LoRA (applied by panovlm.models.lora, finetune stage)
    use_lora: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.1
    lora_target_modules: list = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    tie_word_embeddings: bool = False

    def __post_init__(self, **kwargs: Any) -> None:
        num_views = self._take_seed_keys(kwargs)
        super().__post_init__(**kwargs)
        # The LM owns the tying decision; mirror it so PreTrainedModel ties lm_head like the bare LM.
        self.tie_word_embeddings = bool(getattr(self.text_config, "tie_word_embeddings", False))
        if self.image_size is None:
            self.image_size = int(getattr(self.vision_config, "image_size", 224))
        if self.vicreg_projector_dim is None:
            self.vicreg_projector_dim = int(self.latent_dimension)
        self.validate_settings()
        if num_views is not None and int(num_views) != len(self.view_plan()):
            raise ValueError(f"num_views={num_views} but crop_strategy={self.crop_strategy!r} (fov_deg={self.fov_deg}, "
                             f"overlap_ratio={self.overlap_ratio}) gives {len(self.view_plan())} views; the view count "
                             "follows from the view plan: set crop_strategy / fov_deg / overlap_ratio, not num_views")

    # ------------------------------------------------------------------ the seed API's config keys
    def _take_seed_keys(self, kwargs: dict[str, Any]) -> int | None:
        """Honour or refuse the keys of the seed API's JSON that are not fields; returns ``num_views`` to check.

        transformers would keep an unknown key as a silent attribute; each of these means something to a
        seed user, so it is applied (``num_latent_tokens`` -> ``resampler_num_queries``, ``model_name`` ->
        that model's config), checked (``num_views``, ``is_composition``) or refused with the replacement.
        """
        if kwargs.pop("is_composition", True) is not True:
            raise ValueError("is_composition must be true: PanoLLaVaConfig is always a composite "
                             "(vision_config + text_config); drop the key")
        for name in ("vision_config", "text_config"):
            spec = getattr(self, name)
            if isinstance(spec, dict) and "model_name" in spec:
                setattr(self, name, _named_sub_config(name, spec, vision=name == "vision_config"))
        if "num_latent_tokens" in kwargs:
            self._apply_num_latent_tokens(kwargs.pop("num_latent_tokens"))
        return kwargs.pop("num_views", None)

    def _apply_num_latent_tokens(self, value: Any) -> None:
        kind = RESAMPLER_ALIASES.get(self.resampler_type, self.resampler_type)
        if kind in ("qformer", "perceiver"):
            if self.resampler_num_queries is not None and self.resampler_num_queries != value:
                raise ValueError(f"num_latent_tokens={value} contradicts resampler_num_queries="
                                 f"{self.resampler_num_queries}; give only resampler_num_queries")
            self.resampler_num_queries = value
            return
        raise ValueError(f"num_latent_tokens={value} cannot be honoured with resampler_type={self.resampler_type!r}: "
                         "its tokens per view are the patch grid pooled by resampler_pool (e.g. resampler_pool=2 "
                         "quarters them); set resampler_pool, or use resampler_type 'qformer' / 'perceiver' with "
                         "resampler_num_queries (what num_latent_tokens means there)")

    # ------------------------------------------------------------------ validation
    def validate_settings(self) -> None:
        """Raise ``ValueError`` naming the field, the value and the valid range; warn on useless settings."""
        self.resampler_type = RESAMPLER_ALIASES.get(self.resampler_type, self.resampler_type)
        _one_of("resampler_type", self.resampler_type, RESAMPLER_TYPES)
        # Stricter than the plan spec's [0, 1): this config also drives the overlap loss of the vision stage,
        # which needs overlapping tiles, and the seed API documents this message (tests/models/test_config.py).
        if not isinstance(self.overlap_ratio, (int, float)) or not 0.0 < float(self.overlap_ratio) < 1.0:
            raise ValueError(f"overlap_ratio must be in (0, 1), got {self.overlap_ratio}. Typical range: [0.3, 0.7]")
        plan = self.plan_spec.build()  # validates every image-plan field (crop_strategy, fov_deg, ...)
        _one_of("overlap_mode", self.overlap_mode, OVERLAP_MODES)
        _one_of("pairing_strategy", self.pairing_strategy, PAIRING_STRATEGIES)
        _one_of("vicreg_mode", self.vicreg_mode, VICREG_MODES)
        _one_of("pe_init", self.pe_init, PE_INITS)
        _one_of("projector_init", self.projector_init, PROJECTOR_INITS)
        for name in ("latent_dimension", "vicreg_projector_dim", "vicreg_projector_depth", "vicreg_pair_chunk",
                     "max_text_length", "lora_r", "lora_alpha", "pe_num_frequencies"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("vicreg_loss_weight", "vicreg_similarity_weight", "vicreg_variance_weight",
                     "vicreg_covariance_weight"):
            if float(getattr(self, name)) < 0.0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= float(self.lora_dropout) < 1.0:
            raise ValueError(f"lora_dropout must be in [0, 1), got {self.lora_dropout}")
        if float(self.vicreg_loss_weight) == 0.0:
            warnings.warn("vicreg_loss_weight is 0.0: vision stage training will have no effect", stacklevel=3)
        num_views = len(plan)
        self._check_view_tag_ids(num_views)
        if num_views < 2:
            warnings.warn(f"VICReg requires at least 2 views; crop_strategy={self.crop_strategy!r} gives {num_views}",
                          stacklevel=3)

    def _check_view_tag_ids(self, num_views: int) -> None:
        if self.view_tag_ids is None:
            return
        tags = self.view_tag_ids
        ok = isinstance(tags, (list, tuple)) and len(tags) == num_views and all(
            isinstance(ids, (list, tuple)) and all(_is_token_id(i) for i in ids) for ids in tags)
        if not ok:
            raise ValueError(f"view_tag_ids must be {num_views} lists of token ids (one per view of "
                             f"crop_strategy={self.crop_strategy!r}), got {tags!r}")

    # ------------------------------------------------------------------ derived settings
    @property
    def image_hw(self) -> tuple[int, int]:
        """(H, W) of every view."""
        size = self.image_size
        if isinstance(size, (list, tuple)):
            return int(size[0]), int(size[1])
        return int(size), int(size)

    @property
    def plan_spec(self) -> ViewPlanSpec:
        """The validated :class:`~panovlm.plans.ViewPlanSpec` of the image-plan fields (a new one per call)."""
        return ViewPlanSpec.from_flat(self)

    def view_plan(self) -> ViewPlan:
        """The ViewPlan of the image settings: ``plan_spec.build()``."""
        return self.plan_spec.build()

    def tag_ids(self) -> list | None:
        """The view tags' token ids when ``view_tags`` is on (``None`` when off); an error when they were never set."""
        if not self.view_tags:
            return None
        if self.view_tag_ids is None:
            raise ValueError("view_tags is on but view_tag_ids is not set: build the config with a tokenizer "
                             "(PanoLLaVaForConditionalGeneration.from_components(..., tokenizer=...) or "
                             "components.config_from_components), which tokenizes each view's direction word")
        return self.view_tag_ids

    def resampler_options(self) -> dict[str, Any]:
        """Constructor options of the chosen resampler: the typed fields that are set, then ``resampler_config``."""
        options = {
            arg: getattr(self, name)
            for arg, name in _RESAMPLER_OPTION_FIELDS[self.resampler_type].items()
            if getattr(self, name) is not None
        }
        options.update(self.resampler_config or {})
        return options

    @property
    def vicreg_weights(self) -> tuple[float, float, float]:
        """(similarity/invariance, variance, covariance) weights of the VICReg terms."""
        return (float(self.vicreg_similarity_weight), float(self.vicreg_variance_weight),
                float(self.vicreg_covariance_weight))


def _named_sub_config(name: str, spec: dict, vision: bool) -> PreTrainedConfig:
    """The config of the model ``spec["model_name"]`` names; the other keys of ``spec`` must agree with it."""
    fields = dict(spec)
    model_name = fields.pop("model_name")
    config = config_from_spec(str(model_name), vision=vision)  # offline: an OSError saying what to use instead
    for key, value in fields.items():
        loaded = getattr(config, key, None)
        if loaded != value:
            raise ValueError(f"{name}.{key}={value!r} disagrees with {model_name!r}'s {key}={loaded!r}; drop the key "
                             f"(the pretrained weights fix it) or give a config dict without model_name")
    return config


def _is_token_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _one_of(name: str, value: Any, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise ValueError(f"{name} must be one of {list(valid)}, got {value!r}")


__all__ = ["PanoLLaVaConfig", "RESAMPLER_TYPES", "DEFAULT_SYSTEM_PROMPT"]
