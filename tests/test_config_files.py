"""Reading YAML and JSON files: every bad file is one bounded UsageError line naming the file, the place and the fix;
alias bombs, deep nesting and Python tags are refused before any value is built from them."""

from __future__ import annotations

import json
import os

import pytest
from ccrefine.pipelines.config_files import (
    MAX_MESSAGE_CHARS,
    MAX_NODES,
    parse_yaml,
    read_json,
    read_token_manifest,
    read_yaml,
)

from ccrefine.errors import UsageError


def alias_bomb(levels: int, width: int = 9) -> str:
    """The billion-laughs shape: each level is a list of `width` aliases to the level below."""
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + f"\nname: *l{levels}\n"


def refused(call, *args) -> str:
    with pytest.raises(UsageError) as error:
        call(*args)
    message = str(error.value)
    assert "\n" not in message and len(message) <= MAX_MESSAGE_CHARS
    return message


@pytest.mark.parametrize("levels", [6, 9, 12])
def test_alias_bombs_are_refused_before_expansion(levels):
    assert f"expand the document beyond {MAX_NODES:,} values" in refused(parse_yaml, alias_bomb(levels), "recipe r")


def test_a_few_aliases_and_merge_keys_still_work():
    document = parse_yaml("base: &b {threshold: 0.5}\nstage: {<<: *b, top_k: 2}\nagain: *b\n", "recipe r")
    assert document["stage"] == {"threshold": 0.5, "top_k": 2} and document["again"] == {"threshold": 0.5}


@pytest.mark.parametrize(("text", "message"), [
    ("name: !!python/object/apply:os.system ['true']\n", "line 1, column 7: the tag '!!python/object/apply:os.system'"
     " is not allowed"),
    ("name: !custom x\n", "the tag '!custom' is not allowed"),
    ("data: !!binary aGk=\n", "the tag '!!binary' is not allowed"),
    ("a: &a [*a]\n", "an alias refers to a value that contains it"),
    ("a: *nowhere\n", "not valid YAML: found undefined alias 'nowhere'"),
    ("a: " + "[" * 500 + "]" * 500, "nested deeper than 64 levels"),
    ("a:\n\t- b\n", "line 2, column 1: not valid YAML: while scanning for the next token found character '\\t'"),
    ("a: \x07\n", "not valid YAML: unacceptable character #x0007"),
    ("a: 1\n---\nb: 2\n", "expected a single document in the stream"),
    ("train: {steps: 5}\ntrain: {steps: 6}\n", "line 2, column 1: the key 'train' appears twice in one mapping"),
    ("n: " + "9" * 5000, "a value cannot be read (Exceeds the limit (4300 digits)"),
    ("d: 2024-13-45\n", "a value cannot be read (month must be in 1..12)"),
    ("a: [1, 2\n", "not valid YAML"),
])
def test_bad_yaml_is_one_line_with_the_place(text, message):
    assert message in refused(parse_yaml, text, "recipe r.yaml")


def test_files_that_are_not_config_text(tmp_path):
    binary, latin1, empty = tmp_path / "b.yaml", tmp_path / "l.yaml", tmp_path / "e.yaml"
    binary.write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00")
    latin1.write_bytes("name: caf\xe9\n".encode("latin-1"))
    empty.write_text("  \n")
    assert "is a binary file, not text" in refused(read_yaml, binary, "recipe")
    assert "is not UTF-8 text (undecodable byte at offset 9); save it as UTF-8" in refused(read_yaml, latin1, "recipe")
    assert "is empty" in refused(read_yaml, empty, "recipe")
    assert "is a folder; give the path of the file itself" in refused(read_yaml, tmp_path, "recipe")
    assert "does not exist; check the path" in refused(read_yaml, tmp_path / "missing.yaml", "recipe")
    assert "is not a regular file" in refused(read_yaml, "/dev/null", "recipe")
    if os.geteuid() != 0:  # root reads anything
        locked = tmp_path / "locked.yaml"
        locked.write_text("a: 1\n")
        locked.chmod(0)
        assert "permission denied" in refused(read_yaml, locked, "recipe")


def test_bad_json_and_thin_manifests(tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text('{"format": "ccrefine-token-shards", "shards": [')
    assert "not valid JSON at line 1, column" in refused(read_json, path, "manifest")
    path.write_text(json.dumps({"format": "ccrefine-token-shards"}))
    assert "the key 'dtype' is missing; point at the manifest.json" in refused(read_token_manifest, path)
    path.write_text(json.dumps({"format": "something-else"}))
    assert "is not a token shard manifest (format 'something-else')" in refused(read_token_manifest, path)
    path.write_text(json.dumps({"format": "ccrefine-token-shards", "dtype": "uint16", "eod_id": 1, "tokenizer": {},
                                "sources": {}, "shards": [{"path": "a.bin", "source": "s", "split": "train",
                                                           "documents": True, "tokens": 3}]}))
    assert "shards[0]: documents is True, expected int" in refused(read_token_manifest, path)
    path.write_text("[" * 100_000 + "]" * 100_000)
    assert "nested too deeply" in refused(read_json, path, "stats")
