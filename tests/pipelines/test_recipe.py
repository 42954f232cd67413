"""Recipes: presets load, and every kind of mistake is one clear error."""

from __future__ import annotations

import pytest

from pipelines.recipe import RecipeError, load_recipe, parse_recipe, preset_names


def test_presets_load_and_resolve():
    assert {"refinedweb", "fineweb", "zh", "multilingual"} <= set(preset_names())
    recipe = load_recipe("refinedweb")
    resolved = recipe.resolved()
    assert [next(iter(s)) for s in resolved["stages"]] == [
        "filter_urls", "prefilter_language", "extract_text", "identify_language", "filter_repetition",
        "filter_quality", "correct_lines", "redact_pii"]
    assert resolved["stages"][3]["identify_language"]["threshold"] == 0.65
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
        (["not", "a", "mapping"], "a recipe is a mapping"),
        ({"stages": [{"filter_quality": {"counting": "spacy"}}]},
         "stages[0].filter_quality: counting must be 'paper' (the published definitions, the default) or 'fineweb'"),
        ({"stages": [{"filter_c4": {"counting": True}}]}, "stages[0].filter_c4.counting: expected str"),
    ],
)
def test_mistakes_are_clear_errors(document, message):
    with pytest.raises(RecipeError) as error:
        parse_recipe(document)
    assert message in str(error.value)


def test_unknown_preset_lists_the_presets():
    with pytest.raises(RecipeError, match="presets: .*refinedweb"):
        load_recipe("refinedwb")
