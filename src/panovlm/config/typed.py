"""Typed, validated construction of frozen config dataclasses from plain dicts (YAML, ``--set``).

Generic: knows dataclasses, ``Literal``, unions, tuples and scalars. Every error names the dotted
key, the bad value and what is allowed; an unknown key lists the valid ones.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

# A class whose dicts need a builder of their own (e.g. free keys checked elsewhere): cls -> build(data, prefix).
Builders = Mapping[type, Callable[[Mapping[str, Any], str], Any]]


class ConfigError(ValueError):
    """A config value is invalid; the message names the key, the value and what is allowed."""

    def __init__(self, key: str, value: object, allowed: str) -> None:
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"config key {key!r}: got {value!r}, expected {allowed}")


def check(ok: bool, key: str, value: object, allowed: str) -> None:
    if not ok:
        raise ConfigError(key, value, allowed)


def _describe(tp: Any) -> str:
    if get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if get_origin(tp) in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in get_args(tp))
    if tp is type(None):
        return "null"
    if get_origin(tp) is tuple:
        return "a list of " + ", ".join(_describe(a) for a in get_args(tp) if a is not Ellipsis)
    return getattr(tp, "__name__", str(tp))


def coerce(value: Any, tp: Any, key: str, base: Any = None, builders: Builders | None = None) -> Any:
    """``value`` checked (and converted where YAML is loose) against the annotation ``tp``."""
    origin, args = get_origin(tp), get_args(tp)
    if dataclasses.is_dataclass(tp):
        check(isinstance(value, Mapping), key, value, f"a mapping with keys {[f.name for f in dataclasses.fields(tp)]}")
        return from_dict(tp, value, key, base, builders)
    if origin in (Union, types.UnionType):
        for arg in args:
            try:
                return coerce(value, arg, key, builders=builders)
            except ConfigError:
                continue
        raise ConfigError(key, value, _describe(tp))
    if origin is Literal:
        check(value in args, key, value, _describe(tp))
        return value
    if origin is tuple:
        check(isinstance(value, (list, tuple)), key, value, _describe(tp))
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(coerce(v, args[0], key, builders=builders) for v in value)
        check(len(value) == len(args), key, value, f"{len(args)} values")
        return tuple(coerce(v, a, key, builders=builders) for v, a in zip(value, args, strict=True))
    if tp is type(None):
        check(value is None, key, value, "null")
        return None
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads "5e-6" (no dot) as a string
            value = _float_or_none(value) if _float_or_none(value) is not None else value
        check(isinstance(value, (int, float)) and not isinstance(value, bool), key, value, "a number")
        return float(value)
    if tp is int:
        check(isinstance(value, int) and not isinstance(value, bool), key, value, "an integer")
        return value
    if tp is str and isinstance(value, Path):
        return str(value)
    check(isinstance(value, tp), key, value, _describe(tp))
    return value


def _float_or_none(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def from_dict(cls: type, data: Mapping[str, Any], prefix: str, base: Any = None, builders: Builders | None = None) -> Any:
    """Build ``cls`` from ``base`` (default: ``cls()``) with the keys of ``data`` replaced, validated."""
    if builders and cls in builders:
        return builders[cls](data, prefix)
    base = cls() if base is None else base
    hints = get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if key not in names:
            raise ConfigError(dotted, value, f"a known key; valid keys here: {names}")
        kwargs[key] = coerce(value, hints[key], dotted, getattr(base, key), builders)
    try:
        return dataclasses.replace(base, **kwargs)
    except ConfigError as err:
        if prefix and not err.key.startswith(prefix):
            raise ConfigError(f"{prefix}.{err.key}", err.value, err.allowed) from None
        raise
