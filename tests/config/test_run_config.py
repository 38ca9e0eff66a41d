"""Run config: layering (defaults -> YAML -> overrides) and errors that name key, value and what is allowed."""

from pathlib import Path

import pytest

from panovlm.config.run_config import ConfigError, RunConfig, apply_overrides, flag_overrides, load_run_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_defaults_are_the_tiny_preset():
    config = load_run_config(None)
    assert config == RunConfig()
    assert config.model.preset == "tiny"
    assert config.stages.vision.unfreeze_last_n_vision_blocks == 0  # the tiny encoder starts pretrained, frozen


def test_default_yaml_has_the_seed_004_hyper_parameters():
    config = load_run_config(CONFIGS / "default.yaml")
    table = {name: (s.epochs, s.batch_size, s.lr, s.max_text_length)
             for name, s in (("vision", config.stages.vision), ("resampler", config.stages.resampler),
                             ("finetune", config.stages.finetune))}
    assert table == {"vision": (3, 32, 5e-6, 32), "resampler": (5, 16, 2e-5, 64), "finetune": (10, 8, 1e-5, 128)}
    assert config.model.vision == "google/siglip-base-patch16-224"
    assert config.model.language == "Qwen/Qwen2.5-0.5B-Instruct"
    assert config.model.settings["crop_strategy"] == "anyres_e2p"


def test_layering_yaml_then_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("seed: 3\nstages:\n  vision:\n    lr: 1e-4\n    epochs: 7\n")
    config = load_run_config(path, ["stages.vision.epochs=2", "model.resampler_type=qformer"])
    assert config.seed == 3
    assert config.stages.vision.lr == 1e-4  # YAML 1.1 "1e-4" (a string to PyYAML) is read as a number
    assert config.stages.vision.epochs == 2
    assert config.stages.resampler == RunConfig().stages.resampler  # untouched stages keep their own defaults
    assert config.model.settings == {"resampler_type": "qformer"}
    again = apply_overrides(config, ["trainer.devices=2"])
    assert again.trainer.devices == 2 and again.stages.vision.epochs == 2


def test_flag_overrides_apply_to_every_trained_stage():
    flags = flag_overrides(("vision", "finetune"), epochs=4, lr=0.5, data_dir="d", num_workers=0)
    config = load_run_config(None, flags)
    assert (config.stages.vision.epochs, config.stages.finetune.epochs) == (4, 4)
    assert config.stages.resampler.epochs == RunConfig().stages.resampler.epochs
    assert config.stages.finetune.lr == 0.5 and config.data.data_dir == "d" and config.data.num_workers == 0


@pytest.mark.parametrize(
    ("override", "key", "fragment"),
    [
        ("stages.vision.lr=-1", "stages.vision.lr", "float > 0"),
        ("stages.resampler.epochs=1.5", "stages.resampler.epochs", "an integer"),
        ("stages.finetune.schedule=step", "stages.finetune.schedule", "'cosine'"),
        ("stages.vision.train=[encoder]", "stages.vision.train", "vision_tower"),
        ("stages.vision.unfreeze_last_n_vision_blocks=-2", "stages.vision.unfreeze_last_n_vision_blocks", "-1"),
        ("stages.warmup=1", "stages.warmup", "['vision', 'resampler', 'finetune']"),
        ("trainer.strategy=horovod", "trainer.strategy", "'ddp'"),
        ("trainer.precision=16", "trainer.precision", "'bf16-mixed'"),
        ("data.num_workers=-1", "data.num_workers", ">= 0"),
        ("quickstart.backgrounds=noisy", "quickstart.backgrounds", "['varied', 'plain']"),
        ("model.resampler_kind=mlp", "model.resampler_kind", "resampler_type"),
        ("nonsense=1", "nonsense", "'stages'"),
    ],
)
def test_invalid_values_name_key_value_and_allowed(override, key, fragment):
    with pytest.raises(ConfigError) as info:
        load_run_config(None, [override])
    assert info.value.key == key
    message = str(info.value)
    assert key in message and repr(info.value.value) in message and fragment in message


def test_bad_override_syntax_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        load_run_config(None, ["stages.vision.lr"])
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_run_config(tmp_path / "nope.yaml")


def test_resolved_config_round_trips_through_yaml(tmp_path):
    config = load_run_config(CONFIGS / "default.yaml", ["stages.vision.train=[resampler]"])
    path = tmp_path / "resolved.yaml"
    path.write_text(config.to_yaml())
    assert load_run_config(path) == config


@pytest.mark.parametrize("overrides, key, allowed", [
    (["model.preset=test", "model.vision_init=pretrained"], "model.vision_init", "test preset"),
    (["model.vision_init=imagenet"], "model.vision_init", "pretrained"),
    (["model.preset=test", "model.language_init=pretrained"], "model.language_init", "test preset"),
    (["model.language_init=wikipedia"], "model.language_init", "pretrained"),
    (["data.rotation=any_angle"], "data.rotation", "quarter_turns"),
    (["trainer.feature_cache_mb=-1"], "trainer.feature_cache_mb", ">= 0"),
    (["trainer.progress_every_n_steps=0"], "trainer.progress_every_n_steps", ">= 1"),
])
def test_new_keys_are_validated(overrides, key, allowed):
    with pytest.raises(ConfigError, match=key) as err:
        load_run_config(None, overrides=overrides)
    assert allowed in str(err.value)


def test_vision_init_needs_a_preset():
    with pytest.raises(ConfigError, match="model.vision_init"):
        load_run_config(None, overrides=["model.preset=null", "model.vision=a", "model.language=b",
                                         "model.vision_init=random"])


def test_stage_overlap_weight_moves_to_the_model_config():
    config = load_run_config(None, ["stages.vision.vicreg_loss_weight=2.0"])
    assert config.model.settings["vicreg_loss_weight"] == 2.0 and config.stages.vision.vicreg_loss_weight is None
    assert apply_overrides(config, ["seed=1"]).model.settings == config.model.settings  # folding is idempotent
    both = load_run_config(None, ["stages.vision.vicreg_loss_weight=2.0", "model.vicreg_loss_weight=1.0"])
    assert both.model.settings["vicreg_loss_weight"] == 2.0  # the product of the two keys, as before
    assert load_run_config(None, ["model.vicreg_loss_weight=3.0"]).model.settings["vicreg_loss_weight"] == 3.0
    with pytest.raises(ConfigError, match="stages.vision.vicreg_loss_weight.*model.vicreg_loss_weight"):
        load_run_config(None, ["stages.vision.vicreg_loss_weight=2.0", "model.vicreg_loss_weight=3.0"])


@pytest.mark.parametrize("key", ["stages.resampler.vicreg_loss_weight", "stages.vision.ar_loss_weight"])
def test_a_weight_for_a_term_the_stage_does_not_compute_is_an_error(key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_run_config(None, [f"{key}=0.5"])
    config = load_run_config(None, [f"{key}=0"])  # zero changes nothing, as before
    assert "vicreg_loss_weight" not in config.model.settings
