"""The model card (``README.md``) of an export folder: YAML metadata + what a user needs to load and judge it.

Metadata: ``library_name``, ``pipeline_tag``, ``tags``, ``base_model`` (the HF ids the run named),
``datasets`` (hub ids given by the caller), ``license`` and, when eval metrics are given, a
``model-index``. Body: the view plan, the architecture, the training stages with their
hyper-parameters (from the run's ``run_config.yaml`` / ``state.json`` where the source has them), a
usage snippet (``AutoModelForImageTextToText`` + ``trust_remote_code=True``), the runtime requirements
of the remote code and the limitations.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from panovlm.hub.check import CARD_FILE, read_json_object
from panovlm.hub.remote_code import RUNTIME_REQUIREMENTS

if TYPE_CHECKING:  # the export result type only; convert imports this module
    from panovlm.hub.convert import ExportResult

PIPELINE_TAGS: dict[str, str] = {"conditional-generation": "image-text-to-text", "vicreg": "image-feature-extraction",
                                 "feature-extraction": "image-feature-extraction"}
# metrics.json keys of `panovlm eval` -> (model-index metric type, display name)
CAPTION_METRICS: dict[str, tuple[str, str]] = {
    "Bleu_1": ("bleu", "BLEU-1"), "Bleu_2": ("bleu", "BLEU-2"), "Bleu_3": ("bleu", "BLEU-3"),
    "Bleu_4": ("bleu", "BLEU-4"), "METEOR": ("meteor", "METEOR"), "ROUGE_L": ("rouge", "ROUGE-L"),
    "CIDEr": ("cider", "CIDEr"), "SPICE": ("spice", "SPICE"), "direction_f1": ("f1", "direction F1"),
}
LIMITATIONS = (
    "Inputs are equirectangular (2:1) panoramas; other images are refused or distorted by the view projection.",
    "The exported code runs the same view plan as training (see above); changing it needs a new training run.",
    "Direction words (front, right, behind ...) are relative to the panorama's centre column (yaw 0).",
    "Loading runs the Python files of this folder: `trust_remote_code=True` is required and should only be "
    "given to a folder you trust (read the files, pin a revision).",
)


def read_yaml(path: Path) -> dict:
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def read_json(path: Path) -> dict:
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def is_hub_id(value: Any) -> bool:
    return isinstance(value, str) and value.count("/") == 1 and not Path(value).exists()


def load_metrics(paths: str | Path | Sequence[str | Path] | None) -> list[dict]:
    """The metrics.json files of ``panovlm eval``; a missing or unreadable file is a ``FolderError`` naming it."""
    if paths is None:
        return []
    items = [paths] if isinstance(paths, (str, Path)) else list(paths)
    loaded = []
    for item in items:
        path = Path(item)
        data = read_json_object(path, "a metrics.json written by panovlm eval")
        loaded.append({**data, "_path": str(path)})
    return loaded


def model_index(name: str, model_type: str, metrics: Sequence[Mapping[str, Any]]) -> list[dict]:
    """The ``model-index`` entry (one result per metrics file), [] without metrics."""
    results = []
    for entry in metrics:
        values = [{"type": kind, "name": label, "value": round(float(entry[key]), 4)}
                  for key, (kind, label) in CAPTION_METRICS.items() if isinstance(entry.get(key), (int, float))]
        if not values:
            continue
        dataset = Path(str(entry.get("csv", entry["_path"]))).stem
        results.append({"task": {"type": PIPELINE_TAGS[model_type], "name": "Panorama captioning / VQA"},
                        "dataset": {"name": dataset, "type": dataset},
                        "metrics": values,
                        "source": {"name": f"panovlm eval ({entry.get('backend', 'pycocoevalcap')})",
                                   "url": "https://github.com/wooseungw/panollava"}})
    return [{"name": name, "results": results}] if results else []


def _metadata(name: str, result: ExportResult, run_config: Mapping, metrics: Sequence[Mapping], *,
              license: str | None, datasets: Sequence[str], base_models: Sequence[str]) -> dict:
    model_block = run_config.get("model", {}) if isinstance(run_config.get("model"), dict) else {}
    bases = list(base_models) or [v for v in (model_block.get("vision"), model_block.get("language")) if is_hub_id(v)]
    meta: dict[str, Any] = {"library_name": "transformers", "pipeline_tag": PIPELINE_TAGS[result.model_type],
                            "tags": ["panovlm", "panorama", "360-degree", "equirectangular", "custom_code"]}
    if license:
        meta["license"] = license
    if bases:
        meta["base_model"] = bases
    if datasets:
        meta["datasets"] = list(datasets)
    index = model_index(name, result.model_type, metrics)
    if index:
        meta["model-index"] = index
    return meta


def _view_plan_section(model: Any) -> list[str]:
    config = model.config
    plan = config.view_plan()
    lines = ["## View plan", "",
             f"`{plan.strategy}`: {len(plan)} views per panorama at {config.image_hw[0]}x{config.image_hw[1]} px, "
             f"fov {config.fov_deg} deg, overlap {config.overlap_ratio}, global view `{config.global_mode}`"
             + (f"; {config.vision_tokens_per_view} tokens per view" if config.vision_tokens_per_view else "") + ".",
             "", "| # | kind | yaw | pitch | hfov | vfov | size |", "|---|---|---|---|---|---|---|"]
    for i, view in enumerate(plan.views):
        lines.append(f"| {i} | {view.kind} | {view.yaw_deg:g} | {view.pitch_deg:g} | {view.hfov_deg:.1f} | "
                     f"{view.vfov_deg:.1f} | {view.width}x{view.height} |")
    return [*lines, ""]


def _architecture_section(model: Any) -> list[str]:
    config = model.config
    text = getattr(model.config, "text_config", None)
    params = sum(p.numel() for p in model.parameters())
    lines = ["## Architecture", "",
             f"- head: `{type(model).__name__}` ({params / 1e6:.2f} M parameters)",
             f"- vision: `{config.vision_config.model_type}` (hidden {getattr(config.vision_config, 'hidden_size', '?')})",
             f"- resampler: `{config.resampler_type}` -> latent {config.latent_dimension}"]
    if hasattr(model, "language_model") and text is not None:
        lines.append(f"- language model: `{text.model_type}` (hidden {text.hidden_size}, "
                     f"{text.num_hidden_layers} layers, vocab {text.vocab_size})")
    return [*lines, ""]


def stages_section(result: ExportResult, run_config: Mapping, state: Mapping) -> list[str]:
    source = result.source
    lines = ["## Training", "",
             f"Converted from `{source.path.name}` ({source.kind}"
             + (f", stage `{source.stage}`" if source.stage else "")
             + (f", global step {source.extra['global_step']}" if "global_step" in source.extra else "") + ")"
             + ("; LoRA adapters merged into the language model" if result.merged_lora else "") + "."]
    stages = run_config.get("stages") if isinstance(run_config.get("stages"), dict) else {}
    records = state.get("stages", {}) if isinstance(state.get("stages"), dict) else {}
    if stages:
        keys = ["epochs", "batch_size", "lr", "max_steps", "schedule", "warmup_ratio", "weight_decay", "train"]
        lines += ["", "| stage | status | steps | " + " | ".join(keys) + " |", "|" + "---|" * (len(keys) + 3)]
        for name, cfg in stages.items():
            record = records.get(name, {})
            values = [str(cfg.get(k, "")) if isinstance(cfg, dict) else "" for k in keys]
            lines.append(f"| {name} | {record.get('status', '-')} | {record.get('global_step', '-')} | "
                         + " | ".join(values) + " |")
    data = run_config.get("data") if isinstance(run_config.get("data"), dict) else {}
    if data:
        lines += ["", f"Data: `{data.get('data_dir')}` (`{data.get('train_file')}` / `{data.get('val_file')}`)."]
    if not stages:
        lines += ["", "The source holds no run configuration (run_config.yaml), so the stages are not listed."]
    return [*lines, ""]


def metrics_section(metrics: Sequence[Mapping]) -> list[str]:
    if not metrics:
        return ["## Evaluation", "", "No evaluation metrics were given to the export (`--metrics metrics.json`).", ""]
    lines = ["## Evaluation", ""]
    for entry in metrics:
        shown = ", ".join(f"{label} {float(entry[key]):.4f}" for key, (_, label) in CAPTION_METRICS.items()
                          if isinstance(entry.get(key), (int, float)))
        lines.append(f"- `{Path(str(entry.get('csv', entry['_path']))).name}` ({entry.get('num_samples', '?')} "
                     f"samples, backend {entry.get('backend', '?')}): {shown or 'no caption metrics'}")
    return [*lines, ""]


def usage_snippet(repo: str, model_type: str) -> str:
    if model_type == "conditional-generation":
        return f'''```python
import torch
from transformers import AutoModelForImageTextToText, AutoProcessor

processor = AutoProcessor.from_pretrained("{repo}", trust_remote_code=True)
model = AutoModelForImageTextToText.from_pretrained("{repo}", trust_remote_code=True, dtype=torch.bfloat16,
                                                    device_map="auto")
inputs = processor(text="What is to your right?", images="panorama.jpg").to(model.device)
out = model.generate(**inputs, max_new_tokens=32)
print(processor.decode_generated(out, inputs["input_ids"].shape[1])[0])
```

Or through the pipeline:

```python
from transformers import pipeline

pipe = pipeline("image-text-to-text", model="{repo}", trust_remote_code=True)
messages = [{{"role": "user", "content": [{{"type": "image", "url": "panorama.jpg"}},
                                        {{"type": "text", "text": "What is behind you?"}}]}}]
print(pipe(text=messages, max_new_tokens=32))
```

`AutoModelForVision2Seq`, which older instructions use, was removed from transformers;
`AutoModelForImageTextToText` is its replacement.'''
    return f'''```python
from transformers import AutoModel, AutoProcessor

processor = AutoProcessor.from_pretrained("{repo}", trust_remote_code=True)
model = AutoModel.from_pretrained("{repo}", trust_remote_code=True)
pixel_values = processor.image_processor.preprocess(["panorama.jpg"], return_tensors="pt")["pixel_values"]
out = model(pixel_values)  # {'vicreg_loss, invariance, variance, covariance' if model_type == 'vicreg' else 'pooled_output (B, D), last_hidden_state (B, V * S, D)'}
```'''


def render_model_card(model: Any, result: ExportResult, metrics: Sequence[Mapping] = (), *, name: str | None = None,
                      repo_id: str | None = None, license: str | None = None, datasets: Sequence[str] = (),
                      base_models: Sequence[str] = ()) -> str:
    source = result.source
    folders = [source.path, source.config_dir] if source.path.is_dir() else [source.config_dir]
    run_config = next((c for c in (read_yaml(f / "run_config.yaml") for f in folders) if c), {})
    state = read_json(source.run_dir / "state.json") if source.run_dir is not None else {}
    name = name or result.output_dir.name
    meta = _metadata(name, result, run_config, metrics, license=license, datasets=datasets, base_models=base_models)
    body = [f"# {name}", "",
            f"A PanoVLM panoramic vision-language model (`{result.model_type}`), exported by `panovlm export`. "
            "It reads a 360-degree equirectangular panorama as a set of perspective views.", "",
            *_view_plan_section(model), *_architecture_section(model), *stages_section(result, run_config, state),
            *metrics_section(metrics), "## Usage", "", usage_snippet(repo_id or name, result.model_type), "",
            "## Requirements", "",
            "The code in this folder (generated from the `panovlm` package at export time) needs only: "
            + ", ".join(f"`{r}`" for r in RUNTIME_REQUIREMENTS) + " (and `accelerate` for `device_map`).", "",
            "## Limitations", "", *[f"- {line}" for line in LIMITATIONS], ""]
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n\n" + "\n".join(body)


def write_model_card(directory: str | Path, model: Any, result: ExportResult,
                     metrics: str | Path | Sequence[str | Path] | None = None, **options: Any) -> Path:
    """Write ``directory/README.md``; ``options`` go to :func:`render_model_card`."""
    path = Path(directory) / CARD_FILE
    path.write_text(render_model_card(model, result, load_metrics(metrics), **options), encoding="utf-8")
    return path


__all__ = ["CARD_FILE", "load_metrics", "model_index", "render_model_card", "usage_snippet", "write_model_card"]
