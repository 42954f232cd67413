"""Building a config dataclass from a parsed YAML mapping: the one validator for recipes and train configs.

Every key is checked against the dataclass's fields and type hints: unknown keys are errors that list the valid
ones, `true` is not a number, a list is not a string, and every float must be finite (.nan and .inf are refused
everywhere, so no threshold or timeout can silently disable itself). Range checks stay in each dataclass's
`__post_init__`; their ValueError is reported with the key path of the section that raised it.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, Literal

from ccrefine.pipelines.config_files import refuse, show

from ccrefine.errors import UsageError


def build(cls: type, values: Any, where: str, source: str, error: type[UsageError] = UsageError):
    """`cls(**values)` after checking `values` against `cls`; `where` is the key path ("" at the top level) and
    `source` what the file is ("train config x.yaml"). Nested dataclass fields are built the same way."""
    checker = _Checker(source, error)
    return checker.dataclass(cls, {} if values is None and where else values, where)


def check_fields(cls: type, values: Any, where: str, source: str) -> dict:
    """Some of `cls`'s fields (overrides of a preset), checked as `build` checks them; returns them converted."""
    return _Checker(source, UsageError).fields(cls, values, where)


class _Checker:
    def __init__(self, source: str, error: type[UsageError]):
        self.source, self.error = source, error

    def fail(self, where: str, problem: str) -> UsageError:
        return refuse(f"{self.source}: {where + ': ' if where else ''}{problem}", self.error)

    def fields(self, cls: type, values: Any, where: str) -> dict:
        if not isinstance(values, dict):
            raise self.fail(where, f"expected a mapping of options, got {_kind(values)} {show(values)}")
        hints = typing.get_type_hints(cls)
        names = [f.name for f in dataclasses.fields(cls) if f.init]
        unknown = sorted(str(key) for key in values if key not in names)
        if unknown:
            raise self.fail(where, f"unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(names)}")
        return {key: self.value(value, hints[key], _join(where, key)) for key, value in values.items()}

    def dataclass(self, cls: type, values: Any, where: str):
        checked = self.fields(cls, values, where)
        try:
            return cls(**checked)
        except UsageError as exc:
            raise self.fail(where, str(exc).removeprefix(f"{self.source}: ")) from None
        except (ValueError, TypeError) as exc:
            raise self.fail(where, str(exc)) from None

    def value(self, value: Any, hint: Any, where: str) -> Any:
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if dataclasses.is_dataclass(hint):
            return self.dataclass(hint, {} if value is None else value, where)
        if hint is Any:
            return value
        if origin is Literal:
            if isinstance(value, bool) or value not in args:
                raise self.fail(where, f"must be one of {', '.join(map(str, args))}; got {show(value)}")
            return value
        if origin in (typing.Union, types.UnionType):
            return self.union(value, args, where)
        if origin in (list, tuple):
            return self.sequence(value, origin, args, where)
        if origin is dict:
            if not isinstance(value, dict):
                raise self.fail(where, f"expected a mapping, got {_kind(value)} {show(value)}")
            key_hint, value_hint = args or (Any, Any)
            return {self.value(k, key_hint, f"{where} key {show(k)}"): self.value(v, value_hint, _join(where, k))
                    for k, v in value.items()}
        if hint is type(None):
            if value is None:
                return None
            raise self.fail(where, f"expected null, got {show(value)}")
        return self.scalar(value, hint, where)

    def union(self, value: Any, args: tuple, where: str) -> Any:
        if value is None and type(None) in args:
            return None
        options = [arg for arg in args if arg is not type(None)]
        errors = []
        for option in options:
            try:
                return self.value(value, option, where)
            except UsageError as exc:
                errors.append(exc)
        if len(options) == 1:  # X | None: the message of X says more than "not X or null"
            raise errors[0]
        raise self.fail(where, f"expected {' or '.join(_describe(o) for o in options)}; got {show(value)}")

    def sequence(self, value: Any, origin: type, args: tuple, where: str) -> Any:
        if not isinstance(value, list | tuple):
            raise self.fail(where, f"expected a list, got {_kind(value)} {show(value)}; write [{show(value)}]"
                            if isinstance(value, str) else f"expected a list, got {_kind(value)} {show(value)}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise self.fail(where, f"expected a list of {len(args)} values, got {show(value)}")
            items = args
        else:
            items = (args[0] if args else Any,) * len(value)
        checked = [self.value(item, hint, f"{where}[{index}]")
                   for index, (item, hint) in enumerate(zip(value, items, strict=True))]
        return tuple(checked) if origin is tuple else checked

    def scalar(self, value: Any, hint: type, where: str) -> Any:
        if hint in (int, float) and isinstance(value, bool):
            raise self.fail(where, f"expected a number, got {show(value)}")
        if hint is float and isinstance(value, int | float):
            if not math.isfinite(value):
                raise self.fail(where, f"must be a finite number, got {show(value)}; .nan and .inf are not allowed")
            return float(value)
        if hint is int and isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)  # 1.0e6 in YAML is a float
        if not isinstance(value, hint):
            raise self.fail(where, f"expected {_describe(hint)}, got {_kind(value)} {show(value)}")
        return value


def _join(where: str, key: Any) -> str:
    return f"{where}.{key}" if where else str(key)


_DESCRIPTIONS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def _describe(hint: Any) -> str:
    if typing.get_origin(hint) in (list, tuple):
        return "a list"
    if typing.get_origin(hint) is dict:
        return "a mapping"
    return _DESCRIPTIONS.get(hint, getattr(hint, "__name__", str(hint)))


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "the string", bool: "the boolean", type(None): "null"}.get(
        type(value), type(value).__name__)
