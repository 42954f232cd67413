"""A command's settings from a YAML file with the flags the user typed on top: `ccrefine dedup --config x.yaml`.

The settings are one dataclass (its fields and defaults are the keys a file may hold). Resolution, lowest first:
the dataclass's defaults, the file (read by `config_files.read_yaml`: safe and bounded), then the flags the user
gave explicitly (flags left at their default never override the file). `config_schema.build` validates the file
alone first, so its mistakes name the file and key, then the merged values, so a bad flag is reported too.

A section whose type is `SomeOptions | None` is a step that can be switched off: `step: off` (or `false`) switches
it off, `step: on` (or `true`) runs it with its defaults, a mapping runs it with those options. The resolved
settings are written back as YAML (`settings_yaml`) with every option spelled out, so a run can be repeated with
`--config` on the file it wrote.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar

import yaml
from ccrefine.pipelines.config_files import read_yaml, refuse
from ccrefine.pipelines.config_schema import build

Settings = TypeVar("Settings")


def load_settings(cls: type[Settings], path: str | None, given: dict, what: str,
                  prepare: Callable[[dict, str], dict] | None = None) -> Settings:
    """`cls` from the YAML file at `path` (None: no file) with `given` on top. `given` holds only what the user
    typed, as nested settings keys (`{"minhash": {"bands": 20}}`, `{"minhash": False}` for a step switched off);
    `what` names the file in messages ("dedup config"); `prepare(values, source)` rewrites the file's mapping
    before it is checked (e.g. a preset name into the fields it stands for)."""
    values: dict = {}
    source = f"{what} from the flags given" if given else what
    if path is not None:
        source = f"{what} {path}"
        values = read_settings_file(cls, path, what)
        if prepare is not None:
            values = prepare(values, source)
        if given:
            build(cls, switch_sections(cls, values), "", source)  # the file alone: its mistakes name the file
            source = f"{source} with the flags given"
    return build(cls, switch_sections(cls, merge_given(values, given)), "", source)


def read_settings_file(cls: type, path: str, what: str) -> dict:
    """The file's mapping; an empty (all-comments) file is the defaults, anything but a mapping is refused."""
    document = read_yaml(path, what)
    if document is None:
        return {}
    if not isinstance(document, dict):
        keys = ", ".join(field.name for field in dataclasses.fields(cls) if field.init)
        raise refuse(f"{what} {path}: expected a mapping of settings ({keys}), got {type(document).__name__}; "
                     "write one `key: value` line per setting")
    return document


def merge_given(values: Any, given: Any) -> Any:
    """`given` over `values`, mapping by mapping; `True` for a section keeps the file's options (or its defaults)."""
    if isinstance(given, dict):
        base = values if isinstance(values, dict) else {}
        return {**base, **{key: merge_given(base.get(key), value) for key, value in given.items()}}
    if given is True and isinstance(values, dict):
        return values
    return given


def switch_sections(cls: type, values: Any) -> Any:
    """`values` with `off`/`on` (YAML booleans) of switchable sections turned into None / {} for `build`."""
    if not isinstance(values, dict):
        return values
    hints = typing.get_type_hints(cls)
    switched = {}
    for key, value in values.items():
        section = _section_type(hints.get(key))
        if section is not None and isinstance(value, bool) and _optional(hints[key]):
            value = {} if value else None
        elif section is not None:
            value = switch_sections(section, value)
        switched[key] = value
    return switched


def settings_document(settings: Any) -> dict:
    """Every field of `settings` as plain YAML values; a section switched off is written `false`."""
    hints = typing.get_type_hints(type(settings))
    document = {}
    for field in dataclasses.fields(settings):
        if not field.init:
            continue
        value = getattr(settings, field.name)
        if dataclasses.is_dataclass(value):
            value = settings_document(value)
        elif value is None and _section_type(hints[field.name]) is not None:
            value = False
        elif isinstance(value, tuple):
            value = list(value)
        document[field.name] = value
    return document


def settings_yaml(settings: Any, header: str) -> str:
    """The resolved settings as a YAML file a later run can read with --config; `header` becomes its comment."""
    comment = "".join(f"# {line}\n" for line in header.splitlines())
    return comment + yaml.safe_dump(settings_document(settings), sort_keys=False, allow_unicode=True)


def _section_type(hint: Any) -> type | None:
    """The dataclass of a field typed `SomeOptions` or `SomeOptions | None`, else None."""
    if dataclasses.is_dataclass(hint):
        return hint
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        sections = [arg for arg in typing.get_args(hint) if dataclasses.is_dataclass(arg)]
        return sections[0] if len(sections) == 1 else None
    return None


def _optional(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint)


def given_flags(args: Any, keys: dict[str, str]) -> dict:
    """The flags the user typed, as nested settings keys: `keys` maps a flag's argparse dest to its dotted key
    (`{"cc_rounds": "minhash.max_cc_rounds"}`). A flag counts as typed when it is not None, so give those flags
    `default=None` and leave the defaults to the settings dataclass."""
    given: dict = {}
    for dest, dotted in keys.items():
        value = getattr(args, dest)
        if value is None:
            continue
        *sections, leaf = dotted.split(".")
        target = given
        for section in sections:
            target = target.setdefault(section, {})
        target[leaf] = value
    return given
