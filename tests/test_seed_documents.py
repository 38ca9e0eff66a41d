"""The code blocks of the five seed documents (``../shared/spec/seeds``), each run or classified.

Every fenced block is listed in ``PLAN`` by (document, index): ``run`` blocks are executed (Python) or
run (shell); ``listing`` blocks are file trees / sample output; ``fragment`` blocks are pieces of code the
document shows out of context (cannot run alone); ``windows`` blocks are cmd lines whose ``.bat`` twins are
checked by ``tests/test_scripts_windows_twins.py``; ``not_yet`` blocks still lack a runner here (see the
reason). ``test_every_block_is_classified`` fails when a document gains or loses a block.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import torch

from panovlm.models.tiny import tiny_specs

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO.parent / "shared" / "spec" / "seeds"
VISION, TEXT = tiny_specs(test=True)
# The one place where the hub ids of the documents become the offline tiny test preset.
HUB_IDS = {'"google/siglip-base-patch16-224"': "VISION", '"Qwen/Qwen2.5-0.5B-Instruct"': "TEXT"}

PLAN: dict[tuple[str, int], str] = {
    **{("000", i): "run" for i in range(9)}, ("000", 9): "fragment: origin install hint (PYTHONPATH to scripts/)",
    **{("001", i): "not_yet: visualiser commands need a trained checkpoint" for i in range(18)},
    **{("001", i): "listing" for i in (2, 9, 10)},
    **{("002", i): "fragment: excerpt of the model code" for i in range(6)},
    ("002", 6): "run", ("002", 7): "listing", ("002", 8): "run",
    **{("003", i): "not_yet: hub integration examples (tests/hub cover export/loading)" for i in range(20)},
    **{("003", i): "listing" for i in (0, 1)},
    **{("004", i): "listing" for i in (0, 1, 16)},
    **{("004", i): "windows" for i in (7, 8, 9, 10, 11, 13, 15, 17)},
    ("004", 2): "run", ("004", 3): "not_yet: stage 2 needs a stage-1 run", ("004", 4): "not_yet: needs stage 2",
    ("004", 5): "not_yet: full pipeline of the default config", ("004", 6): "not_yet: default config, 5 epochs",
    ("004", 12): "run", ("004", 14): "run",
}


def seed_blocks() -> dict[tuple[str, int], tuple[str, str]]:
    out = {}
    for path in sorted(SEEDS.glob("*.txt")):
        text = path.read_text(errors="replace")
        for i, (lang, code) in enumerate(re.findall(r"^```(\w*)\n(.*?)^```", text, re.S | re.M)):
            out[(path.name[:3], i)] = (lang, code)
    return out


BLOCKS = seed_blocks() if SEEDS.is_dir() else {}
needs_seeds = pytest.mark.skipif(not BLOCKS, reason=f"seed documents not found in {SEEDS}")


def python_block(doc: str, index: int) -> str:
    code = BLOCKS[(doc, index)][1]
    for literal, name in HUB_IDS.items():
        code = code.replace(literal, name)
    return code


@needs_seeds
def test_every_block_is_classified():
    assert set(BLOCKS) == set(PLAN)


@needs_seeds
def test_seed_000_python_blocks_run_in_order(tmp_path, capsys):
    from PIL import Image
    from torch.utils.data import DataLoader

    from panovlm.models.model import PanoramaVLM

    image_path = str(tmp_path / "pano.jpg")
    Image.fromarray(torch.randint(0, 255, (128, 256, 3), dtype=torch.uint8).numpy()).save(image_path)
    ns: dict = {"image_path": image_path, "image_paths": [image_path] * 2, "DataLoader": DataLoader,
                "PanoramaVLM": PanoramaVLM, "VISION": VISION, "TEXT": TEXT, "device": "cpu"}
    # Sizes of the test preset (64 px views) in place of the documents' 224 / 336 / 672.
    first = python_block("000", 0).replace("(224, 224)", "(64, 64)").replace("=224,", "=64,")
    exec(first, ns)  # noqa: S102 - the document's own code
    assert ns["views_tensor"].shape == (9, 3, 64, 64)
    assert "Tile 0: yaw=0.0°, pitch=0.0°" in capsys.readouterr().out
    exec(python_block("000", 1), ns)  # noqa: S102
    code = python_block("000", 2).replace("    anyres_vicreg_pairing_strategy=", "    latent_dimension=32,\n"
                                          "    anyres_vicreg_pairing_strategy=")
    exec(code, ns)  # noqa: S102
    model = ns["model"]
    ns["images"] = torch.randn(2, 9, 3, 64, 64)
    exec(python_block("000", 3), ns)  # noqa: S102
    # The document's Dataset has no __len__, which DataLoader's sampler needs: a defect of the seed, added here.
    code = python_block("000", 4).replace("    def __getitem__", "    def __len__(self):\n"
                                          "        return len(self.image_paths)\n\n    def __getitem__")
    exec(code.replace("batch_size=4", "batch_size=2"), ns)  # noqa: S102
    ns["optimizer"] = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    exec(python_block("000", 5), ns)  # noqa: S102
    assert model.tile_metas_batch == []
    capsys.readouterr()
    exec(python_block("000", 6), ns)  # noqa: S102
    out = capsys.readouterr().out
    assert "Total pairs: 8" in out and "  Pair (0, 1): yaw=(0.0°, 45.0°)" in out
    exec(python_block("000", 7), ns)  # noqa: S102
    assert "Using AnyRes ERP VICReg: True" in capsys.readouterr().out
    code = python_block("000", 8).replace("# ... 기타 설정", "vision_name=VISION, language_model_name=TEXT,")
    exec(code, ns)  # noqa: S102
    assert ns["config"].vicreg_pair_chunk == 4


def test_use_anyres_e2p_vicreg_switches_the_pairs():
    from panovlm.config.config_manager import ModelConfig
    from panovlm.models.model import PanoramaVLM
    from panovlm.plans import build_view_plan

    plan = build_view_plan("anyres_e2p", image_size=(64, 64), pitch_range=(-90.0, 90.0))  # 3 rows
    pixels = torch.randn(1, len(plan), 3, 64, 64)
    metas = [plan.tile_metas()]
    out = {}
    for flag in (False, True):
        torch.manual_seed(0)
        model = PanoramaVLM(ModelConfig(vision_name=VISION, language_model_name=TEXT, latent_dimension=32,
                                        use_anyres_e2p_vicreg=flag))
        out[flag] = model(pixel_values=pixels, stage="vision", view_plan=plan, tile_metas_batch=metas)
        if flag:  # the flag alone is not enough: without tile metas the pairs stay sequential
            without_metas = model(pixel_values=pixels, stage="vision", view_plan=plan)
            assert without_metas["num_pairs"] == out[False]["num_pairs"]
    assert out[True]["num_pairs"] > out[False]["num_pairs"]  # grid pairs include vertical neighbours
    assert not torch.allclose(out[True]["loss"], out[False]["loss"])
    assert callable(model._compute_vicreg_overlap_loss)


def test_processors_anyres_e2p_module(pano_file):
    from panovlm.data.image import PanoramaImageProcessor
    from panovlm.processors.anyres_e2p import build_anyres_from_erp

    pack = build_anyres_from_erp(str(pano_file), vit_size=64)
    assert pack.global_image.shape == (3, 64, 64) and pack.tiles.shape == (8, 3, 64, 64)
    assert [m["view_index"] for m in pack.metas] == list(range(1, 9))
    views = PanoramaImageProcessor(crop_strategy="anyres_e2p", anyres_e2p_vit_size=64, normalize=False)(str(pano_file))
    assert torch.allclose(pack.views(), views, atol=1e-6)


@needs_seeds
def test_seed_002_blocks(recwarn):
    from panovlm.config.config_manager import ModelConfig
    from panovlm.models.model import PanoramaVLM, VisionStageOutput

    ns = {"ModelConfig": ModelConfig, "PanoramaVLM": PanoramaVLM, "VisionStageOutput": VisionStageOutput,
          "torch": torch, "VISION": VISION, "TEXT": TEXT}
    with pytest.raises(ValueError) as err:
        exec(python_block("002", 6), ns)  # noqa: S102
    assert str(err.value) == BLOCKS[("002", 7)][1].strip().removeprefix("ValueError: ")
    exec(python_block("002", 8), ns)  # noqa: S102
    model = PanoramaVLM(ModelConfig(vision_name=VISION, language_model_name=TEXT, latent_dimension=32))
    output = ns["train_vision_stage"](model, torch.randn(1, 9, 3, 64, 64))
    assert torch.isfinite(output["vicreg_loss"])
    with pytest.warns(UserWarning, match="clamped to 1.0"):
        model.generate(torch.randn(1, 9, 3, 64, 64), max_new_tokens=2, temperature=5.0)


def _bash(command: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, "HF_HUB_OFFLINE": "1", "PANOVLM": "python -m panovlm.cli", **env}
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=full, capture_output=True, text=True, timeout=240)


def _workdir(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    (work / "configs").mkdir(parents=True)
    os.symlink(REPO / "scripts", work / "scripts")
    for name in ("default.yaml", "tiny.yaml"):
        (work / "configs" / name).write_text((REPO / "configs" / name).read_text())
    return work


@needs_seeds
def test_seed_004_stage1_default_config_offline_is_one_clear_line(tmp_path):
    work = _workdir(tmp_path)
    result = _bash(BLOCKS[("004", 2)][1], work)
    assert result.returncode != 0
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    config_lines = [line for line in lines if re.match(r"(config|data dir|workers|run dir|log dir|wandb): ", line)]
    errors = [line for line in lines if line not in config_lines]  # the script echoes its settings first
    assert len(errors) == 1, errors
    assert "cannot load model 'google/siglip-base-patch16-224'" in errors[0] and "configs/tiny.yaml" in errors[0]


@needs_seeds
def test_seed_004_eval_with_a_missing_csv_is_one_line(tmp_path):
    work = _workdir(tmp_path)
    for line in BLOCKS[("004", 14)][1].splitlines():
        if line.startswith("./scripts/"):
            result = _bash(line, work)
            assert result.returncode != 0, line
            assert "data/quic360/test.csv: no such file" in result.stderr and "Traceback" not in result.stderr


@needs_seeds
def test_seed_004_train_custom_resume_from_a_checkpoint_path(tmp_path):
    from panovlm.data.synth import generate_panoshapes

    work = _workdir(tmp_path)
    data = work / "data"
    generate_panoshapes(data, train=4, val=2, test=0, seed=1, size=(128, 64))
    (work / "configs" / "seed.yaml").write_text(
        f"model: {{preset: test}}\ndata: {{data_dir: {data}, num_workers: 0}}\n"
        "trainer: {accelerator: cpu, progress_bar: false, checkpoint_every_n_steps: 1}\n"
        "stages: {resampler: {max_steps: 1, batch_size: 2}, finetune: {max_steps: 1, batch_size: 2}}\n")
    env = {"CONFIG": "configs/seed.yaml", "RUN_DIR": "runs/vlm"}
    first = _bash("./scripts/train_custom.sh --stage resampler", work, **env)
    assert first.returncode == 0, first.stderr[-2000:]
    ckpt = work / "runs" / "vlm_resampler" / "checkpoints" / "best.ckpt"  # the seed's layout, copied there
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes((work / "runs" / "vlm" / "resampler" / "checkpoints" / "last.ckpt").read_bytes())
    command = next(line for line in BLOCKS[("004", 12)][1].splitlines() if "--resume" in line)
    result = _bash(command, work, **{**env, "RUN_DIR": "runs/vlm2"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "stage finetune starts from the weights of runs/vlm_resampler/checkpoints/best.ckpt" in result.stdout
    assert (work / "runs" / "vlm2" / "finetune" / "model_final" / "config.json").is_file()
