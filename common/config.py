"""Typed configuration: TOML tables into dataclasses, with errors that name the bad key.

    ValueError
     └── ConfigError   "agent.toml: routers[1].port: expected an integer, got 'abc'"

Each program declares its settings as (possibly nested, possibly ``slots=True``) dataclasses
and calls ``load_config_file(Settings, path)``. Field types understood: ``str``, ``int``
(``true`` is not an integer), ``float`` (integers accepted), ``bool``, ``pathlib.Path`` (from
a string), ``Any``, ``X | None``, ``list[X]``, ``dict[str, X]``, ``Literal[...]`` and nested
dataclasses. Missing keys take the field's default; an optional field without one is
``None``. Unknown keys are refused, with a suggestion when one is close.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

T = TypeVar("T")

_BARE_KEY_RE = re.compile(r"[A-Za-z0-9_-]+")


class ConfigError(ValueError):
    """The configuration is missing, unreadable, or does not fit the settings it is for."""


def load_config_file(cls: type[T], path: str | Path) -> T:
    """Read a TOML file into ``cls``; every problem is a ``ConfigError`` naming the file."""
    try:
        with open(path, "rb") as file:
            data = tomllib.load(file)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc}") from exc
    return load_config(cls, data, source=str(path))


def load_config(cls: type[T], data: Mapping[str, Any], source: str = "config") -> T:
    """Build the dataclass ``cls`` from ``data``; ``source`` starts every error message."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    try:
        return _convert(cls, data, "")
    except _Invalid as exc:
        where = f"{source}: {exc.path}" if exc.path else source
        raise ConfigError(f"{where}: {exc.problem}") from None


class _Invalid(Exception):
    def __init__(self, path: str, problem: str) -> None:
        super().__init__(path, problem)
        self.path = path
        self.problem = problem


def _child(path: str, key: str) -> str:
    name = key if _BARE_KEY_RE.fullmatch(key) else f'"{key}"'
    return f"{path}.{name}" if path else name


_EXPECTED = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    Path: "a path string",
}


def _convert(annotation: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (Union, types.UnionType):
        members = [arg for arg in args if arg is not type(None)]
        if len(members) != 1:
            raise TypeError(f"{path or 'config'}: only 'X | None' unions are supported")
        return None if value is None else _convert(members[0], value, path)
    if origin is Literal:
        if not any(type(value) is type(arg) and value == arg for arg in args):
            allowed = ", ".join(repr(arg) for arg in args)
            raise _Invalid(path, f"expected one of {allowed}, got {value!r}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise _Invalid(path, f"expected a list, got {value!r}")
        return [_convert(args[0], item, f"{path}[{i}]") for i, item in enumerate(value)]
    if origin is dict:
        if args[0] is not str:
            raise TypeError(f"{path or 'config'}: dict keys must be str")
        if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
            raise _Invalid(path, f"expected a table, got {value!r}")
        return {key: _convert(args[1], item, _child(path, key)) for key, item in value.items()}
    if dataclasses.is_dataclass(annotation):
        return _convert_dataclass(annotation, value, path)
    return _convert_scalar(annotation, value, path)


def _convert_scalar(annotation: Any, value: Any, path: str) -> Any:
    if annotation is bool:
        ok = isinstance(value, bool)
    elif annotation is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif annotation is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif annotation is str:
        ok = isinstance(value, str)
    elif annotation is Path:
        ok = isinstance(value, str | Path)
        value = Path(value) if ok else value
    elif annotation is Any:
        ok = True
    else:
        raise TypeError(f"{path or 'config'}: unsupported config type {annotation!r}")
    if not ok:
        raise _Invalid(path, f"expected {_EXPECTED[annotation]}, got {value!r}")
    return value


def _convert_dataclass(cls: type, value: Any, path: str) -> Any:
    if not isinstance(value, Mapping):
        raise _Invalid(path, f"expected a table, got {value!r}")
    hints = typing.get_type_hints(cls)
    fields = {field.name: field for field in dataclasses.fields(cls) if field.init}
    for key in value:
        if key not in fields:
            close = difflib.get_close_matches(str(key), fields, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise _Invalid(path, f"unknown key {key!r}{hint}")
    kwargs = {}
    for name, field in fields.items():
        if name in value:
            kwargs[name] = _convert(hints[name], value[name], _child(path, name))
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            if not _is_optional(hints[name]):
                raise _Invalid(path, f"missing required key {name!r}")
            kwargs[name] = None
    try:
        return cls(**kwargs)
    except ValueError as exc:  # a __post_init__ check, reported at its table
        raise _Invalid(path, str(exc)) from exc


def _is_optional(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    return origin in (Union, types.UnionType) and type(None) in typing.get_args(annotation)
