"""The pre-extraction language skip: its decision at the thresholds, its recipe wiring, and real pages through it."""

from __future__ import annotations

import json

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from ccrefine.pipelines.recipe import RecipeError, load_recipe, parse_recipe
from ccrefine.transforms.filters.language import shared_identifier
from ccrefine.transforms.filters.prefilter_language import (
    PrefilterOptions,
    PrefilterStep,
    other_language,
    target_line_chars,
    text_units,
)
from ccrefine.transforms.ptransforms import SkipOtherLanguages
from ccrefine.transforms.read.crawl import read_crawl_file
from ccrefine.transforms.records import Page
from hypothesis import given
from hypothesis import strategies as st

ZH = frozenset({"zh"})
OPTIONS = PrefilterOptions(languages=("zh",), min_other_score=0.65, max_target_score=0.01, max_target_chars=100,
                           min_chars=100)
LONG = 500


def no_target_lines() -> int:
    return 0


@pytest.mark.parametrize(("distribution", "expected"), [
    ({"en": 0.95, "zh": 0.005}, "en"),  # confidently another language
    ({"en": 0.65, "zh": 0.01}, "en"),  # both thresholds are inclusive
    ({"en": 0.6499, "zh": 0.001}, None),  # top label not confident enough
    ({"en": 0.95, "zh": 0.0101}, None),  # the target language still has a share
    ({"zh": 0.95, "en": 0.05}, None),  # the top label is the target
    ({}, None),
])
def test_decision_at_the_thresholds(distribution, expected):
    assert other_language(LONG, distribution, ZH, OPTIONS, no_target_lines) == expected


def test_target_language_lines_keep_a_page_the_whole_page_check_would_drop():
    confident = {"ja": 0.99, "zh": 0.001}
    assert other_language(LONG, confident, ZH, OPTIONS, lambda: 100) == "ja"
    assert other_language(LONG, confident, ZH, OPTIONS, lambda: 101) is None


def test_the_line_check_runs_only_for_pages_the_whole_page_check_would_drop():
    def must_not_run() -> int:
        raise AssertionError("line check ran")

    assert other_language(LONG, {"zh": 0.9}, ZH, OPTIONS, must_not_run) is None
    assert other_language(50, {"en": 0.99}, ZH, OPTIONS, must_not_run) is None


def test_the_target_share_is_summed_over_every_target_language():
    options = PrefilterOptions(languages=("en", "de"), min_other_score=0.9, max_target_score=0.01)
    targets = frozenset({"en", "de"})
    assert other_language(LONG, {"fr": 0.95, "en": 0.006, "de": 0.006}, targets, options, no_target_lines) is None
    assert other_language(LONG, {"fr": 0.95, "en": 0.004, "de": 0.004}, targets, options, no_target_lines) == "fr"


def test_too_little_text_goes_on_to_extraction():
    assert other_language(99, {"en": 0.99}, ZH, OPTIONS, no_target_lines) is None
    assert other_language(100, {"en": 0.99}, ZH, OPTIONS, no_target_lines) == "en"


@given(st.dictionaries(st.sampled_from(["en", "zh", "ja", "fr", "de"]), st.floats(0, 1), min_size=1),
       st.integers(0, 5000), st.integers(0, 5000))
def test_a_page_with_a_target_share_or_target_lines_above_the_limits_is_never_dropped(distribution, chars, lines):
    if distribution.get("zh", 0.0) > OPTIONS.max_target_score or lines > OPTIONS.max_target_chars:
        assert other_language(chars, distribution, ZH, OPTIONS, lambda: lines) is None


def test_short_lines_are_judged_as_runs_and_long_lines_alone():
    text = "Home\nNews\nAbout us\n\nA paragraph long enough to be judged on its own.\nContact\n  Imprint  \n"
    assert text_units(text) == ["Home News About us", "A paragraph long enough to be judged on its own.",
                                "Contact Imprint"]


def test_target_lines_are_counted_with_the_real_model():
    identifier = shared_identifier(None)
    menus = "\n".join(["Startseite", "Nachrichten", "Über uns", "Kontakt"] * 5)
    article = ("The committee published its annual report on Tuesday, describing how the new library was built "
               "and what it will offer to the students of the town.")
    assert target_line_chars(identifier, menus, frozenset({"en"})) == 0
    assert target_line_chars(identifier, menus + "\n" + article, frozenset({"en"})) == len(article)


@pytest.mark.parametrize(("options", "message"), [
    ({"languages": ("all",)}, "nothing to skip"),
    ({"languages": ()}, "nothing to skip"),
    ({"min_other_score": 1.5}, "min_other_score"),
    ({"max_target_score": -0.1}, "max_target_score"),
    ({"min_chars": -1}, "min_chars"),
    ({"max_target_chars": -1}, "max_target_chars"),
])
def test_options_are_validated(options, message):
    with pytest.raises(ValueError, match=message):
        PrefilterOptions(**options)


def skip_options(recipe) -> PrefilterOptions:
    (options,) = [s.options for s in recipe.stages if s.name == "prefilter_language"]
    return options


# An English recipe with the skip: the English presets leave it out (it costs about what it saves at 45% English).
ENGLISH_WITH_SKIP = {"stages": [{"prefilter_language": {}}, {"extract_text": {}},
                                {"identify_language": {"languages": ["en"]}}]}


def test_chinese_presets_skip_before_extraction_and_take_the_language_stages_languages():
    for recipe in (load_recipe("zh"), load_recipe("fineweb2-zh"), parse_recipe(ENGLISH_WITH_SKIP)):
        names = [s.name for s in recipe.stages]
        assert names.index("prefilter_language") < names.index("extract_text"), recipe.name
        assert skip_options(recipe).languages == next(s.options.languages for s in recipe.stages
                                                      if s.name == "identify_language")
    for name in ("refinedweb", "fineweb", "multilingual", "raw"):  # ccnet's needs a trained KenLM model to load
        assert "prefilter_language" not in [s.name for s in load_recipe(name).stages]


@pytest.mark.parametrize(("stages", "message"), [
    ([{"extract_text": {}}, {"prefilter_language": {}}, {"identify_language": {"languages": ["en"]}}],
     "above extract_text"),
    ([{"prefilter_language": {}}, {"extract_text": {}}, {"identify_language": {"languages": ["all"]}}],
     "nothing to skip"),
    ([{"prefilter_language": {"languages": ["en"]}}, {"extract_text": {}},
      {"identify_language": {"languages": ["en", "de"]}}], "every language the recipe keeps"),
    ([{"prefilter_language": {}}, {"extract_text": {}}], "every language the recipe keeps"),
])
def test_recipes_that_would_skip_wanted_pages_are_refused(stages, message):
    with pytest.raises(RecipeError, match=message):
        parse_recipe({"stages": stages})


def test_explicit_languages_and_model_stay_as_written():
    recipe = parse_recipe({"stages": [{"prefilter_language": {"languages": ["en", "de"]}}, {"extract_text": {}},
                                      {"identify_language": {"languages": ["de"]}}]})
    assert skip_options(recipe).languages == ("en", "de")


@pytest.fixture(scope="module")
def english_pages(shared_data) -> list[Page]:
    path = shared_data / "warc" / "dolma_sample-0000.warc.gz"
    with path.open("rb") as stream:
        return [r for r in read_crawl_file(stream, str(path)) if isinstance(r, Page)][:5]


@pytest.fixture(scope="module")
def chinese_pages(shared_data) -> list[Page]:
    root = shared_data / "zh" / "html" / "magic_html"
    entries = [json.loads(line) for line in (root / "index_with_ground_truth.jsonl").read_text().splitlines()]
    articles = [e for e in entries if e["page_kind"] == "article"][:5]
    return [Page(f"zh-{i}", e["url"], "", "", "text/html", "utf-8", (root / e["file"]).read_text(encoding="utf-8"),
                 None, "magic_html", 0) for i, e in enumerate(articles)]


def step_of(recipe) -> PrefilterStep:
    step = PrefilterStep(skip_options(recipe))
    step.setup()
    return step


def test_real_pages_outside_the_recipe_are_skipped_and_its_own_are_kept(english_pages, chinese_pages):
    zh, en = step_of(load_recipe("zh")), step_of(parse_recipe(ENGLISH_WITH_SKIP))
    for page in english_pages:
        verdict = zh.judge(page)
        assert verdict.reason == "other_language" and verdict.detail.startswith("en:"), page.url
        assert en.judge(page).reason is None, page.url
    for page in chinese_pages:
        assert zh.judge(page).reason is None, page.url
        verdict = en.judge(page)
        assert verdict.reason == "other_language" and verdict.detail.startswith("zh:"), page.url


def test_plain_text_pages_pass_untouched(english_pages):
    page = english_pages[0]
    wet = Page(page.id, page.url, "", "", "text/plain", "utf-8", None, "Ein ganz deutscher Text. " * 20, "x.wet", 0)
    assert step_of(parse_recipe(ENGLISH_WITH_SKIP)).judge(wet).reason is None


def test_skip_in_a_beam_pipeline_counts_and_routes_the_skipped_pages(english_pages, chinese_pages):
    pipeline = TestPipeline()
    outputs = pipeline | beam.Create(english_pages[:3] + chinese_pages[:2]) | SkipOtherLanguages(
        skip_options(load_recipe("zh")))
    assert_that(outputs.kept | "KeptIds" >> beam.Map(lambda p: p.id), equal_to([p.id for p in chinese_pages[:2]]),
                label="Kept")
    rejected = outputs.rejected | beam.Map(lambda r: (r.id, r.stage, r.reason, r.detail.split(":")[0]))
    expected = [(p.id, "prefilter_language", "other_language", "en") for p in english_pages[:3]]
    assert_that(rejected, equal_to(expected), label="Rejected")
    result = pipeline.run()
    result.wait_until_finish()
    counters = {c.key.metric.name: c.committed for c in
                result.metrics().query(MetricsFilter().with_namespace("prefilter_language"))["counters"]}
    assert counters == {"kept": 2, "dropped.other_language": 3}
