"""Run configuration: typed, frozen dataclasses layered as defaults -> YAML -> command line.

The dataclass defaults *are* the embedded default (the tiny preset on PanoShapes, sized for a
2-core CPU); a YAML file holds only overrides, and ``--set a.b.c=value`` overrides the YAML.
Every value is checked where it is built: an error names the dotted key, the bad value and what
is allowed, and an unknown key lists the valid ones.

The ``model`` block's free keys (anything but preset/vision/language/tokenizer) are fields of
``PanoLLaVaConfig`` and are checked against that class, so the model config stays their only owner
(``max_text_length`` and ``vicreg_loss_weight`` included: a stage's ``max_text_length`` only overrides
the model's, and ``stages.<name>.vicreg_loss_weight``, the old spelling, is moved into the model block).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_type_hints

import yaml

from panovlm.config.checkpoint_config import CheckpointSettings
from panovlm.config.quickstart_config import QuickstartSettings
from panovlm.config.stage_config import StageSet
from panovlm.config.typed import ConfigError, check, coerce, from_dict
from panovlm.data.augment import is_phrase_cycle
from panovlm.models.configuration_panollava import PanoLLaVaConfig
from panovlm.stages import STAGE_NAMES, get_stage

STRATEGIES: tuple[str, ...] = (
    "auto", "single_device", "ddp", "ddp_spawn", "ddp_fork", "ddp_find_unused_parameters_true", "fsdp",
    "deepspeed", "deepspeed_stage_1", "deepspeed_stage_2", "deepspeed_stage_2_offload", "deepspeed_stage_3",
    "deepspeed_stage_3_offload",
)  # fmt: skip


INIT_KEYS: tuple[str, ...] = ("vision_init", "language_init")


@dataclass(frozen=True)
class ModelSettings:
    """Which model to build. ``preset`` ("tiny" | "test") builds the embedded pair; otherwise
    ``vision`` / ``language`` name HF ids or local dirs, or give config dicts (random init).

    ``vision_init`` / ``language_init`` (presets only): ``pretrained`` starts the tiny preset's vision
    tower / LM from the shipped weights (``panovlm/assets/tiny_vision``, ``tiny_language``), ``random``
    from a random init; null is the preset's default (tiny: pretrained, test: random).

    ``recalibrate_batchnorm``: before the first stage of a freshly built model, re-estimate the running
    statistics of the vision tower's frozen BatchNorm layers on the training images (AdaBN); a frozen
    tower then runs, in training and at inference, with statistics of the data it reads.
    """

    kind: Literal["panollava", "adapt"] = "panollava"  # adapt: an off-the-shelf HF VLM (panovlm.adapt.AdaptSettings)
    preset: Literal["tiny", "test"] | None = "tiny"
    vision: str | dict | None = None
    language: str | dict | None = None
    tokenizer: str | None = None
    vision_init: Literal["pretrained", "random"] | None = None
    language_init: Literal["pretrained", "random"] | None = None
    recalibrate_batchnorm: bool = False
    settings: dict = field(default_factory=dict)  # PanoLLaVaConfig fields, checked against that class

    def __post_init__(self) -> None:
        for key in INIT_KEYS:
            value = getattr(self, key)
            check(value in (None, "pretrained", "random"), f"model.{key}", value, 'null, "pretrained" or "random"')
            check(value is None or self.preset is not None, f"model.{key}", value,
                  "null unless model.preset is set (named models load their own weights)")
            check(not (self.preset == "test" and value == "pretrained"), f"model.{key}", value,
                  'null or "random" with the test preset (only the tiny preset has pretrained weights)')
        if self.preset is None and self.kind == "panollava":
            check(self.vision is not None, "model.vision", self.vision, "an HF id, a local dir or a config dict")
            check(self.language is not None, "model.language", self.language, "an HF id, a local dir or a dict")

    @property
    def tokenizer_source(self) -> str | None:
        """The tokenizer to load: ``tokenizer``, else the language model's id / dir; None for a config dict."""
        return self.tokenizer or (self.language if isinstance(self.language, str) else None)


@dataclass(frozen=True)
class DataSettings:
    """Where the samples come from (QuIC-360 CSV, instruction CSV or LLaVA JSON, resolved in ``data_dir``)."""

    data_dir: str = "data/panoshapes"
    train_file: str = "train.csv"
    val_file: str = "val.csv"
    strict: bool = False  # True: a bad row or image stops the run; False: skipped, counted and logged
    num_workers: int = 2
    system_prompt: str | None = None
    max_train_samples: int | None = None
    max_val_samples: int | None = None
    # "per_image": the questions of one panorama become the turns of one conversation in the caption
    # stages (one view encoding supervises every answer); "rows": one sample per CSV row.
    conversations: Literal["rows", "per_image"] = "rows"
    max_turns: int | None = None  # per_image: split longer conversations
    # "quarter_turns": each training access turns the panorama by a random multiple of 90 degrees of yaw
    # and its direction words with it (panovlm.data.augment); samples whose text cannot be rewritten
    # exactly stay unturned. rotation_phrases: [front, right, behind, left] phrase cycles for free text.
    rotation: Literal["off", "quarter_turns"] = "off"
    rotation_phrases: tuple[tuple[str, ...], ...] = ()

    def __post_init__(self) -> None:
        check(self.rotation in ("off", "quarter_turns"), "data.rotation", self.rotation, '"off" or "quarter_turns"')
        if self.rotation_phrases:
            for cycle in self.rotation_phrases:
                check(is_phrase_cycle(cycle), "data.rotation_phrases", list(cycle),
                      "lists of 4 non-empty phrases: front, right, behind, left")
        check(self.conversations in ("rows", "per_image"), "data.conversations", self.conversations,
               '"rows" or "per_image"')
        check(self.max_turns is None or self.max_turns >= 1, "data.max_turns", self.max_turns,
               "null or an integer >= 1")
        check(self.num_workers >= 0, "data.num_workers", self.num_workers, "an integer >= 0")
        for name in ("max_train_samples", "max_val_samples"):
            value = getattr(self, name)
            check(value is None or value > 0, f"data.{name}", value, "null or an integer > 0")


@dataclass(frozen=True)
class TrainerSettings:
    """Lightning Trainer settings; a multi-GPU / multi-node run changes only these values."""

    accelerator: str = "auto"
    devices: int | str = "auto"
    num_nodes: int = 1
    strategy: str = "auto"
    precision: Literal["auto", "32-true", "bf16-mixed", "16-mixed", "bf16-true"] = "auto"  # auto: bf16 GPU, fp32 CPU
    gradient_checkpointing: bool = False
    log_every_n_steps: int = 10
    val_check_interval: float | int = 1.0
    limit_val_batches: float | int = 1.0
    progress_bar: bool | None = None  # None: rich bar on a TTY unless CI=true
    progress_every_n_steps: int = 25  # step / loss / ETA lines in the terminal and the stage log
    deterministic: bool = False
    # Memory cap of the frozen-encoder feature cache (panovlm.models.feature_cache); 0 turns it off.
    # It is used only in stages whose vision tower is frozen, shared by the stages of one run.
    feature_cache_mb: int = 2048

    def __post_init__(self) -> None:
        check(self.feature_cache_mb >= 0, "trainer.feature_cache_mb", self.feature_cache_mb, "an integer >= 0")
        check(self.accelerator in ("auto", "cpu", "gpu", "cuda", "mps", "tpu"), "trainer.accelerator",
               self.accelerator, "auto, cpu, gpu, cuda, mps or tpu")
        check(self.devices == "auto" or (isinstance(self.devices, int) and (self.devices >= 1 or self.devices == -1)),
               "trainer.devices", self.devices, '"auto", -1 or an integer >= 1')
        check(self.num_nodes >= 1, "trainer.num_nodes", self.num_nodes, "an integer >= 1")
        check(self.strategy in STRATEGIES, "trainer.strategy", self.strategy, f"one of {list(STRATEGIES)}")
        check(self.progress_every_n_steps >= 1, "trainer.progress_every_n_steps", self.progress_every_n_steps,
              "an integer >= 1")
        check(self.log_every_n_steps >= 1, "trainer.log_every_n_steps", self.log_every_n_steps, "an integer >= 1")


@dataclass(frozen=True)
class LoggingSettings:
    """Metric sinks: CSV and TensorBoard by default, Weights & Biases when a project is named."""

    csv: bool = True
    tensorboard: bool = True
    wandb_project: str | None = None
    wandb_entity: str | None = None
    run_name: str | None = None


@dataclass(frozen=True)
class RunConfig:
    """Everything one training run needs; ``load_run_config`` builds it."""

    seed: int = 0
    model: ModelSettings = field(default_factory=ModelSettings)
    data: DataSettings = field(default_factory=DataSettings)
    stages: StageSet = field(default_factory=StageSet)
    trainer: TrainerSettings = field(default_factory=TrainerSettings)
    checkpoint: CheckpointSettings = field(default_factory=CheckpointSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    quickstart: QuickstartSettings = field(default_factory=QuickstartSettings)

    def __post_init__(self) -> None:
        if self.model.kind == "adapt":  # the adapter reads the stage weights itself (panovlm.adapt.train)
            from panovlm.adapt.config import check_run_config

            check_run_config(self)
            return
        model, stages = fold_overlap_weight(self.model, self.stages)
        object.__setattr__(self, "model", model)  # frozen: normalised once, here
        object.__setattr__(self, "stages", stages)

    def with_data_dir(self, data_dir: str | Path) -> RunConfig:
        return dataclasses.replace(self, data=dataclasses.replace(self.data, data_dir=str(data_dir)))

    def with_seed(self, seed: int) -> RunConfig:
        return dataclasses.replace(self, seed=int(seed))

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        settings = out["model"].pop("settings")
        out["model"].update(settings)
        return _plain(out)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def fold_overlap_weight(model: ModelSettings, stages: StageSet) -> tuple[ModelSettings, StageSet]:
    """Move ``stages.<name>.vicreg_loss_weight`` into ``model.vicreg_loss_weight``, the weight's one owner.

    The model applies that weight to its overlap loss; the product of the two keys was the effective
    weight, so the moved value is that product. Setting both to values other than 1.0 is an error:
    say the weight once, in the model block.
    """
    for name in STAGE_NAMES:
        weight = stages.get(name).vicreg_loss_weight
        if weight is None:
            continue
        stages = dataclasses.replace(stages, **{name: dataclasses.replace(stages.get(name), vicreg_loss_weight=None)})
        if not weight and "vicreg_loss" not in get_stage(name).loss_terms:
            continue  # a zero weight for a term the stage does not compute changes nothing
        current = model.settings.get("vicreg_loss_weight")
        check(current is None or float(current) == 1.0 or float(weight) == 1.0, f"stages.{name}.vicreg_loss_weight",
              weight, f"null: the overlap-loss weight is model.vicreg_loss_weight (here {current}); set it there only")
        total = float(weight) * (1.0 if current is None else float(current))
        model = dataclasses.replace(model, settings={**model.settings, "vicreg_loss_weight": total})
    return model, stages


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def _model_settings(data: Mapping[str, Any], prefix: str) -> ModelSettings:
    own = {"kind", "preset", "vision", "language", "tokenizer", "recalibrate_batchnorm", *INIT_KEYS}
    hints = get_type_hints(ModelSettings)
    kwargs = {k: coerce(v, hints[k], f"{prefix}.{k}") for k, v in data.items() if k in own}
    settings = {k: v for k, v in data.items() if k not in own}
    if kwargs.get("kind") == "adapt":  # the adapter's fields, checked by its own dataclass
        from panovlm.adapt.config import adapt_settings

        adapt_settings(settings, prefix)
    else:
        check_model_settings(settings, prefix)
    return ModelSettings(**kwargs, settings=settings)


def check_model_settings(settings: Mapping[str, Any], prefix: str = "model") -> None:
    """Reject keys that ``PanoLLaVaConfig`` does not define, listing the valid ones."""
    if not settings:
        return
    valid = sorted(k for k in PanoLLaVaConfig.__annotations__ if k not in ("vision_config", "text_config"))
    for key, value in settings.items():
        if key not in valid:
            raise ConfigError(f"{prefix}.{key}", value,
                              f"preset, vision, language, tokenizer, vision_init, language_init or a PanoLLaVaConfig field: {valid}")


_BUILDERS = {ModelSettings: _model_settings}


def _merge(base: dict, extra: Mapping[str, Any]) -> dict:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def parse_overrides(overrides: Sequence[str]) -> dict:
    """``["stages.vision.lr=1e-4", "model.resampler_type=qformer"]`` -> nested dict (values parsed as YAML)."""
    nested: dict = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError("--set", item, "KEY=VALUE with a dotted key, e.g. stages.vision.lr=1e-4")
        node = nested
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else None
    return nested


def flag_overrides(stages: Sequence[str], *, epochs: int | None = None, batch_size: int | None = None,
                   lr: float | None = None, data_dir: str | Path | None = None,
                   num_workers: int | None = None) -> list[str]:
    """The CLI's shortcut flags as ``key=value`` overrides; per-stage flags apply to every stage in ``stages``."""
    out = []
    for stage in stages:
        for name, value in (("epochs", epochs), ("batch_size", batch_size), ("lr", lr)):
            if value is not None:
                out.append(f"stages.{stage}.{name}={value}")
    if data_dir is not None:
        out.append(f"data.data_dir={data_dir}")
    if num_workers is not None:
        out.append(f"data.num_workers={num_workers}")
    return out


def load_run_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> RunConfig:
    """Dataclass defaults -> YAML file (overrides only) -> ``key=value`` overrides, validated."""
    data: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"run config {path} does not exist")
        loaded = yaml.safe_load(path.read_text()) or {}
        if not isinstance(loaded, Mapping):
            raise ConfigError(str(path), type(loaded).__name__, "a YAML mapping at the top level")
        data = dict(loaded)
    data = _merge(data, parse_overrides(overrides))
    return from_dict(RunConfig, data, "", builders=_BUILDERS)


def apply_overrides(config: RunConfig, overrides: Sequence[str]) -> RunConfig:
    """Re-validate ``config`` with extra ``key=value`` overrides on top."""
    if not overrides:
        return config
    return from_dict(RunConfig, _merge(config.to_dict(), parse_overrides(overrides)), "", builders=_BUILDERS)
