"""Remote code for ``trust_remote_code=True``: the package's own modules, flattened at export time.

transformers loads remote code as flat modules in one folder that import each other with
``from .name import ...``. The export therefore collects, from the installed package, every
``panovlm`` module the model, processor and image processor import (top-level and lazy imports,
followed transitively), writes each under a flat name (``panovlm.models.resamplers.mlp`` ->
``resamplers_mlp.py``, ``panovlm.data.image`` -> ``data_image.py``) and rewrites its ``panovlm``
imports to those names. Nothing else in a file changes: the bundle is generated from the one source,
never kept by hand, and a change to the package reaches the next export.

The entry classes are named in ``auto_map`` (config.json, processor_config.json) by
:func:`model_auto_map` / :func:`processor_auto_map`.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from collections.abc import Iterable
from pathlib import Path

PACKAGE = "panovlm"
PROCESSOR_CONFIG = "processor_config.json"
# The one module every auto_map entry names (see entry_source).
ENTRY_MODULE = "auto_map_panollava"
# Where the classes of the auto_map live (the roots of the import walk).
CONFIG_MODULE = "panovlm.models.configuration_panollava"
MODEL_MODULES: dict[str, str] = {
    "PanoLLaVaForConditionalGeneration": "panovlm.models.modeling_panollava",
    "PanoLLaVaForVICReg": "panovlm.models.modeling_heads",
    "PanoLLaVaForFeatureExtraction": "panovlm.models.modeling_heads",
}
PROCESSOR_MODULE = "panovlm.models.processing_panollava"
IMAGE_PROCESSOR_MODULE = "panovlm.data.image"
ENTRY_MODULES: tuple[str, ...] = (CONFIG_MODULE, *dict.fromkeys(MODEL_MODULES.values()), PROCESSOR_MODULE,
                                  IMAGE_PROCESSOR_MODULE)
# Auto classes each model class answers (the generation model is also the image-text-to-text model).
MODEL_AUTO_CLASSES: dict[str, tuple[str, ...]] = {
    "PanoLLaVaForConditionalGeneration": ("AutoModel", "AutoModelForImageTextToText"),
    "PanoLLaVaForVICReg": ("AutoModel",),
    "PanoLLaVaForFeatureExtraction": ("AutoModel",),
}
# What the exported code needs besides the standard library (pip names), declared in the model card.
RUNTIME_REQUIREMENTS: tuple[str, ...] = ("torch", "transformers", "safetensors", "numpy", "opencv-python-headless",
                                         "pillow")
# Third-party top-level modules the bundle may import outside try/except (pip name in RUNTIME_REQUIREMENTS).
_ALLOWED_THIRD_PARTY: frozenset[str] = frozenset({"torch", "transformers", "safetensors", "numpy", "cv2", "PIL"})
_PACKAGE_DIR = Path(__file__).resolve().parents[1]
_FROM_LINE = re.compile(r"^(\s*from\s+)(\.*[\w.]*)(\s+import\b)")


class RemoteCodeError(RuntimeError):
    """The package's modules cannot be turned into a flat remote-code bundle (names the module and line)."""


def flat_name(module: str) -> str:
    """File stem of ``module`` in the bundle: drop ``panovlm.`` and a leading ``models.``, join with ``_``."""
    parts = module.split(".")
    if parts[0] != PACKAGE or len(parts) < 2:
        raise RemoteCodeError(f"{module!r} is not a {PACKAGE} submodule")
    parts = parts[1:]
    if parts[0] == "models" and len(parts) > 1:
        parts = parts[1:]
    return "_".join(parts)


def _source_file(module: str) -> tuple[Path, bool] | None:
    """(file, is_package) of a ``panovlm`` module in this installation, None when there is no such module."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    # Looked up on disk, not with importlib: finding a module must not import it (or its parents).
    base = _PACKAGE_DIR.joinpath(*parts[1:])
    if base.with_suffix(".py").is_file() and len(parts) > 1:
        return base.with_suffix(".py"), False
    if (base / "__init__.py").is_file():
        return base / "__init__.py", True
    return None


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """Absolute module name an ``ImportFrom`` node of ``module`` refers to."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    if node.level - 1 > len(base) - 1:
        raise RemoteCodeError(f"{module}: relative import beyond the package (line {node.lineno})")
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _package_imports(module: str, path: Path, is_package: bool) -> list[tuple[ast.stmt, str]]:
    """Every import statement of ``module`` that names a ``panovlm`` module, with that module's name."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[ast.stmt, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            target = _resolve(module, is_package, node)
            if target == PACKAGE or target.startswith(PACKAGE + "."):
                found.append((node, target))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == PACKAGE or alias.name.startswith(PACKAGE + "."):
                    raise RemoteCodeError(f"{module} line {node.lineno}: 'import {alias.name}' cannot be flattened; "
                                          f"write 'from {alias.name.rsplit('.', 1)[0]} import ...'")
    return found


def collect_modules(entries: Iterable[str] = ENTRY_MODULES) -> dict[str, tuple[Path, bool]]:
    """``{module: (file, is_package)}`` of ``entries`` and every ``panovlm`` module they import, transitively."""
    todo, found = list(entries), {}
    while todo:
        module = todo.pop()
        if module in found:
            continue
        located = _source_file(module)
        if located is None:
            raise RemoteCodeError(f"cannot find the source file of {module!r} (the export needs the .py sources)")
        found[module] = located
        for node, target in _package_imports(module, *located):
            if target == PACKAGE:
                raise RemoteCodeError(f"{module} line {node.lineno}: 'from {PACKAGE} import ...' cannot be flattened")
            for alias in node.names:  # `from pkg import submodule` names a module, not an attribute
                if _source_file(f"{target}.{alias.name}") is not None:
                    raise RemoteCodeError(f"{module} line {node.lineno}: import of submodule {target}.{alias.name} "
                                          "by name cannot be flattened; import from the submodule instead")
            todo.append(target)
    names = [flat_name(m) for m in found]
    if len(set(names)) != len(names):
        raise RemoteCodeError(f"two modules flatten to the same file name: {sorted(names)}")
    return found


def flatten_source(module: str, path: Path, is_package: bool) -> str:
    """The source of ``module`` with each ``panovlm`` import rewritten to ``from .<flat name> import``."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    for node, target in _package_imports(module, path, is_package):
        index = node.lineno - 1
        match = _FROM_LINE.match(lines[index])
        if match is None:
            raise RemoteCodeError(f"{module} line {node.lineno}: 'from ... import' must start on one line")
        lines[index] = f"{match.group(1)}.{flat_name(target)}{match.group(3)}{lines[index][match.end():]}"
    return "".join(lines)


def remote_code_files(entries: Iterable[str] = ENTRY_MODULES) -> dict[str, str]:
    """``{file name: source}`` of the bundle, checked: every import resolves inside it or to a runtime dependency."""
    files = {f"{flat_name(m)}.py": flatten_source(m, *located) for m, located in collect_modules(entries).items()}
    if f"{ENTRY_MODULE}.py" in files:
        raise RemoteCodeError(f"a package module flattens to the entry file name {ENTRY_MODULE}.py")
    files[f"{ENTRY_MODULE}.py"] = entry_source()
    for name, source in files.items():
        _check_bundle_file(name, source, files)
    return files


def _check_bundle_file(name: str, source: str, files: dict[str, str]) -> None:
    # transformers finds the sibling files with this regex (it also matches text inside docstrings) and
    # imports every absolute module outside try blocks before it runs the code; check both here.
    for rel in re.findall(r"^\s*from\s+\.(\S+)\s+import", source, flags=re.MULTILINE):
        if f"{rel}.py" not in files:
            raise RemoteCodeError(f"{name}: relative import '.{rel}' has no file in the bundle")
    for node in _outside_try(ast.parse(source)):
        if isinstance(node, ast.Import):
            tops = [a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            tops = [node.module.split(".")[0]]
        else:
            continue
        for top in tops:
            if top not in _ALLOWED_THIRD_PARTY and not _is_stdlib(top):
                raise RemoteCodeError(f"{name} line {node.lineno}: imports {top!r}, which is not a declared runtime "
                                      f"dependency {list(RUNTIME_REQUIREMENTS)}; import it inside try/except "
                                      "ImportError or add it to RUNTIME_REQUIREMENTS")


def _outside_try(tree: ast.AST) -> Iterable[ast.AST]:
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Try):
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def _is_stdlib(top: str) -> bool:
    return top in sys.stdlib_module_names or top == "__future__"


def _entry_classes() -> dict[str, str]:
    """``{class name: module}`` of every class an ``auto_map`` names."""
    return {"PanoLLaVaConfig": CONFIG_MODULE, **MODEL_MODULES, "PanoLLaVaProcessor": PROCESSOR_MODULE,
            "PanoramaImageProcessor": IMAGE_PROCESSOR_MODULE}


def entry_source() -> str:
    """The generated entry module: it imports every ``auto_map`` class from its flat module.

    transformers puts the code of a local folder in a package named after the hash of the loaded file and
    its relative imports; were the auto_map to name several files, each would get its own package and
    ``geometry`` (``ViewPlan`` ...) would be loaded once per package. One entry file gives one package.
    """
    by_module: dict[str, list[str]] = {}
    for cls, module in _entry_classes().items():
        by_module.setdefault(flat_name(module), []).append(cls)
    imports = "".join(f"from .{module} import {', '.join(sorted(names))}\n" for module, names in by_module.items())
    exported = ", ".join(f'"{name}"' for name in sorted(_entry_classes()))
    return (f'"""Entry point of the remote code (generated by {__name__}): every class the auto_map names."""\n\n'
            f"{imports}\n__all__ = [{exported}]\n")


def model_auto_map(model_class: str) -> dict[str, str]:
    """``auto_map`` of config.json for an export of ``model_class``."""
    if model_class not in MODEL_MODULES:
        raise ValueError(f"model_class must be one of {sorted(MODEL_MODULES)}, got {model_class!r}")
    return {"AutoConfig": f"{ENTRY_MODULE}.PanoLLaVaConfig",
            **{auto: f"{ENTRY_MODULE}.{model_class}" for auto in MODEL_AUTO_CLASSES[model_class]}}


def processor_auto_map() -> dict[str, str]:
    """``auto_map`` of processor_config.json (the processor's own)."""
    return {"AutoProcessor": f"{ENTRY_MODULE}.PanoLLaVaProcessor"}


def image_processor_auto_map() -> dict[str, str]:
    """``auto_map`` of the image processor's section of processor_config.json."""
    return {"AutoImageProcessor": f"{ENTRY_MODULE}.PanoramaImageProcessor"}


def add_processor_auto_map(directory: str | Path) -> Path:
    """Add the processor and image-processor ``auto_map`` entries to ``directory/processor_config.json``."""
    path = Path(directory) / PROCESSOR_CONFIG
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; save the processor (processor.save_pretrained) first")
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data.get("image_processor"), dict):
        raise ValueError(f"{path} has no 'image_processor' section; expected a PanoLLaVaProcessor save")
    data["auto_map"] = {**data.get("auto_map", {}), **processor_auto_map()}
    data["image_processor"]["auto_map"] = {**data["image_processor"].get("auto_map", {}), **image_processor_auto_map()}
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def write_remote_code(directory: str | Path) -> list[Path]:
    """Write the bundle into ``directory`` (created if needed); returns the written files."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, source in remote_code_files().items():
        path = directory / name
        path.write_text(source, encoding="utf-8")
        written.append(path)
    return written


__all__ = [
    "RUNTIME_REQUIREMENTS",
    "add_processor_auto_map",
    "RemoteCodeError",
    "collect_modules",
    "entry_source",
    "flat_name",
    "flatten_source",
    "image_processor_auto_map",
    "model_auto_map",
    "processor_auto_map",
    "remote_code_files",
    "write_remote_code",
]
