"""The model card of an adapted export (``model.kind: adapt``): which base, which plan, how to load it.

It says what the folder is (the base family's own ``transformers`` model, LoRA merged or kept as a
peft adapter), the view plan and token budget that make it panoramic, the training stages and the
evaluation metrics (the PanoLLaVA card's sections, :mod:`panovlm.hub.card`), and two ways to load
it: with ``transformers`` (+ ``peft``) alone, and with panovlm, which feeds the views. It never asks
for ``trust_remote_code``: the folder holds no code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from panovlm.adapt.model import read_record
from panovlm.adapt.tiny import TINY_BASES
from panovlm.hub.card import (
    CARD_FILE,
    is_hub_id,
    load_metrics,
    metrics_section,
    model_index,
    read_json,
    read_yaml,
    stages_section,
)

if TYPE_CHECKING:  # the export result type only; convert imports this module's caller
    from panovlm.adapt.model import PanoAdapter
    from panovlm.hub.convert import ExportResult

LIMITATIONS = (
    "Inputs are equirectangular (2:1) panoramas, fed as the views above; the weights alone, given one ordinary "
    "image, behave like a fine-tuned base model, not a panoramic one.",
    "The view plan, direction tags and token budget are fixed by training; changing them needs a new run.",
    "Direction words (front, right, behind ...) are relative to the panorama's centre column (yaw 0).",
)


def _metadata(name: str, adapter: PanoAdapter, base: str, metrics: Sequence[Mapping], *,
              license: str | None, datasets: Sequence[str], base_models: Sequence[str]) -> dict:
    bases = list(base_models) or ([base] if is_hub_id(base) else [])
    tags = ["panovlm", "panorama", "360-degree", "equirectangular", adapter.family.name, "lora"]
    meta: dict[str, Any] = {"library_name": "transformers", "pipeline_tag": "image-text-to-text", "tags": tags}
    if license:
        meta["license"] = license
    if bases:
        meta["base_model"] = bases
    if datasets:
        meta["datasets"] = list(datasets)
    index = model_index(name, "conditional-generation", metrics)
    if index:
        meta["model-index"] = index
    return meta


def original_base(run_config: Mapping, config_dir: Path) -> str:
    """The base model the run started from (hub id, local folder or tiny preset).

    The run config's ``model.base``; a later stage's ``panovlm_adapt.json`` names the previous stage's folder.
    """
    model = run_config.get("model") if isinstance(run_config.get("model"), dict) else {}
    return str(model.get("base") or read_record(config_dir)["settings"]["base"])


def _intro(adapter: PanoAdapter, result: ExportResult, base: str) -> list[str]:
    cls = adapter.family.model_class
    weights = ("The LoRA adapters are merged into the weights." if result.merged_lora else
               "The base weights are stored unmerged; the trained LoRA adapters are the peft folder `adapter/`.")
    lines = [f"An off-the-shelf vision-language model made panoramic with PanoVLM (`model.kind: adapt`): base "
             f"`{base}`, stored as transformers' own `{cls}` (no remote code, no `trust_remote_code`). "
             "A 360-degree equirectangular panorama is rendered into perspective views that the model reads as "
             "its own multi-image chat input; training added LoRA adapters and a ray-matched overlap loss on the "
             f"visual tokens. {weights}"]
    if base in TINY_BASES:
        lines += ["", f"`{base}` is a tiny random-init preset built for offline tests: this model is not useful."]
    return [*lines, ""]


def _plan_section(adapter: PanoAdapter) -> list[str]:
    s, plan = adapter.settings, adapter.plan
    tags = "on (a text tag before each view: `Global view:`, `View yaw 45, pitch 0:`)" if s.direction_tags else "off"
    lines = ["## View plan", "",
             f"`{s.adapt_mode}` mode, `{plan.strategy}`: {len(plan)} views per panorama, "
             f"{adapter.visual_tokens} visual tokens per panorama; direction tags {tags}. "
             "The plan is stored in `panovlm_adapt.json`.", "",
             "| # | kind | yaw | pitch | hfov | vfov | size | tokens |", "|---|---|---|---|---|---|---|---|"]
    for i, (view, (h, w)) in enumerate(zip(plan.views, adapter.grids, strict=True)):
        lines.append(f"| {i} | {view.kind} | {view.yaw_deg:g} | {view.pitch_deg:g} | {view.hfov_deg:.1f} | "
                     f"{view.vfov_deg:.1f} | {view.width}x{view.height} | {h * w} |")
    lines += ["", f"LoRA: r {s.lora_r}, alpha {s.lora_alpha}, on `{', '.join(s.lora_target_modules)}` of the LM"
              + (" and the vision tower's attention" if s.lora_vision else "")
              + ("; the projector / merger trained in full" if s.train_projector else "") + "."]
    return [*lines, ""]


def usage_snippet(repo: str, adapter: PanoAdapter, merged: bool) -> str:
    cls = adapter.family.model_class
    imports = "" if merged else "from peft import PeftModel\n"
    peft = "" if merged else (f'\nmodel = PeftModel.from_pretrained(model, "{repo}", subfolder="adapter")  '
                              '# a local folder: PeftModel.from_pretrained(model, f"{path}/adapter")\n'
                              "model = model.merge_and_unload()  # optional: fold the adapters into the weights")
    return f'''With transformers{"" if merged else " and peft"} alone (the base family's classes):

```python
{imports}from transformers import AutoImageProcessor, AutoTokenizer, {cls}

model = {cls}.from_pretrained("{repo}")
tokenizer = AutoTokenizer.from_pretrained("{repo}")
image_processor = AutoImageProcessor.from_pretrained("{repo}"){peft}
```

To get the panoramic behaviour the views must be rendered and tagged as in training; panovlm does that
(`pip install panovlm`, download the folder, then):

```bash
panovlm generate --model PATH --image panorama.jpg --prompt "What is behind me?"
```

```python
from panovlm.models.loading import load_model
from panovlm.evaluation.generation import GenerationSettings, generate_batch

model, processor = load_model("PATH")
print(generate_batch(model, processor, ["What is to my left?"], ["panorama.jpg"], GenerationSettings())[0])
```'''


def render_adapted_card(adapter: PanoAdapter, result: ExportResult, metrics: Sequence[Mapping] = (), *,
                        name: str | None = None, repo_id: str | None = None, license: str | None = None,
                        datasets: Sequence[str] = (), base_models: Sequence[str] = ()) -> str:
    source = result.source
    folders = [source.path, source.config_dir] if source.path.is_dir() else [source.config_dir]
    run_config = next((c for c in (read_yaml(f / "run_config.yaml") for f in folders) if c), {})
    base = original_base(run_config, source.config_dir)
    state = read_json(source.run_dir / "state.json") if source.run_dir is not None else {}
    if isinstance(run_config.get("stages"), dict):  # the core's stage table lists stages the adapter never runs
        run_config = {**run_config, "stages": {k: v for k, v in run_config["stages"].items()
                                               if k in adapter.settings.stages}}
    name = name or result.output_dir.name
    meta = _metadata(name, adapter, base, metrics, license=license, datasets=datasets, base_models=base_models)
    body = [f"# {name}", "", *_intro(adapter, result, base), *_plan_section(adapter),
            *stages_section(result, run_config, state), *metrics_section(metrics), "## Usage", "",
            usage_snippet(repo_id or name, adapter, result.merged_lora), "",
            "## Limitations", "", *[f"- {line}" for line in LIMITATIONS], ""]
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n\n" + "\n".join(body)


def write_adapted_card(directory: str | Path, adapter: PanoAdapter, result: ExportResult,
                       metrics: str | Path | Sequence[str | Path] | None = None, **options: Any) -> Path:
    """Write ``directory/README.md``; ``options`` go to :func:`render_adapted_card`."""
    path = Path(directory) / CARD_FILE
    path.write_text(render_adapted_card(adapter, result, load_metrics(metrics), **options), encoding="utf-8")
    return path


__all__ = ["render_adapted_card", "usage_snippet", "write_adapted_card"]
