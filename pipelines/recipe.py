"""Recipes: which stages run, in which order, with which thresholds.

A recipe is YAML (read by `pipelines.config_files`: safe, bounded): a `read` section and a list of `stages`, each a
one-key mapping from a stage name to its options. Every option maps onto a field of the stage's options dataclass
in `transforms/`, whose defaults are the published values; `pipelines.config_schema` checks them (unknown stages or
keys, wrong types, non-finite numbers and values out of range are errors that name the place and the fix). A new
stage is one entry in STAGES. Presets ship in `pipelines/recipes/`.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from ccrefine.pipelines.config_files import read_yaml, refuse, show
from ccrefine.pipelines.config_schema import build
from ccrefine.transforms.filters.c4_fineweb import C4Options, FineWebOptions
from ccrefine.transforms.filters.chinese_script import ChineseScriptOptions
from ccrefine.transforms.filters.gopher import QualityOptions, RepetitionOptions
from ccrefine.transforms.filters.language import ALL_LANGUAGES, LanguageOptions
from ccrefine.transforms.filters.line_corrections import LineCorrectionOptions
from ccrefine.transforms.filters.perplexity import PerplexityOptions
from ccrefine.transforms.filters.pii import PiiOptions
from ccrefine.transforms.filters.prefilter_language import PrefilterOptions
from ccrefine.transforms.filters.quality_classifier import ClassifierOptions
from ccrefine.transforms.filters.spam import SpamOptions
from ccrefine.transforms.filters.url_filter import UrlFilterOptions
from ccrefine.transforms.ptransforms import (
    ConvertChinese,
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
    ScoreSpam,
    SkipOtherLanguages,
)
from ccrefine.transforms.read.crawl import ReadOptions
from ccrefine.transforms.read.extract import ExtractOptions

from ccrefine.errors import UsageError

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
    "score_spam": (SpamOptions, ScoreSpam),
    "convert_chinese": (ChineseScriptOptions, ConvertChinese),
}

# option fields that name files, checked when the recipe is loaded (see _check_named_files)
FILE_FIELD_SUFFIXES = ("_file", "_path")
FILE_FIELDS = ("blocklists", "models")


class RecipeError(UsageError):
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
    if not path.suffix and "/" not in name_or_path and not path.exists():
        path = PRESETS_DIR / f"{name_or_path}.yaml"
        if not path.exists():
            raise RecipeError(f"no preset recipe {show(name_or_path)}; presets: {', '.join(preset_names())}, "
                              "or give the path of a YAML file")
    try:
        document = read_yaml(path, "recipe")
    except UsageError as exc:
        raise RecipeError(str(exc)) from None
    return parse_recipe(document, default_name=path.stem, source=f"recipe {path}")


def parse_recipe(document, default_name: str = "custom", source: str = "recipe") -> Recipe:
    """A Recipe from a parsed YAML document; every file it names is checked to exist and be readable."""
    if not isinstance(document, dict):
        raise refuse(f"{source}: a recipe is a mapping with the keys name, read and stages; got "
                     f"{type(document).__name__}", RecipeError)
    unknown = sorted(str(key) for key in document if key not in ("name", "read", "stages"))
    if unknown:
        raise refuse(f"{source}: unknown key(s) {', '.join(unknown)}; allowed: name, read, stages", RecipeError)
    name = document.get("name", default_name)
    if not isinstance(name, str) or not name.strip():
        raise refuse(f"{source}: name must be a non-empty string, got {show(name)}", RecipeError)
    read = build(ReadOptions, document.get("read"), "read", source, RecipeError)  # null: the defaults
    raw_stages = document.get("stages")
    if raw_stages is None:  # `stages:` with nothing under it
        raw_stages = []
    if not isinstance(raw_stages, list):
        raise refuse(f"{source}: `stages` must be a list of one-key mappings, e.g. `- extract_text: {{}}`", RecipeError)
    stages = []
    for index, entry in enumerate(raw_stages):
        if isinstance(entry, str):
            entry = {entry: {}}
        if not isinstance(entry, dict) or len(entry) != 1:
            raise refuse(f"{source}: stages[{index}]: write each stage as `- name: {{options}}`, got {show(entry)}",
                         RecipeError)
        (stage, options), = entry.items()
        if stage not in STAGES:
            raise refuse(f"{source}: stages[{index}]: unknown stage {show(stage)}; known stages: "
                         f"{', '.join(STAGES)}", RecipeError)
        where = f"stages[{index}].{stage}"
        built = build(STAGES[stage][0], options, where, source, RecipeError)
        _check_named_files(built, where, source)
        stages.append(StageSpec(stage, built))
    return Recipe(name=name, read=read, stages=_with_prefilter_languages(stages, source))


def _with_prefilter_languages(stages: list[StageSpec], source: str) -> tuple[StageSpec, ...]:
    """prefilter_language runs on pages, before extract_text, and takes the languages and model it leaves unset
    from the identify_language stage (so the two cannot disagree about what to keep)."""
    names = [spec.name for spec in stages]
    language = stages[names.index("identify_language")].options if "identify_language" in names else None
    wanted = set(language.languages) if language and ALL_LANGUAGES not in language.languages else None
    resolved = []
    for index, spec in enumerate(stages):
        if spec.name == "prefilter_language":
            where = f"{source}: stages[{index}].prefilter_language"
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


def _check_named_files(options, where: str, source: str) -> None:
    """Local files a stage's options name must exist and be readable now, not inside a Beam traceback after the
    pipeline started. Options name files in fields called `*_file`, `*_path`, `blocklists` or `models` (a mapping
    of language to file); remote paths (gs://, s3://, ...) are read by the workers and checked there."""
    for field in dataclasses.fields(options):
        if not field.name.endswith(FILE_FIELD_SUFFIXES) and field.name not in FILE_FIELDS:
            continue
        value = getattr(options, field.name)
        named = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, tuple | list) \
            else [(None, value)]
        for key, path in named:
            if not isinstance(path, str) or not path or "://" in path:
                continue
            place = f"{where}.{field.name}" + ("" if key is None else f"[{show(key)}]")
            problem = _unreadable(Path(path))
            if problem:
                raise refuse(f"{source}: {place}: {show(path)} {problem}; fix the path or remove the entry",
                             RecipeError)


def _unreadable(path: Path) -> str | None:
    if not path.exists():
        return "does not exist"
    if not path.is_file():
        return "is not a file"
    if not os.access(path, os.R_OK):
        return "cannot be read (permission denied)"
    return None
