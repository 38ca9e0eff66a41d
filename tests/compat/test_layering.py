"""The compat package sits at the edge: no core module imports it or the seed paths that re-export it."""

from __future__ import annotations

import ast
from pathlib import Path

import panovlm

PACKAGE_DIR = Path(panovlm.__file__).resolve().parent
# The seed's import paths: modules that only re-export from panovlm.compat.
SHIMS: frozenset[str] = frozenset({
    "panovlm.models.model",
    "panovlm.config.config_manager",
    "panovlm.data.anyres_integration",
    "panovlm.losses.vicreg_overlap",
    "panovlm.processors",
    "panovlm.processors.anyres_e2p",
})
COMPAT = "panovlm.compat"


def _module_name(path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return ".".join(parts), is_package


def _imported(module: str, is_package: bool, node: ast.AST) -> list[str]:
    """Absolute names an import statement may load (``from a import b`` may load ``a.b``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    return [target, *(f"{target}.{alias.name}" for alias in node.names)]


def _is_edge(name: str) -> bool:
    return name == COMPAT or name.startswith(COMPAT + ".") or name in SHIMS


def core_imports_of_the_edge() -> list[str]:
    """``module:line imports name`` for every core module that imports panovlm.compat or a seed shim."""
    found = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        module, is_package = _module_name(path)
        if _is_edge(module):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            edge = [name for name in _imported(module, is_package, node) if _is_edge(name)]
            if edge:
                found.append(f"{module}:{node.lineno} imports {edge[0]}")
    return found


def test_no_core_module_imports_compat_or_a_shim():
    offending = core_imports_of_the_edge()
    assert not offending, "core modules import the seed-compatibility layer:\n" + "\n".join(offending)


def test_shims_only_re_export_from_compat():
    for module in sorted(SHIMS):
        path = PACKAGE_DIR.parent.joinpath(*module.split("."))
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        tree = ast.parse(path.read_text(encoding="utf-8"))
        body = [n for n in tree.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
        imports = [n for n in body if isinstance(n, ast.ImportFrom)]
        assert imports and all(n.module.startswith(COMPAT) for n in imports), module
        assert all(isinstance(n, ast.ImportFrom | ast.Assign) for n in body), module  # imports and __all__ only


def test_the_check_names_module_and_line(tmp_path, monkeypatch):
    fake = tmp_path / "panovlm"
    (fake / "models").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "models" / "__init__.py").write_text("")
    (fake / "models" / "bad.py").write_text('"""x"""\n\nfrom .model import PanoramaVLM\n')
    monkeypatch.setattr(f"{__name__}.PACKAGE_DIR", fake)
    (fake / "models" / "lazy.py").write_text("def f():\n    from panovlm import compat\n")
    assert core_imports_of_the_edge() == ["panovlm.models.bad:3 imports panovlm.models.model",
                                          "panovlm.models.lazy:2 imports panovlm.compat"]
