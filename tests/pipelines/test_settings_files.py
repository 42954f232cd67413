"""Settings files (pipelines/settings_files.py): defaults, then a YAML file, then the flags the user typed; steps
switched on and off; errors that name the file and key; the resolved settings written back as a --config."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

import pytest
from ccrefine.pipelines.settings_files import given_flags, load_settings, merge_given, settings_yaml

from ccrefine.errors import UsageError


@dataclass(frozen=True)
class Fim:
    rate: float = 0.0
    seed: int = 0

    def __post_init__(self):
        if not 0 <= self.rate <= 1:
            raise ValueError(f"rate must be in [0, 1], got {self.rate}")


@dataclass(frozen=True)
class Sampling:
    documents: int = 100


@dataclass(frozen=True)
class Settings:
    """The shape of a command's settings: plain values, a tuple, a section and a step that can be switched off."""

    dtype: str = "auto"
    val_fraction: float = 0.01
    languages: tuple[str, ...] = ("en",)
    fim: Fim = field(default_factory=Fim)
    sampling: Sampling | None = Sampling()


def write(tmp_path, text: str) -> str:
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    return str(path)


def test_defaults_then_file_then_given_flags(tmp_path):
    path = write(tmp_path, "dtype: uint16\nval_fraction: 0.1\nfim: {rate: 0.5}\nlanguages: [en, zh]\n")
    assert load_settings(Settings, None, {}, "tokenize config") == Settings()
    from_file = load_settings(Settings, path, {}, "tokenize config")
    assert from_file == Settings("uint16", 0.1, ("en", "zh"), Fim(0.5, 0), Sampling())
    given = {"val_fraction": 0.2, "fim": {"seed": 3}}
    assert load_settings(Settings, path, given, "tokenize config") == Settings(
        "uint16", 0.2, ("en", "zh"), Fim(0.5, 3), Sampling())


def test_a_step_switched_off_and_on(tmp_path):
    off = write(tmp_path, "sampling: off\n")
    assert load_settings(Settings, off, {}, "c").sampling is None
    assert load_settings(Settings, off, {"sampling": True}, "c").sampling == Sampling()
    assert load_settings(Settings, off, {"sampling": {"documents": 5}}, "c").sampling == Sampling(5)
    shaped = write(tmp_path, "sampling: {documents: 7}\n")
    assert load_settings(Settings, shaped, {"sampling": True}, "c").sampling == Sampling(7)  # on keeps the file's
    assert load_settings(Settings, shaped, {"sampling": False}, "c").sampling is None
    assert load_settings(Settings, write(tmp_path, "sampling: on\n"), {}, "c").sampling == Sampling()


def test_merge_given_replaces_values_and_merges_sections():
    values = {"dtype": "uint16", "fim": {"rate": 0.5, "seed": 1}, "sampling": False}
    assert merge_given(values, {"fim": {"seed": 2}, "sampling": {"documents": 3}, "dtype": "uint32"}) == {
        "dtype": "uint32", "fim": {"rate": 0.5, "seed": 2}, "sampling": {"documents": 3}}
    assert merge_given(values, {}) == values


def test_given_flags_keep_only_what_was_typed():
    args = argparse.Namespace(fim_rate=0.25, fim_seed=None, dtype="uint16", val_fraction=None)
    keys = {"fim_rate": "fim.rate", "fim_seed": "fim.seed", "dtype": "dtype", "val_fraction": "val_fraction"}
    assert given_flags(args, keys) == {"fim": {"rate": 0.25}, "dtype": "uint16"}


@pytest.mark.parametrize("text, given, message", [
    ("fim: {rate: 2}\n", {}, "tokenize config {path}: fim: rate must be in [0, 1], got 2.0"),
    ("fim: {rte: 0.1}\n", {}, "tokenize config {path}: fim: unknown key(s) rte; valid keys: rate, seed"),
    ("val_fraction: true\n", {}, "tokenize config {path}: val_fraction: expected a number, got True"),
    ("languages: en\n", {}, "tokenize config {path}: languages: expected a list, got the string 'en'; write ['en']"),
    ("[1, 2]\n", {}, "tokenize config {path}: expected a mapping of settings (dtype, val_fraction, languages, fim, "
     "sampling), got list"),
    ("dtype: uint16\n", {"fim": {"rate": -1.0}}, "tokenize config {path} with the flags given: fim: rate must be"),
])
def test_errors_name_the_file_and_the_key(tmp_path, text, given, message):
    path = write(tmp_path, text)
    with pytest.raises(UsageError) as error:
        load_settings(Settings, path, given, "tokenize config")
    assert message.format(path=path) in str(error.value)


def test_a_bad_flag_without_a_file():
    with pytest.raises(UsageError, match="^tokenize config from the flags given: fim: rate must be"):
        load_settings(Settings, None, {"fim": {"rate": 3.0}}, "tokenize config")


def test_an_all_comment_file_is_the_defaults_and_prepare_rewrites_the_file(tmp_path):
    assert load_settings(Settings, write(tmp_path, "# nothing set\n"), {}, "c") == Settings()

    def sampling_preset(values: dict, source: str) -> dict:
        return {**values, "sampling": {"documents": 1000}} if values.pop("preset", None) == "big" else values

    path = write(tmp_path, "preset: big\n")
    assert load_settings(Settings, path, {}, "c", prepare=sampling_preset).sampling == Sampling(1000)


def test_resolved_settings_are_a_config_for_the_same_run(tmp_path):
    settings = Settings("uint32", 0.05, ("zh",), Fim(0.1, 9), None)
    text = settings_yaml(settings, "resolved by a test\nsecond line")
    assert text.startswith("# resolved by a test\n# second line\n") and "sampling: false\n" in text
    assert load_settings(Settings, write(tmp_path, text), {}, "c") == settings
