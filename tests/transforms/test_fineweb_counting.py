"""`counting: fineweb`: the Gopher, C4 and FineWeb rules counted as FineWeb's datatrove code counts them.

Expected values are worked out by hand below, and match what datatrove 0.10.1's filters compute on the same
texts; each test also shows where the papers' counting (`counting: paper`) decides differently.
"""

from __future__ import annotations

import pytest
from ccrefine.pipelines.recipe import load_recipe
from ccrefine.transforms.filters.c4_fineweb import C4Options, FineWebOptions, c4_filter, decide_fineweb, fineweb_scores
from ccrefine.transforms.filters.gopher import QualityOptions, decide_quality, quality_scores, repetition_scores
from ccrefine.transforms.text.counting import FINEWEB
from ccrefine.transforms.text.languages import ENGLISH_STOP_WORDS
from ccrefine.transforms.text.units import TextUnits


def fineweb_quality(text: str) -> dict[str, float]:
    return quality_scores(TextUnits(text, "en"), ENGLISH_STOP_WORDS, FINEWEB)


def test_punctuation_marks_are_words_without_letters():
    # 9 tokens a line: Indeed , rivers matter : the harbour remains . -> 6 with letters; the 3 marks are
    # symbols, so not counted as words (6 a line, mean length 35 / 6).
    text = "\n".join(["Indeed, rivers matter: the harbour remains."] * 10)
    scores = fineweb_quality(text)
    assert scores["gopher.words"] == 60
    assert scores["gopher.mean_word_length"] == pytest.approx(35 / 6)
    assert scores["gopher.alpha_words_frac"] == pytest.approx(60 / 90)
    assert decide_quality(scores, QualityOptions(), "en") == "alpha_words"
    assert decide_quality(quality_scores(TextUnits(text, "en")), QualityOptions(), "en") is None  # paper: 60/60


def test_stop_words_are_distinct_and_case_sensitive():
    text = "\n".join(["The harbour of stones remains quiet tonight"] * 8)  # "The" is not "the"
    assert fineweb_quality(text)["gopher.stop_words"] == 1
    assert decide_quality(fineweb_quality(text), QualityOptions(), "en") == "stop_words"
    assert quality_scores(TextUnits(text, "en"))["gopher.stop_words"] == 16  # paper: occurrences, any case


def test_symbol_ratios_divide_text_counts_by_all_tokens():
    # "#" twice in the text, "..." and "…" once each; 9 tokens
    text = "#tag one two... three #four …"
    scores = fineweb_quality(text)
    assert FINEWEB.tokens(TextUnits(text, "en")) == ["#", "tag", "one", "two", "...", "three", "#", "four", "…"]
    assert scores["gopher.hash_ratio"] == pytest.approx(2 / 9)
    assert scores["gopher.ellipsis_ratio"] == pytest.approx(2 / 9)


def test_bullet_and_ellipsis_lines_count_blank_lines_too():
    text = "- first item\n\n• second item\nthird line...\n"  # splitlines: 4 lines, one blank
    scores = fineweb_quality(text)
    assert scores["gopher.bullet_lines_frac"] == pytest.approx(2 / 4)
    assert scores["gopher.ellipsis_lines_frac"] == pytest.approx(1 / 4)


def test_duplicated_ngrams_are_counted_greedily_over_the_whole_text():
    text = "w1 w2 w3 w4 w5 w1 w2 w3 w4 w5 x"  # 31 characters
    scores = repetition_scores(TextUnits(text, "en"), FINEWEB)
    # the 5-gram at 5 repeats the one at 0: its 10 characters (joined without spaces) count, then the scan jumps
    assert scores["gopher.dup_5gram_char_frac"] == pytest.approx(10 / 31)
    assert scores["gopher.dup_6gram_char_frac"] == 0.0
    # the first of the most frequent 2-grams, "w1 w2" (5 characters with its space), occurs twice
    assert scores["gopher.top_2gram_char_frac"] == pytest.approx(10 / 31)


def test_top_ngram_ties_go_to_the_first():
    text = "long word x long word y aa bb z aa bb"
    scores = repetition_scores(TextUnits(text, "en"), FINEWEB)
    assert scores["gopher.top_2gram_char_frac"] == pytest.approx(2 * len("long word") / len(text))


def test_lines_and_paragraphs_are_not_stripped():
    text = "Same line\nSame line \n\n\nSame line\n\nOther"
    scores = repetition_scores(TextUnits(text, "en"), FINEWEB)
    # lines split on runs of newlines: "Same line", "Same line ", "Same line", "Other"
    assert scores["gopher.dup_line_frac"] == pytest.approx(1 / 4)
    assert scores["gopher.dup_line_char_frac"] == pytest.approx(9 / len(text))
    assert scores["gopher.dup_para_frac"] == pytest.approx(0 / 3)  # "Same line\nSame line ", "Same line", "Other"


C4 = C4Options(counting="fineweb", require_terminal_punctuation=False)


def test_c4_removes_citations():
    line = "The harbour was quiet.[1] The storm came.[citation needed]"
    text, reason, scores = c4_filter("\n".join([line] * 3), "en", C4)
    assert reason is None and scores["c4.sentences"] == 6
    assert text.split("\n")[0] == "The harbour was quiet. The storm came."


def test_c4_counts_sentences_like_spacy():
    line = "Dr. Smith arrived at the harbour. He sat."  # "Dr." is one token, not a sentence end: 2 sentences
    assert c4_filter("\n".join([line] * 3), "en", C4)[2]["c4.sentences"] == 6
    assert c4_filter("\n".join([line] * 2), "en", C4)[1] == "too_few_sentences"  # 4 sentences
    paper = C4Options(require_terminal_punctuation=False)
    assert c4_filter("\n".join([line] * 2), "en", paper)[2]["c4.sentences"] == 6  # paper: "Dr. " ends one


def test_c4_page_rules_apply_only_to_lines_that_passed():
    sentences = "\n".join(["The harbour was quiet before the storm arrived."] * 5)
    text, reason, _ = c4_filter(sentences + "\n{ x }", "en", C4)  # 3 words: the "{" line counts
    assert reason == "curly_bracket"
    text, reason, _ = c4_filter(sentences + "\n{x}", "en", C4)  # 1 word: removed before the "{" rule
    assert reason is None and text == sentences
    paper = C4Options(require_terminal_punctuation=False)
    assert c4_filter(sentences + "\n{x}", "en", paper)[1] == "curly_bracket"  # paper: anywhere on the page


def test_fineweb_lines_are_not_stripped_and_quotes_do_not_end_them():
    text = 'He said "stop"\nThe harbour was quiet.\nThe harbour was quiet.\nshort'
    options = FineWebOptions(counting="fineweb")
    scores = fineweb_scores(TextUnits(text, "en"), options)
    assert scores["fineweb.punctuated_lines_frac"] == pytest.approx(2 / 4)
    assert scores["fineweb.short_lines_frac"] == 1.0
    assert scores["fineweb.dup_line_chars_frac"] == pytest.approx(22 / 63)  # of the characters besides newlines
    assert scores["fineweb.newlines_per_word"] == pytest.approx(3 / 16)  # 16 spaCy tokens
    paper = fineweb_scores(TextUnits(text, "en"), FineWebOptions())
    assert paper["fineweb.punctuated_lines_frac"] == pytest.approx(3 / 4)
    assert paper["fineweb.newlines_per_word"] == pytest.approx(3 / 12)
    trailing = fineweb_scores(TextUnits("Ends here.  \nNo", "en"), options)
    assert trailing["fineweb.punctuated_lines_frac"] == 0.0 and decide_fineweb(trailing, options) == (
        "few_punctuated_lines")


def test_fineweb_preset_counts_as_fineweb():
    stages = {spec.name: spec.options for spec in load_recipe("fineweb").stages}
    assert {stages[name].counting for name in ("filter_repetition", "filter_quality", "filter_c4",
                                               "filter_fineweb")} == {"fineweb"}
    assert stages["filter_fineweb"].max_duplicate_line_chars_fraction == 0.01
    assert {spec.options.counting for spec in load_recipe("refinedweb").stages
            if hasattr(spec.options, "counting")} == {"paper"}
