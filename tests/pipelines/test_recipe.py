"""Recipes: presets load, and every kind of mistake is one clear error."""

from __future__ import annotations

import pytest
import yaml
from ccrefine.pipelines.recipe import RecipeError, load_recipe, parse_recipe, preset_names


def test_presets_load_and_resolve():
    assert {"refinedweb", "fineweb", "zh", "multilingual"} <= set(preset_names())
    recipe = load_recipe("refinedweb")
    resolved = recipe.resolved()
    assert [next(iter(s)) for s in resolved["stages"]] == [
        "filter_urls", "extract_text", "identify_language", "filter_repetition",
        "filter_quality", "correct_lines", "redact_pii"]
    assert resolved["stages"][2]["identify_language"]["threshold"] == 0.65
    assert load_recipe("zh").stages[3].options.languages == ("zh",)


def test_recipe_from_a_file(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("stages:\n  - extract_text\n  - identify_language: {languages: [fr], threshold: 0.8}\n")
    recipe = load_recipe(str(path))
    assert recipe.name == "mine" and recipe.stages[1].options.threshold == 0.8


@pytest.mark.parametrize(
    "document, message",
    [
        ({"stages": [{"dedup_everything": {}}]}, "unknown stage 'dedup_everything'"),
        ({"stages": [{"identify_language": {"treshold": 0.5}}]}, "unknown key(s) treshold"),
        ({"stages": [{"identify_language": {"threshold": "high"}}]}, "threshold"),
        ({"stages": [{"identify_language": {"threshold": 1.7}}]}, "between 0 and 1"),
        ({"stages": [{"extract_text": {"timeout_s": True}}]}, "expected a number"),
        ({"read": {"max_payload_bytes": -5}}, "max_payload_bytes must be positive"),
        ({"stages": {"extract_text": {}}}, "must be a list"),
        ({"colour": "blue"}, "unknown key(s) colour"),
        ({"read": 0}, "read: expected a mapping of options, got int 0"),
        ({"stages": [{"extract_text": []}]}, "stages[0].extract_text: expected a mapping of options, got a list []"),
        (["not", "a", "mapping"], "a recipe is a mapping"),
        ({"stages": [{"filter_quality": {"counting": "spacy"}}]},
         "stages[0].filter_quality: counting must be 'paper' (the published definitions, the default) or 'fineweb'"),
        ({"stages": [{"filter_c4": {"counting": True}}]},
         "stages[0].filter_c4.counting: expected a string, got the boolean True"),
    ],
)
def test_mistakes_are_clear_errors(document, message):
    with pytest.raises(RecipeError) as error:
        parse_recipe(document)
    assert message in str(error.value)


def test_unknown_preset_lists_the_presets():
    with pytest.raises(RecipeError, match="presets: .*refinedweb"):
        load_recipe("refinedwb")


@pytest.mark.parametrize(
    "options, message",
    [
        ({"filter_quality": {"min_mean_word_length": float("nan")}},
         "stages[0].filter_quality.min_mean_word_length: must be a finite number, got nan"),
        ({"extract_text": {"timeout_s": float("inf")}}, "stages[0].extract_text.timeout_s: must be a finite number"),
        ({"extract_text": {"timeout_s": float("nan")}}, "stages[0].extract_text.timeout_s: must be a finite number"),
        ({"filter_repetition": {"max_top_ngram_char_fraction": {"2": float("inf")}}},
         "max_top_ngram_char_fraction.2: must be a finite number"),
        ({"filter_repetition": {"max_top_ngram_char_fraction": {"two": 0.2}}}, "keys are n-gram sizes like \"2\""),
        ({"filter_quality": {"min_stop_words": -3}}, "min_stop_words must be >= 0, got -3"),
        ({"filter_quality": {"min_words": 1.5}}, "stages[0].filter_quality.min_words: expected an integer"),
        ({"identify_language": {"languages": "en"}}, "languages: expected a list, got the string 'en'; write ['en']"),
        ({"filter_fineweb": {"max_newlines_per_word": -1.0}}, "max_newlines_per_word must be >= 0"),
    ],
)
def test_non_finite_and_out_of_range_values_name_their_key(options, message):
    with pytest.raises(RecipeError) as error:
        parse_recipe({"stages": [options]})
    assert message in str(error.value)


@pytest.mark.parametrize("stage, options", [
    ("filter_urls", {"blocklists": ["{missing}"]}),
    ("filter_urls", {"banned_words_file": "{missing}"}),
    ("classify_quality", {"model_path": "{missing}"}),
    ("score_perplexity", {"models": {"en": "{folder}"}}),
])
def test_files_a_recipe_names_are_checked_when_it_loads(tmp_path, stage, options):
    path = tmp_path / "recipe.yaml"
    places = {"missing": tmp_path / "nope.txt", "folder": tmp_path}
    text = yaml.safe_dump({"stages": [{stage: options}]}).format(**places)
    path.write_text(text)
    with pytest.raises(RecipeError) as error:
        load_recipe(str(path))
    assert f"recipe {path}: stages[0].{stage}." in str(error.value)
    assert ("does not exist" in str(error.value)) or ("not a file" in str(error.value))


def test_a_readable_blocklist_loads(tmp_path):
    blocklist = tmp_path / "domains"
    blocklist.write_text("example.com\n")
    recipe = parse_recipe({"stages": [{"filter_urls": {"blocklists": [str(blocklist)]}}]})
    assert recipe.stages[0].options.blocklists == (str(blocklist),)


def test_a_recipe_path_without_suffix_is_a_file_not_a_preset(tmp_path):
    with pytest.raises(RecipeError, match="is a folder; give the path of the file itself"):
        load_recipe(str(tmp_path))
