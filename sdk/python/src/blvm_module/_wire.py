"""Checked conversion of wire maps into dataclasses.

Every structured value on the wire is a map with named fields (protocol section 4). Decoding
through the dataclass's own type hints keeps one source of truth for field names and types:
missing or mistyped fields are a WireError instead of an AttributeError deep in a handler, and
unknown keys are ignored as the protocol requires.
"""
from __future__ import annotations

import dataclasses
import sys
from typing import Any, Dict, List, Mapping, Optional, Type, TypeVar, Union, get_args, get_origin, get_type_hints

T = TypeVar("T")


class WireError(ValueError):
    """A wire map lacks a field or holds a value of the wrong type."""


_HINTS: Dict[type, Dict[str, Any]] = {}


def _hints(cls: type) -> Dict[str, Any]:
    """The resolved type hints of ``cls`` (cached: resolving them is slow)."""
    hints = _HINTS.get(cls)
    if hints is None:
        module = sys.modules[cls.__module__]
        hints = get_type_hints(cls, vars(module))
        _HINTS[cls] = hints
    return hints


def _convert(value: Any, hint: Any, where: str) -> Any:
    """``value`` checked (and, for nested maps, converted) against ``hint``."""
    origin = get_origin(hint)
    if origin is Union:
        args = get_args(hint)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(value, inner[0], where)
    if origin in (list, List):
        if not isinstance(value, list):
            raise WireError(f"{where}: expected an array, got {type(value).__name__}")
        (item,) = get_args(hint)
        return [_convert(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if hint is Any:
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise WireError(f"{where}: expected a bool, got {type(value).__name__}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise WireError(f"{where}: expected an integer, got {type(value).__name__}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise WireError(f"{where}: expected a number, got {type(value).__name__}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise WireError(f"{where}: expected a string, got {type(value).__name__}")
        return value
    if hint is bytes:
        if not isinstance(value, (bytes, bytearray)):
            raise WireError(f"{where}: expected bin, got {type(value).__name__}")
        return bytes(value)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return from_wire(hint, value, where)
    raise TypeError(f"{where}: unsupported field type {hint!r}")


def from_wire(cls: Type[T], data: Any, where: Optional[str] = None) -> T:
    """An instance of dataclass ``cls`` from the wire map ``data``.

    Optional fields may be absent (absent means nil); unknown keys are ignored.
    """
    where = where or cls.__name__
    if not isinstance(data, Mapping):
        raise WireError(f"{where}: expected a map, got {type(data).__name__}")
    hints = _hints(cls)
    kwargs: Dict[str, Any] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        hint = hints[field.name]
        if field.name in data:
            kwargs[field.name] = _convert(data[field.name], hint, f"{where}.{field.name}")
        elif get_origin(hint) is Union and type(None) in get_args(hint):
            kwargs[field.name] = None
        else:
            raise WireError(f"{where}: missing field {field.name!r}")
    return cls(**kwargs)


def to_wire(obj: Any) -> Dict[str, Any]:
    """The wire map of a dataclass instance (field names as keys, nested dataclasses as maps)."""
    return dataclasses.asdict(obj)
