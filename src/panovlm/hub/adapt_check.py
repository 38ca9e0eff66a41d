"""Is an adapted export folder (``model.kind: adapt``) complete and loadable? Used by ``export`` and ``push``.

An adapted export is the base family's own Hugging Face folder (config, safetensors, tokenizer,
image processor), ``panovlm_adapt.json`` (the view plan and settings panovlm reads) and, with
``--keep-adapters``, a peft adapter folder. It must never need remote code: a config ``auto_map``
or a Python file in the folder is refused. Each problem is one ``FolderError`` naming the file and
what was expected.
"""

from __future__ import annotations

from pathlib import Path

import torch

from panovlm.adapt.families import FAMILIES, get_family, model_class
from panovlm.adapt.lora import ADAPTER_WEIGHTS
from panovlm.adapt.model import ADAPT_FILE, PanoAdapter, read_record
from panovlm.hub.check import (
    CARD_FILE,
    CONFIG_FILE,
    TOKENIZER_FILES,
    WEIGHTS_FILE,
    FolderError,
    read_json_object,
    read_model_dir_state,
)

IMAGE_PROCESSOR_FILE = "preprocessor_config.json"
ADAPTER_CONFIG = "adapter_config.json"


def _record(directory: Path) -> dict:
    try:
        return read_record(directory)
    except (FileNotFoundError, ValueError) as err:
        raise FolderError(str(err)) from err


def check_adapted_files(directory: str | Path, require_card: bool = True) -> dict:
    """Check the files without loading the model; returns the ``panovlm_adapt.json`` record."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FolderError(f"{directory} is not a folder; expected an export folder (panovlm export)")
    config_path = directory / CONFIG_FILE
    config = read_json_object(config_path, "the base model's config written by save_pretrained")
    model_type = config.get("model_type")
    if model_type not in FAMILIES:
        raise FolderError(f"{config_path} has model_type {model_type!r}; expected one of {sorted(FAMILIES)} "
                          "(the adapter's base families)")
    family = get_family(model_type)
    if config.get("architectures") != [family.model_class]:
        raise FolderError(f"{config_path} architectures {config.get('architectures')}; expected "
                          f"[{family.model_class!r}]")
    code = sorted(p.name for p in directory.glob("*.py"))
    if "auto_map" in config or code:
        found = f"auto_map in {CONFIG_FILE}" if "auto_map" in config else ", ".join(code)
        raise FolderError(f"{directory} holds remote code ({found}); an adapted export loads with transformers' "
                          f"own {family.model_class} and must not")
    record = _record(directory)
    if record["family"] != model_type:
        raise FolderError(f"{directory / ADAPT_FILE} family {record['family']!r} != {config_path} model_type "
                          f"{model_type!r}; expected the record saved with these weights")
    for name in (*TOKENIZER_FILES, IMAGE_PROCESSOR_FILE):
        if not (directory / name).is_file():
            raise FolderError(f"{directory / name} is missing; expected the base's tokenizer and image processor")
    adapter = record.get("lora_adapter")
    if adapter is not None:
        for name in (ADAPTER_CONFIG, ADAPTER_WEIGHTS):
            if not (directory / adapter / name).is_file():
                raise FolderError(f"{directory / adapter / name} is missing; {ADAPT_FILE} names {adapter!r} as the "
                                  "peft adapter folder")
    if require_card and not (directory / CARD_FILE).is_file():
        raise FolderError(f"{directory / CARD_FILE} is missing; expected the model card that panovlm export writes")
    return record


def check_adapted_folder(directory: str | Path, reference: torch.nn.Module | None = None,
                         require_card: bool = True) -> PanoAdapter:
    """Check the files, reload the base with its family class (every key must fit) and then as a ``PanoAdapter``.

    With ``reference`` (the base model as exported) the saved tensors must equal its own.
    """
    directory = Path(directory)
    record = check_adapted_files(directory, require_card=require_card)
    state = read_model_dir_state(directory)
    base, info = model_class(get_family(record["family"])).from_pretrained(directory, output_loading_info=True)
    problems = {k: sorted(v) for k, v in info.items() if k in ("missing_keys", "unexpected_keys", "mismatched_keys")
                and v}
    if problems:
        raise FolderError(f"{directory / WEIGHTS_FILE} does not fit {directory / CONFIG_FILE}: "
                          + "; ".join(f"{len(v)} {k.replace('_', ' ')} {v[:6]}" for k, v in problems.items()))
    if reference is not None:
        expected = reference.state_dict()
        differ = sorted(k for k, v in expected.items()
                        if k in state and not torch.equal(state[k], v.to(state[k].dtype)))
        if differ:
            raise FolderError(f"{directory / WEIGHTS_FILE}: {len(differ)} tensor(s) differ from the exported model "
                              f"(first: {differ[:6]})")
    try:
        return PanoAdapter.from_pretrained(directory, base=base)
    except ValueError as err:  # an adapter that does not fit, a bad plan or settings record
        raise FolderError(f"{directory}: {err}") from err


__all__ = ["check_adapted_files", "check_adapted_folder"]
