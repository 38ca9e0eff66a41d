"""Remote code: a saved folder loads with ``trust_remote_code=True`` in a Python where panovlm cannot be imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoConfig, AutoModelForImageTextToText, pipeline

from panovlm.hub import remote_code
from panovlm.models import PanoLLaVaForFeatureExtraction, PanoLLaVaForVICReg
from panovlm.models.tiny import tiny_config, tiny_model, tiny_processor

# Runs in a fresh interpreter: panovlm is installed (editable) in this venv, so a meta-path finder refuses it.
REMOTE_SCRIPT = textwrap.dedent('''
    import importlib.abc, json, sys
    class BlockPanovlm(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "panovlm" or name.startswith("panovlm."):
                raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)")
            return None
    sys.meta_path.insert(0, BlockPanovlm())
    import numpy as np
    import torch
    from transformers import AutoConfig, AutoModel, AutoModelForImageTextToText, AutoProcessor
    from transformers import pipeline
    gen_dir, vicreg_dir, feat_dir, out = sys.argv[1:5]
    image = np.load(sys.argv[5])
    config = AutoConfig.from_pretrained(gen_dir, trust_remote_code=True)
    processor = AutoProcessor.from_pretrained(gen_dir, trust_remote_code=True)
    model = AutoModelForImageTextToText.from_pretrained(gen_dir, trust_remote_code=True).eval()
    inputs = processor(text="What is to your right?", images=image)
    with torch.no_grad():
        logits = model(**inputs).logits
        tokens = model.generate(**inputs, max_new_tokens=6, do_sample=False)
        vicreg = AutoModel.from_pretrained(vicreg_dir, trust_remote_code=True).eval()
        vicreg_loss = vicreg(inputs["pixel_values"]).vicreg_loss
        feat = AutoModel.from_pretrained(feat_dir, trust_remote_code=True).eval()
        pooled = feat(inputs["pixel_values"]).pooled_output
    pipe = pipeline("image-text-to-text", model=gen_dir, trust_remote_code=True)
    answer = pipe(text=[{"role": "user", "content": [{"type": "image", "url": sys.argv[6]},
                                                     {"type": "text", "text": "What is behind you?"}]}],
                  max_new_tokens=6, return_full_text=False)
    torch.save({"pixel_values": inputs["pixel_values"], "input_ids": inputs["input_ids"], "logits": logits,
                "tokens": tokens, "vicreg_loss": vicreg_loss, "pooled": pooled}, out)
    leaked = sorted(m for m in sys.modules if m.split(".")[0] == "panovlm")
    print(json.dumps({"config": type(config).__module__, "model": type(model).__module__,
                      "processor": type(processor).__name__, "image_processor": type(processor.image_processor).__name__,
                      "vicreg": type(vicreg).__name__, "feat": type(feat).__name__, "leaked": leaked,
                      "pipeline": answer[0]["generated_text"], "pipeline_model": type(pipe.model).__module__}))
''')


def _image(seed: int = 0) -> np.ndarray:
    # Smooth structure, so that the projection (not noise) decides the pixel values.
    h, w = 64, 128
    yy, xx = np.mgrid[0:h, 0:w]
    rng = np.random.default_rng(seed)
    base = np.stack([xx * 2, yy * 4, (xx + yy) % 256], axis=-1) + rng.integers(0, 30, (h, w, 3))
    return np.clip(base, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("remote")
    model = tiny_model(test=True).eval()
    processor = tiny_processor(test=True)
    config = tiny_config(test=True)
    dirs = {"gen": root / "gen", "vicreg": root / "vicreg", "feat": root / "feat"}
    model.save_pretrained(dirs["gen"])
    processor.save_pretrained(dirs["gen"])
    torch.manual_seed(1)
    heads = {"vicreg": PanoLLaVaForVICReg(config).eval(), "feat": PanoLLaVaForFeatureExtraction(config).eval()}
    for name, head in heads.items():
        head.save_pretrained(dirs[name])
        processor.save_pretrained(dirs[name])
    image_path, png = root / "image.npy", root / "pano.png"
    np.save(image_path, _image())
    Image.fromarray(_image()).save(png)
    return {"root": root, "dirs": dirs, "model": model, "processor": processor, "heads": heads, "image": image_path,
            "png": png}


def test_save_writes_auto_map_and_code(exported: dict) -> None:
    gen = exported["dirs"]["gen"]
    config = json.loads((gen / "config.json").read_text())
    assert config["auto_map"] == {
        "AutoConfig": "auto_map_panollava.PanoLLaVaConfig",
        "AutoModel": "auto_map_panollava.PanoLLaVaForConditionalGeneration",
        "AutoModelForImageTextToText": "auto_map_panollava.PanoLLaVaForConditionalGeneration",
    }
    proc = json.loads((gen / "processor_config.json").read_text())
    assert proc["auto_map"] == {"AutoProcessor": "auto_map_panollava.PanoLLaVaProcessor"}
    assert proc["image_processor"]["auto_map"] == {"AutoImageProcessor": "auto_map_panollava.PanoramaImageProcessor"}
    vicreg = json.loads((exported["dirs"]["vicreg"] / "config.json").read_text())
    assert vicreg["auto_map"]["AutoModel"] == "auto_map_panollava.PanoLLaVaForVICReg"
    # Generated from the package: each file is its module with only the panovlm imports rewritten.
    for name, source in remote_code.remote_code_files().items():
        assert (gen / name).read_text() == source
        assert "panovlm." not in "".join(line for line in source.splitlines() if line.lstrip().startswith("from "))


def test_bundle_is_the_package_source() -> None:
    files = remote_code.remote_code_files()
    original = (Path(remote_code.__file__).parents[1] / "geometry.py").read_text()
    assert files["geometry.py"] == original  # no panovlm imports: byte-identical
    plans = files["plans.py"]
    assert "from .geometry import View, ViewPlan, wrap_yaw" in plans
    assert len(plans.splitlines()) == len((Path(remote_code.__file__).parents[1] / "plans.py").read_text().splitlines())


def test_in_package_load_needs_no_trust_remote_code(exported: dict) -> None:
    gen = exported["dirs"]["gen"]
    config = AutoConfig.from_pretrained(gen)
    assert type(config).__module__ == "panovlm.models.configuration_panollava"
    model = AutoModelForImageTextToText.from_pretrained(gen)
    assert type(model).__module__ == "panovlm.models.modeling_panollava"


def test_import_panovlm_registers_the_auto_classes(exported: dict) -> None:
    code = ("import panovlm, sys\nfrom transformers import AutoConfig, AutoModelForImageTextToText\n"
            f"m = AutoModelForImageTextToText.from_pretrained({str(exported['dirs']['gen'])!r})\n"
            "assert 'panovlm.models' in sys.modules\nprint(type(m).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"}, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "PanoLLaVaForConditionalGeneration"


def test_remote_load_without_panovlm_matches_the_package(exported: dict, tmp_path: Path) -> None:
    dirs, result = exported["dirs"], tmp_path / "remote.pt"
    script = tmp_path / "remote_load.py"
    script.write_text(REMOTE_SCRIPT)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules"),
           "PYTHONPATH": "", "OMP_NUM_THREADS": "1"}
    # -I: no user site, no PYTHONPATH, no cwd on sys.path (the blocker handles the editable install).
    out = subprocess.run([sys.executable, "-I", str(script), str(dirs["gen"]), str(dirs["vicreg"]), str(dirs["feat"]),
                          str(result), str(exported["image"]), str(exported["png"])], capture_output=True, text=True, timeout=280,
                         cwd=tmp_path, env=env, check=False)
    assert out.returncode == 0, out.stderr[-4000:]
    info = json.loads(out.stdout.strip().splitlines()[-1])
    assert info["leaked"] == []
    assert info["config"].startswith("transformers_modules.") and info["model"].startswith("transformers_modules.")
    assert (info["processor"], info["image_processor"]) == ("PanoLLaVaProcessor", "PanoramaImageProcessor")
    assert (info["vicreg"], info["feat"]) == ("PanoLLaVaForVICReg", "PanoLLaVaForFeatureExtraction")
    remote = torch.load(result, weights_only=True)
    assert info["pipeline_model"].startswith("transformers_modules.")
    in_package = pipeline("image-text-to-text", model=str(dirs["gen"]))  # registered by import panovlm
    messages = [{"role": "user", "content": [{"type": "image", "url": str(exported["png"])},
                                             {"type": "text", "text": "What is behind you?"}]}]
    assert info["pipeline"] == in_package(text=messages, max_new_tokens=6, return_full_text=False)[0]["generated_text"]

    processor, model = exported["processor"], exported["model"]
    inputs = processor(text="What is to your right?", images=np.load(exported["image"]))
    torch.testing.assert_close(remote["pixel_values"], inputs["pixel_values"], rtol=0, atol=0)
    assert torch.equal(remote["input_ids"], inputs["input_ids"])
    with torch.no_grad():
        torch.testing.assert_close(remote["logits"], model(**inputs).logits, rtol=0, atol=0)
        tokens = model.generate(**inputs, max_new_tokens=6, do_sample=False)
        assert torch.equal(remote["tokens"], tokens)
        torch.testing.assert_close(remote["vicreg_loss"], exported["heads"]["vicreg"](inputs["pixel_values"]).vicreg_loss)
        torch.testing.assert_close(remote["pooled"], exported["heads"]["feat"](inputs["pixel_values"]).pooled_output)


def test_transformers_finds_every_file_and_only_runtime_dependencies(tmp_path: Path) -> None:
    # transformers' own discovery: a regex for relative imports (it also reads docstrings) and an AST walk
    # for the packages it imports before running the code.
    from transformers.dynamic_module_utils import get_imports, get_relative_imports

    written = remote_code.write_remote_code(tmp_path)
    allowed = {"torch", "transformers", "safetensors", "numpy", "cv2", "PIL"} | set(sys.stdlib_module_names)
    for path in written:
        assert all((tmp_path / f"{rel}.py").is_file() for rel in get_relative_imports(path)), path.name
        assert set(get_imports(path)) <= allowed, (path.name, set(get_imports(path)) - allowed)


def test_no_split_modules_name_real_classes() -> None:
    from panovlm.models.resamplers import RESAMPLERS

    model = tiny_model(test=True)
    known = {cls.__name__ for cls in RESAMPLERS.values()} | {type(m).__name__ for m in model.modules()}
    assert set(model._no_split_modules) <= known
    assert "Qwen2DecoderLayer" in model._no_split_modules  # gathered from the LM child
