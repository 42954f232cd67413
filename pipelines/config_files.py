"""Reading the YAML and JSON files a user or an earlier run hands to ccrefine (recipes, train configs, manifests,
stats.json): any bad file is one `UsageError` line that names the file, the place in it and the fix.

YAML goes through PyYAML's SafeLoader (no Python tags), composed to a node graph that is checked before anything
is built from it: only the plain YAML tags, no key twice in one mapping, nesting at most MAX_DEPTH deep, and aliases
that expand the document to at most MAX_NODES nodes. Aliases share one object, so a bomb of a few hundred bytes
costs nothing until some code walks, copies or prints the value; then it is gigabytes, which is why the expanded
size is what is bounded.
"""

from __future__ import annotations

import json
import reprlib
from pathlib import Path
from typing import Any

import yaml

from ccrefine.errors import UsageError

MAX_YAML_BYTES = 1 << 20  # configs and recipes are a few kilobytes
MAX_JSON_BYTES = 1 << 28  # a manifest lists every shard: thousands of short records
MAX_NODES = 100_000  # after alias expansion
MAX_DEPTH = 64
MAX_MESSAGE_CHARS = 600
PLAIN_TAGS = {f"tag:yaml.org,2002:{name}"
              for name in ("null", "bool", "int", "float", "str", "seq", "map", "merge", "timestamp")}

_shown = reprlib.Repr()  # keyword arguments need Python 3.12
_shown.maxlevel, _shown.maxdict, _shown.maxlist, _shown.maxtuple, _shown.maxstring, _shown.maxother = 2, 4, 4, 4, 60, 60


def show(value: Any) -> str:
    """A value for an error message: bounded in size whatever the value (reprlib also stops at cycles)."""
    return _shown.repr(value)


def clip(message: str) -> str:
    """One line of bounded length."""
    line = " ".join(message.split())
    return line if len(line) <= MAX_MESSAGE_CHARS else line[:MAX_MESSAGE_CHARS - 3] + "..."


def refuse(message: str, error: type[UsageError] = UsageError) -> UsageError:
    return error(clip(message))


def read_bytes(path: str | Path, what: str, limit: int, fix: str = "check the path") -> bytes:
    """The bytes of a local regular file; a missing, unreadable, special, oversized or empty file is refused
    (`fix` ends the message for a missing file or a folder)."""
    path = Path(path)
    try:
        if path.is_dir():
            raise refuse(f"{what} {path} is a folder; give the path of the file itself ({fix})")
        if not path.is_file():
            raise refuse(f"{what} {path} does not exist; {fix}" if not path.exists()
                         else f"{what} {path} is not a regular file; give the path of a file")
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except PermissionError:
        raise refuse(f"{what} {path} cannot be read (permission denied); fix its permissions") from None
    except OSError as exc:
        raise refuse(f"{what} {path} cannot be read ({exc.strerror or exc}); check the path") from None
    if len(data) > limit:
        raise refuse(f"{what} {path} is larger than {limit >> 20} MiB; is it the right file?")
    if not data.strip():
        raise refuse(f"{what} {path} is empty; write the file, or point at the right one")
    return data


def decode(data: bytes | str, source: str) -> str:
    if isinstance(data, str):
        return data
    if b"\0" in data:
        raise refuse(f"{source} is a binary file, not text; point at the right file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise refuse(f"{source} is not UTF-8 text (undecodable byte at offset {exc.start}); save it as UTF-8") from None


class _Refused(yaml.composer.ComposerError):
    """Valid YAML that a config file may not contain."""

    def __init__(self, problem: str, mark):
        super().__init__(None, None, problem, mark)


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader whose composer refuses nesting deeper than MAX_DEPTH (deep nesting would exhaust the stack)."""

    depth = 0

    def compose_node(self, parent, index):
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise _Refused(f"nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [item for pair in node.value for item in pair]
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _check_graph(root: yaml.Node) -> None:
    """Plain tags only; the document expanded (every alias counted as a copy) has at most MAX_NODES nodes and
    no cycle. Iterative, since a chain of aliases can be deeper than the stack."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()  # the current path from the root
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            open_nodes.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(node))
            if sizes[key] > MAX_NODES:
                raise _Refused(f"aliases (*name) expand the document beyond {MAX_NODES:,} values; write the values "
                               "out instead of nesting aliases", node.start_mark)
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            raise _Refused("an alias refers to a value that contains it; remove the alias", node.start_mark)
        if node.tag not in PLAIN_TAGS:
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            raise _Refused(f"the tag {show(tag)} is not allowed; write plain values (mappings, lists, strings, "
                           "numbers, booleans)", node.start_mark)
        if isinstance(node, yaml.MappingNode):
            _refuse_repeated_keys(node)
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)


def _refuse_repeated_keys(node: yaml.MappingNode) -> None:
    """PyYAML keeps the last of two equal keys: a section written twice would silently lose the first."""
    seen = set()
    for key, _ in node.value:
        if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
            if key.value in seen:
                raise _Refused(f"the key {show(key.value)} appears twice in one mapping; keep one", key.start_mark)
            seen.add(key.value)


def parse_yaml(data: bytes | str, source: str) -> Any:
    """One YAML document from text or bytes, bounded as the module says; `source` names it in messages."""
    text = decode(data, source)
    loader = None
    try:
        loader = _BoundedLoader(text)
        node = loader.get_single_node()
        if node is None:
            return None
        _check_graph(node)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        if isinstance(exc, _Refused):
            raise refuse(f"{source}{where}: {problem}") from None
        raise refuse(f"{source}{where}: not valid YAML: {problem}; fix the syntax there") from None
    except yaml.YAMLError as exc:  # the reader: control characters
        problem = str(exc).split("\n")[0]
        raise refuse(f"{source}: not valid YAML: {problem}; remove the control characters") from None
    except ValueError as exc:  # the constructor's int() and date(): 5000-digit numbers, 2024-13-45
        problem = str(exc).split(";")[0]
        raise refuse(f"{source}: a value cannot be read ({problem}); quote it, or write a valid value") from None
    finally:
        if loader is not None:
            loader.dispose()


def parse_json(data: bytes | str, source: str) -> Any:
    text = decode(data, source)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise refuse(f"{source}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}; "
                     "was it truncated or edited by hand?") from None
    except RecursionError:
        raise refuse(f"{source}: nested too deeply to be a ccrefine file; point at the right file") from None
    except ValueError as exc:  # int() of a number with thousands of digits
        raise refuse(f"{source}: a value cannot be read ({exc})") from None


def read_yaml(path: str | Path, what: str) -> Any:
    """The YAML document in a local file; `what` names the file's role ("recipe", "train config")."""
    return parse_yaml(read_bytes(path, what, MAX_YAML_BYTES), f"{what} {path}")


def read_json(path: str | Path, what: str, fix: str = "check the path") -> Any:
    return parse_json(read_bytes(path, what, MAX_JSON_BYTES, fix), f"{what} {path}")


def require_mapping(document: Any, source: str, keys: dict[str, type | tuple[type, ...]], fix: str) -> dict:
    """`document` as a mapping holding at least `keys`, each of the given type(s); else one message with `fix`."""
    if not isinstance(document, dict):
        raise refuse(f"{source}: expected a mapping, got {type(document).__name__}; {fix}")
    for key, kinds in keys.items():
        if key not in document:
            raise refuse(f"{source}: the key {key!r} is missing; {fix}")
        value = document[key]
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in _as_tuple(kinds)):
            raise refuse(f"{source}: {key} is {show(value)}, expected {_names(kinds)}; {fix}")
    return document


def _as_tuple(kinds: type | tuple[type, ...]) -> tuple[type, ...]:
    return kinds if isinstance(kinds, tuple) else (kinds,)


def _names(kinds: type | tuple[type, ...]) -> str:
    return " or ".join(kind.__name__ for kind in _as_tuple(kinds))


MANIFEST_FIX = "point at the manifest.json `ccrefine tokenize` wrote, or re-run it into a new folder"
MANIFEST_KEYS = {"dtype": str, "eod_id": int, "tokenizer": dict, "sources": dict, "shards": list}
SHARD_KEYS = {"path": str, "source": str, "split": str, "documents": int, "tokens": int}


def read_token_manifest(path: str | Path, what: str = "manifest") -> dict:
    """A token-shard manifest with every key the readers use, of the right type (its shards are checked against
    the files by trainer.data.load_manifest and transforms.tokens.shards.verify_manifest)."""
    from ccrefine.transforms.tokens.shards import (
        MANIFEST_FORMAT,  # here: only manifest readers need the tokenizer's imports
    )

    source = f"{what} {path}"
    manifest = require_mapping(read_json(path, what, MANIFEST_FIX), source, {"format": str}, MANIFEST_FIX)
    if manifest["format"] != MANIFEST_FORMAT:
        raise refuse(f"{source} is not a token shard manifest (format {show(manifest['format'])}); {MANIFEST_FIX}")
    require_mapping(manifest, source, MANIFEST_KEYS, MANIFEST_FIX)
    for index, shard in enumerate(manifest["shards"]):
        require_mapping(shard, f"{source}: shards[{index}]", SHARD_KEYS, MANIFEST_FIX)
    return manifest
