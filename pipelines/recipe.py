"""Recipes: which stages run, in which order, with which thresholds.

A recipe is YAML (`yaml.safe_load`): a `read` section and a list of `stages`, each a one-key mapping from a
stage name to its options. Every option maps onto a field of the stage's options dataclass in
`transforms/`, whose defaults are the published values; unknown stages or keys, wrong types and values out
of range are errors that name the place and the fix. Presets ship in `pipelines/recipes/`.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from pathlib import Path

import yaml

from transforms.c4_fineweb import C4Options, FineWebOptions
from transforms.crawl import ReadOptions
from transforms.extract import ExtractOptions
from transforms.gopher import QualityOptions, RepetitionOptions
from transforms.language import ALL_LANGUAGES, LanguageOptions
from transforms.line_corrections import LineCorrectionOptions
from transforms.perplexity import PerplexityOptions
from transforms.pii import PiiOptions
from transforms.prefilter_language import PrefilterOptions
from transforms.ptransforms import (
    CorrectLines,
    ExtractText,
    FilterC4,
    FilterFineWeb,
    FilterQuality,
    FilterRepetition,
    FilterUrls,
    IdentifyLanguage,
    RedactPii,
    ScorePerplexity,
    ScoreQualityClassifier,
    SkipOtherLanguages,
)
from transforms.quality_classifier import ClassifierOptions
from transforms.url_filter import UrlFilterOptions

PRESETS_DIR = Path(__file__).parent / "recipes"

# stage name in a recipe -> (options dataclass, PTransform taking those options)
STAGES: dict[str, tuple[type, type]] = {
    "filter_urls": (UrlFilterOptions, FilterUrls),
    "prefilter_language": (PrefilterOptions, SkipOtherLanguages),
    "extract_text": (ExtractOptions, ExtractText),
    "identify_language": (LanguageOptions, IdentifyLanguage),
    "filter_repetition": (RepetitionOptions, FilterRepetition),
    "filter_quality": (QualityOptions, FilterQuality),
    "correct_lines": (LineCorrectionOptions, CorrectLines),
    "redact_pii": (PiiOptions, RedactPii),
    "filter_c4": (C4Options, FilterC4),
    "filter_fineweb": (FineWebOptions, FilterFineWeb),
    "score_perplexity": (PerplexityOptions, ScorePerplexity),
    "classify_quality": (ClassifierOptions, ScoreQualityClassifier),
}


class RecipeError(ValueError):
    """A recipe that cannot run; the message names the place and the fix."""


@dataclass(frozen=True)
class StageSpec:
    name: str
    options: object

    def transform(self):
        return STAGES[self.name][1](self.options)


@dataclass(frozen=True)
class Recipe:
    name: str
    read: ReadOptions
    stages: tuple[StageSpec, ...]

    def resolved(self) -> dict:
        """Every option spelled out, defaults included: what is written next to stats.json."""
        return {
            "name": self.name,
            "read": dataclasses.asdict(self.read),
            "stages": [{s.name: dataclasses.asdict(s.options)} for s in self.stages],
        }


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def load_recipe(name_or_path: str) -> Recipe:
    """A preset by name (`refinedweb`) or a YAML file by path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = PRESETS_DIR / f"{name_or_path}.yaml"
        if not path.exists():
            raise RecipeError(f"no preset recipe {name_or_path!r}; presets: {', '.join(preset_names())}")
    elif not path.exists():
        raise RecipeError(f"recipe file {name_or_path} does not exist")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RecipeError(f"{path}: not valid YAML: {exc}") from None
    return parse_recipe(document, default_name=path.stem)


def parse_recipe(document, default_name: str = "custom") -> Recipe:
    if not isinstance(document, dict):
        raise RecipeError("a recipe is a mapping with the keys name, read and stages")
    _reject_unknown(document, {"name", "read", "stages"}, "recipe")
    read = build_options(ReadOptions, document.get("read") or {}, "read")
    raw_stages = document.get("stages") or []
    if not isinstance(raw_stages, list):
        raise RecipeError("recipe: `stages` must be a list of one-key mappings, e.g. `- extract_text: {}`")
    stages = []
    for index, entry in enumerate(raw_stages):
        if isinstance(entry, str):
            entry = {entry: {}}
        if not isinstance(entry, dict) or len(entry) != 1:
            raise RecipeError(f"stages[{index}]: write each stage as `- name: {{options}}`")
        (name, options), = entry.items()
        if name not in STAGES:
            raise RecipeError(f"stages[{index}]: unknown stage {name!r}; known stages: {', '.join(STAGES)}")
        stages.append(StageSpec(name, build_options(STAGES[name][0], options or {}, f"stages[{index}].{name}")))
    return Recipe(name=str(document.get("name", default_name)), read=read, stages=_with_prefilter_languages(stages))


def _with_prefilter_languages(stages: list[StageSpec]) -> tuple[StageSpec, ...]:
    """prefilter_language runs on pages, before extract_text, and takes the languages and model it leaves unset
    from the identify_language stage (so the two cannot disagree about what to keep)."""
    names = [spec.name for spec in stages]
    language = stages[names.index("identify_language")].options if "identify_language" in names else None
    wanted = set(language.languages) if language and ALL_LANGUAGES not in language.languages else None
    resolved = []
    for index, spec in enumerate(stages):
        if spec.name == "prefilter_language":
            where = f"stages[{index}].prefilter_language"
            if "extract_text" in names[:index]:
                raise RecipeError(f"{where}: it judges pages before extraction; move it above extract_text")
            if language is not None and wanted is None:
                raise RecipeError(f"{where}: identify_language keeps every language, so there is nothing to skip; "
                                  "remove prefilter_language")
            languages = spec.options.languages or (language.languages if language else None)
            if languages is None or (wanted is not None and not wanted <= set(languages)):
                raise RecipeError(f"{where}: it needs every language the recipe keeps; give identify_language "
                                  "its languages and leave `languages` unset here")
            model_path = spec.options.model_path or (language.model_path if language else None)
            spec = StageSpec(spec.name, dataclasses.replace(spec.options, languages=languages, model_path=model_path))
        resolved.append(spec)
    return tuple(resolved)


def build_options(cls: type, values, where: str):
    """An options dataclass from a mapping, with the mapping checked against the dataclass's fields."""
    if not isinstance(values, dict):
        raise RecipeError(f"{where}: options must be a mapping, got {type(values).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    _reject_unknown(values, set(fields), where)
    hints = typing.get_type_hints(cls)
    checked = {key: _check_type(value, hints[key], f"{where}.{key}") for key, value in values.items()}
    try:
        return cls(**checked)
    except (ValueError, TypeError) as exc:
        raise RecipeError(f"{where}: {exc}") from None


def _reject_unknown(values: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise RecipeError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


def _check_type(value, hint, where: str):
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(hint):
            try:
                return _check_type(value, option, where)
            except RecipeError:
                continue
        raise RecipeError(f"{where}: {value!r} is not a {hint}")
    if hint is type(None):
        if value is None:
            return None
        raise RecipeError(f"{where}: expected nothing (null), got {value!r}")
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise RecipeError(f"{where}: expected a list, got {value!r}")
        (item,) = typing.get_args(hint)[:1]
        checked = [_check_type(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(checked) if origin is tuple else checked
    if origin is dict:
        if not isinstance(value, dict):
            raise RecipeError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float) and isinstance(value, bool):
        raise RecipeError(f"{where}: expected a number, got {value!r}")
    if isinstance(hint, type) and not isinstance(value, hint):
        raise RecipeError(f"{where}: expected {hint.__name__}, got {type(value).__name__} {value!r}")
    return value
