"""C4 and FineWeb rules at their thresholds, in English and Chinese."""

from __future__ import annotations

import pytest
from ccrefine.transforms.filters.c4_fineweb import C4Options, FineWebOptions, c4_filter, decide_fineweb, fineweb_scores
from ccrefine.transforms.text.units import TextUnits

SENTENCE = "The harbour was quiet before the storm arrived."


def page(sentences: int, extra: str = "") -> str:
    return "\n".join([SENTENCE] * sentences) + (f"\n{extra}" if extra else "")


@pytest.mark.parametrize("sentences, reason", [(4, "too_few_sentences"), (5, None)])
def test_c4_minimum_sentences(sentences, reason):
    assert c4_filter(page(sentences), "en", C4Options())[1] == reason


@pytest.mark.parametrize(
    "extra",
    ["Please enable JavaScript to view the comments.", "Read our privacy policy.", "Menu", "Two words."],
)
def test_c4_removes_lines(extra):
    text, reason, _ = c4_filter(page(5, extra), "en", C4Options())
    assert reason is None and text == page(5)


def test_c4_terminal_punctuation_rule_is_optional():
    text, _, _ = c4_filter(page(5, "A line without a full stop at the end"), "en",
                           C4Options(require_terminal_punctuation=False))
    assert text.endswith("at the end")


@pytest.mark.parametrize("extra, reason", [("Lorem ipsum dolor sit amet.", "lorem_ipsum"),
                                           ("function f() { return 1; }", "curly_bracket")])
def test_c4_page_rules(extra, reason):
    assert c4_filter(page(6, extra), "en", C4Options())[1] == reason


def test_c4_counts_chinese_sentences():
    chinese = "\n".join(["茶农们一年四季都在忙碌，春天是采茶最关键的时节。"] * 5)
    text, reason, scores = c4_filter(chinese, "zh", C4Options())
    assert reason is None and scores["c4.sentences"] == 5 and text == chinese


def fineweb(text: str, **options) -> str | None:
    chosen = FineWebOptions(**options)
    return decide_fineweb(fineweb_scores(TextUnits(text, "en"), chosen), chosen)


def test_fineweb_punctuated_lines_threshold():
    # 1 of 8 lines punctuated = 0.125 (kept at 0.12); 1 of 9 = 0.111 (dropped)
    bare = [f"heading number {i} of a long list of items" for i in range(8)]
    assert fineweb("\n".join([SENTENCE] + bare[:7])) is None
    assert fineweb("\n".join([SENTENCE] + bare)) == "few_punctuated_lines"


def test_fineweb_short_lines_and_duplicates():
    assert fineweb("\n".join([SENTENCE] * 1 + ["Short one."] * 3), max_duplicate_line_chars_fraction=1.0) == (
        "short_lines")
    assert fineweb("\n".join([SENTENCE, SENTENCE + " Again and again and again."] + [SENTENCE] * 1)) == (
        "duplicate_line_chars")


def test_fineweb_options_are_validated():
    with pytest.raises(ValueError):
        FineWebOptions(max_short_lines_fraction=3)


def test_fineweb_newlines_per_word_threshold():
    ten_words = "The harbour was quiet before the storm arrived last night."
    kept = "\n".join([ten_words] * 4)  # 3 newlines / 40 words
    assert fineweb_scores(TextUnits(kept, "en"), FineWebOptions())["fineweb.newlines_per_word"] == pytest.approx(0.075)
    words = "\n".join(["Yes."] * 10)  # 9 newlines / 10 words = 0.9
    assert fineweb(words, max_short_lines_fraction=1.0, max_duplicate_line_chars_fraction=1.0) == "newlines_per_word"
