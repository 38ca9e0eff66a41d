"""Is an export folder complete and loadable? Used by ``export`` (before the folder is moved in place) and ``push``.

Each problem is one ``FolderError`` line naming the file and what was expected: a missing file, a
truncated or corrupt safetensors file, a config of another model type, code files the ``auto_map``
names but the folder lacks, weights that do not fit the config (unexpected / missing keys).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from panovlm.hub.remote_code import PROCESSOR_CONFIG as PROCESSOR_FILE
from panovlm.models.configuration_panollava import PanoLLaVaConfig
from panovlm.models.modeling_heads import PanoLLaVaForFeatureExtraction, PanoLLaVaForVICReg
from panovlm.models.modeling_panollava import PanoLLaVaForConditionalGeneration
from panovlm.models.processing_panollava import PanoLLaVaProcessor

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_INDEX = "model.safetensors.index.json"
CARD_FILE = "README.md"
TOKENIZER_FILES: tuple[str, ...] = ("tokenizer.json", "tokenizer_config.json")
HEADS: dict[str, type] = {cls.__name__: cls for cls in (PanoLLaVaForConditionalGeneration, PanoLLaVaForVICReg,
                                                        PanoLLaVaForFeatureExtraction)}


class FolderError(ValueError):
    """A model folder (or one of its files) that is not what a loader expects."""


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise FolderError(f"{path} is missing; expected a safetensors weights file")
    try:
        return load_file(str(path))
    except SafetensorError as err:
        raise FolderError(f"{path} is truncated or corrupt ({err}); expected a complete safetensors file") from err


def read_model_dir_state(directory: Path) -> dict[str, torch.Tensor]:
    """The tensors of a ``save_pretrained`` folder (single file or shards), each file checked as it is read."""
    index = directory / WEIGHTS_INDEX
    if index.is_file():
        files = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    elif (directory / WEIGHTS_FILE).is_file():
        files = [WEIGHTS_FILE]
    else:
        raise FolderError(f"{directory / WEIGHTS_FILE} is missing; expected the safetensors weights of save_pretrained")
    state: dict[str, torch.Tensor] = {}
    for name in files:
        state.update(read_safetensors(directory / name))
    return state


def read_json_object(path: Path, what: str, error: type[FolderError] = FolderError) -> dict:
    """The JSON object in ``path``; a missing file, invalid JSON or another JSON value is ``error`` naming ``what``."""
    if not path.is_file():
        raise error(f"{path} is missing; expected {what}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise error(f"{path} is not valid JSON ({err}); expected {what}") from err
    if not isinstance(data, dict):
        raise error(f"{path} holds a {type(data).__name__}; expected {what} (a JSON object)")
    return data


def read_model_config(path: Path, error: type[FolderError] = FolderError) -> dict:
    """The fields of a PanoLLaVA ``config.json``; an unreadable file or another ``model_type`` is ``error``."""
    config = read_json_object(path, "the model config written by save_pretrained", error)
    if config.get("model_type") != PanoLLaVaConfig.model_type:
        raise error(f"{path} has model_type {config.get('model_type')!r}; expected {PanoLLaVaConfig.model_type!r} "
                    "(a PanoLLaVA model)")
    return config


def _auto_map_files(directory: Path, path: Path, auto_map: Any) -> None:
    if not isinstance(auto_map, dict) or not auto_map:
        raise FolderError(f"{path} has no auto_map; expected the entries save_pretrained writes for trust_remote_code")
    for auto, reference in auto_map.items():
        module = str(reference).rsplit(".", 1)[0]
        if not (directory / f"{module}.py").is_file():
            raise FolderError(f"{directory / (module + '.py')} is missing; {path.name} auto_map[{auto!r}] names it")
        _relative_imports_present(directory, module)


def _relative_imports_present(directory: Path, entry: str) -> None:
    """Every file reached from ``entry`` by relative imports exists (found the way transformers finds them)."""
    seen, todo = set(), [entry]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        source = (directory / f"{module}.py").read_text(encoding="utf-8")
        for needed in re.findall(r"^\s*from\s+\.(\S+)\s+import", source, flags=re.MULTILINE):
            if not (directory / f"{needed}.py").is_file():
                raise FolderError(f"{directory / (needed + '.py')} is missing; {module}.py imports it (remote code)")
            todo.append(needed)


def check_files(directory: str | Path, require_card: bool = True) -> str:
    """Check the files of an export folder without loading the model; returns the head's class name."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FolderError(f"{directory} is not a folder; expected an export folder (panovlm export)")
    config_path = directory / CONFIG_FILE
    config = read_model_config(config_path)
    architectures = config.get("architectures") or []
    if len(architectures) != 1 or architectures[0] not in HEADS:
        raise FolderError(f"{config_path} architectures {architectures}; expected one of {sorted(HEADS)}")
    _auto_map_files(directory, config_path, config.get("auto_map"))
    processor_path = directory / PROCESSOR_FILE
    processor = read_json_object(processor_path, "the processor config written by processor.save_pretrained")
    _auto_map_files(directory, processor_path, processor.get("auto_map"))
    for name in TOKENIZER_FILES:
        if not (directory / name).is_file():
            raise FolderError(f"{directory / name} is missing; expected the tokenizer saved with the processor")
    if require_card and not (directory / CARD_FILE).is_file():
        raise FolderError(f"{directory / CARD_FILE} is missing; expected the model card that panovlm export writes")
    return architectures[0]


def check_folder(directory: str | Path, reference: torch.nn.Module | None = None,
                 require_card: bool = True) -> tuple[torch.nn.Module, PanoLLaVaProcessor]:
    """Check the files, then reload model and processor; with ``reference`` the weights must equal its own."""
    directory = Path(directory)
    head = check_files(directory, require_card=require_card)
    state = read_model_dir_state(directory)
    model, info = HEADS[head].from_pretrained(directory, output_loading_info=True)
    problems = {k: sorted(v) for k, v in info.items() if k in ("missing_keys", "unexpected_keys", "mismatched_keys")
                and v}
    if problems:
        raise FolderError(f"{directory / WEIGHTS_FILE} does not fit {directory / CONFIG_FILE}: "
                          + "; ".join(f"{len(v)} {k.replace('_', ' ')} {v[:6]}" for k, v in problems.items()))
    if reference is not None:
        expected = reference.state_dict()
        differ = sorted(k for k, v in expected.items() if k in state and not torch.equal(state[k], v.to(state[k].dtype)))
        if differ:
            raise FolderError(f"{directory / WEIGHTS_FILE}: {len(differ)} tensor(s) differ from the converted model "
                              f"(first: {differ[:6]})")
    processor = PanoLLaVaProcessor.from_pretrained(directory)
    return model, processor


__all__ = ["FolderError", "check_files", "check_folder", "read_json_object", "read_model_config",
           "read_model_dir_state", "read_safetensors"]
