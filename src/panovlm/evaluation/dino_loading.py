"""Load the model the visualiser looks into: a Lightning checkpoint of a run or an exported HF model folder.

* A model folder (``RUN/<stage>/model_final``, ``quickstart/model``): ``from_pretrained``.
* A Lightning checkpoint (``RUN/<stage>/checkpoints/last.ckpt``, ``best-*.ckpt``): read with
  ``torch.load(weights_only=True)`` (no arbitrary unpickling) by the export's reader
  (``panovlm.hub.convert.read_lightning_state``). A run's checkpoints hold weights, not the model
  config, so the architecture comes from ``config`` (a run config YAML such as ``configs/tiny.yaml``,
  or a model's ``config.json`` / folder) or else from a saved model folder of the same run, found as
  the export finds it (``panovlm.hub.convert.locate``: the stage's ``model_final``, then the other
  stages'). Otherwise it is the seed's error: no config in the checkpoint, pass ``--config``.

Only the vision path (``vision_tower``, ``resampler``) must be in the checkpoint; language-model and
projector weights may be absent (a vision-stage run) and are not used. Every failure is a
:class:`CheckpointError` of one line that names the file and what was expected.
"""

from __future__ import annotations

import logging
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import AutoTokenizer

from panovlm.config.run_config import load_run_config
from panovlm.hub.check import FolderError, read_model_config
from panovlm.hub.convert import load_config, locate
from panovlm.hub.state import read_lightning_state
from panovlm.models.components import config_from_components
from panovlm.models.configuration_panollava import PanoLLaVaConfig
from panovlm.models.modeling_panollava import PanoLLaVaForConditionalGeneration
from panovlm.models.processing_panollava import image_processor_for
from panovlm.models.tiny import tiny_config

logger = logging.getLogger(__name__)

REQUIRED_PREFIXES: tuple[str, ...] = ("vision_tower.", "resampler.")
_GENERIC_NAMES = {"model", "final", "hf_model"}


class CheckpointError(ValueError):
    """A checkpoint or model folder cannot be used; the message is one line naming the file."""


@dataclass
class LoadedModel:
    """The model (eval mode, on its device), its image processor and where both came from."""

    model: Any  # PanoLLaVaForConditionalGeneration
    image_processor: Any  # PanoramaImageProcessor of the model's own view plan
    name: str
    source: Path
    config_source: str
    not_loaded: list[str] = field(default_factory=list)  # parameters the checkpoint did not hold (unused here)


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def checkpoint_name(path: str | Path) -> str:
    """Output name: ``RUN/vision/checkpoints/last.ckpt`` -> ``RUN_vision_last``, ``RUN/vision/model_final`` ->
    ``RUN_vision``, ``quickstart/model`` -> ``quickstart``, anything else its own name."""
    path = Path(path).resolve()
    parents = [p.name for p in path.parents if p.name]  # nearest first
    if path.parent.name == "checkpoints":
        parts = [*reversed(parents[1:3]), path.stem]
    elif path.name == "model_final":
        parts = list(reversed(parents[:2]))
    elif path.name in _GENERIC_NAMES:
        parts = parents[:1]
    else:
        parts = [path.stem if path.is_file() else path.name]
    return re.sub(r"[^A-Za-z0-9._=+-]+", "_", "_".join(parts)).strip("_") or "model"



def config_from_run_config(path: Path) -> Any:
    """``PanoLLaVaConfig`` of the model block of a run config YAML (no weights are built or loaded)."""
    run = load_run_config(path)
    m = run.model
    if m.preset is not None:
        return tiny_config(test=m.preset == "test", **m.settings)
    source = m.tokenizer_source
    tokenizer = AutoTokenizer.from_pretrained(source) if source is not None else None
    return config_from_components(m.vision, m.language, tokenizer, **m.settings)


def _config_from_path(path: Path) -> Any:
    if not path.exists():
        raise CheckpointError(f"{path}: config not found")
    if path.suffix in (".yaml", ".yml"):
        return config_from_run_config(path)
    config_file = path / "config.json" if path.is_dir() else path
    _check_model_type(config_file)
    return PanoLLaVaConfig.from_pretrained(str(config_file))


def _check_model_type(config_file: Path) -> None:
    try:
        read_model_config(config_file)
    except (OSError, FolderError) as err:
        raise CheckpointError(_one_line(err)) from err


def _lightning_state(path: Path) -> dict[str, torch.Tensor]:
    """The model's tensors of a Lightning checkpoint (``model.`` prefix removed); one-line errors."""
    # torch.save writes a zip archive (a legacy one starts with a pickle's protocol byte): anything else is
    # not a checkpoint at all, which torch.load would report as a refused unpickling.
    with path.open("rb") as handle:
        head = handle.read(2)
    if not zipfile.is_zipfile(path) and not head.startswith(b"\x80"):
        raise CheckpointError(f"{path}: not a PyTorch / Lightning checkpoint (neither the zip archive torch.save "
                              "writes nor a pickle); expected RUN/<stage>/checkpoints/*.ckpt or a model folder")
    try:
        state, _ = read_lightning_state(path)
    except FolderError as err:
        raise CheckpointError(_one_line(err)) from err
    except (ValueError, zipfile.BadZipFile) as err:  # not a zip / pickle at all
        raise CheckpointError(f"{path}: not a PyTorch / Lightning checkpoint ({_one_line(err)})") from err
    if not any(k.startswith(REQUIRED_PREFIXES) for k in state):
        raise CheckpointError(f"{path}: checkpoint of another architecture: no vision_tower.* / resampler.* weights "
                              f"(first keys {sorted(state)[:3]}); expected a PanoVLM training checkpoint")
    return state


def _find_config(path: Path, config: Path | None) -> tuple[Any, str]:
    if config is not None:
        return _config_from_path(config), str(config)
    try:
        config_dir = locate(path).config_dir
        return load_config(config_dir), str(config_dir / "config.json")
    except FolderError as err:
        raise CheckpointError(f"{_one_line(err)}, or a run config YAML (e.g. configs/tiny.yaml)") from err


def _load_weights(model: Any, state: dict[str, torch.Tensor], path: Path) -> list[str]:
    """Copy ``state`` into ``model``; the vision path must match exactly. Returns the parameters not loaded."""
    own = model.state_dict()
    required = [k for k in own if k.startswith(REQUIRED_PREFIXES)]
    missing = [k for k in required if k not in state]
    extra = [k for k in state if k.startswith(REQUIRED_PREFIXES) and k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} vs model {tuple(own[k].shape)}" for k in required
              if k in state and state[k].shape != own[k].shape]
    if missing or extra or shapes:
        detail = "; ".join(part for part in (
            f"{len(missing)} missing (e.g. {missing[0]})" if missing else "",
            f"{len(extra)} unexpected (e.g. {extra[0]})" if extra else "",
            f"{len(shapes)} of another shape (e.g. {shapes[0]})" if shapes else "") if part)
        raise CheckpointError(f"{path}: checkpoint of another architecture than its config: {detail}")
    usable = {k: v for k, v in state.items() if k in own and v.shape == own[k].shape}
    model.load_state_dict(usable, strict=False)
    return sorted(k for k in own if k not in usable)


def resolve_device(device: str) -> torch.device:
    """``auto``: CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    if device not in ("auto", "cuda", "cpu"):
        raise ValueError(f"device must be auto, cuda or cpu, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but no CUDA device is available; use --device cpu or auto")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def load_for_visualization(checkpoint: str | Path, config: str | Path | None = None,
                           device: str = "auto") -> LoadedModel:
    """Load ``checkpoint`` (Lightning ``.ckpt`` or HF model folder) for :class:`~panovlm.evaluation.dino.DinoVisualizer`."""
    path = Path(checkpoint)
    config_path = Path(config) if config is not None else None
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint not found")
    if path.is_dir():
        config_file = path / "config.json"
        if not config_file.is_file():
            raise CheckpointError(f"{path}: not a model folder (no config.json) and not a checkpoint file")
        _check_model_type(config_file)
        if config_path is not None:
            logger.warning("%s is a model folder: its own config.json is used, --config %s is ignored", path,
                           config_path)
        try:
            model = PanoLLaVaForConditionalGeneration.from_pretrained(str(path))
        except (OSError, RuntimeError, ValueError) as err:
            raise CheckpointError(f"{path}: cannot load the model ({_one_line(err)})") from err
        loaded = LoadedModel(model, image_processor_for(model.config), checkpoint_name(path), path, str(config_file))
    else:
        state = _lightning_state(path)
        cfg, source = _find_config(path, config_path)
        model = PanoLLaVaForConditionalGeneration(cfg)
        not_loaded = _load_weights(model, state, path)
        if not_loaded:
            logger.info("%s: %d parameters not in the checkpoint (language model / projector, unused here)",
                        path, len(not_loaded))
        loaded = LoadedModel(model, image_processor_for(cfg), checkpoint_name(path), path, source, not_loaded)
    loaded.model.to(resolve_device(device)).eval()
    return loaded
