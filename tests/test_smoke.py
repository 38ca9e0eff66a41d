"""End to end: the three stages, 2 optimizer steps each, on 8 synthetic panoramas with the test-size model."""

import json

import pytest
from safetensors import safe_open

from panovlm.config.run_config import load_run_config


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    from panovlm.data.synth import generate_panoshapes

    out = tmp_path_factory.mktemp("smoke_data")
    generate_panoshapes(out, train=8, val=4, test=0, seed=1, size=(128, 64))
    return out


def test_three_stages_two_steps_each(data_dir, tmp_path):
    from panovlm.models.modeling_panollava import PanoLLaVaForConditionalGeneration
    from panovlm.training.runner import run_training

    steps = [f"stages.{s}.{k}" for s in ("vision", "resampler", "finetune") for k in ("max_steps=2", "batch_size=2")]
    config = load_run_config(None, ["model.preset=test", f"data.data_dir={data_dir}", "data.num_workers=0",
                                    "trainer.accelerator=cpu", "trainer.progress_bar=false",
                                    "checkpoint.every_n_steps=1", "trainer.log_every_n_steps=1", *steps])
    result = run_training(config, stage="all", out_dir=tmp_path / "run")
    assert list(result["stages"]) == ["vision", "resampler", "finetune"]
    for name, record in result["stages"].items():
        assert record["global_step"] == 2, name
        final = tmp_path / "run" / name / "model_final"
        assert (final / "model.safetensors").is_file() and (final / "run_config.yaml").is_file()
        assert (tmp_path / "run" / name / "checkpoints" / "last.ckpt").is_file()
        assert record["metrics"]["train/loss"] > 0
    # each stage starts from the previous one's weights
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert state["stages"]["resampler"]["init_from"].endswith("vision/model_final")
    assert state["stages"]["finetune"]["init_from"].endswith("resampler/model_final")
    assert {s["status"] for s in state["stages"].values()} == {"completed"}
    logs = sorted(p.name for p in (tmp_path / "run" / "logs").iterdir())
    assert [name.split("_")[0] for name in logs] == ["finetune", "resampler", "vision"]
    model = PanoLLaVaForConditionalGeneration.from_pretrained(result["final_model_dir"])
    with safe_open(str(tmp_path / "run" / "finetune" / "model_final" / "model.safetensors"), "pt") as f:
        key = next(k for k in f.keys() if k.startswith("resampler."))
        assert f.get_tensor(key).equal(model.state_dict()[key])
    assert (tmp_path / "run" / "vision" / "csv").is_dir() and (tmp_path / "run" / "vision" / "tensorboard").is_dir()
