"""Every Gopher, C4 and FineWeb rule under every counting mode, from one table of cases.

A mode is a counting convention and a language: the papers' words (`paper`), FineWeb's spaCy-style tokens
(`fineweb`), and Chinese (jieba) under each. Each case names a rule's score (or its decision), a text, and the
value expected in every mode; the values are worked out by hand in the comments.
"""

from __future__ import annotations

import pytest
from ccrefine.transforms.filters.c4_fineweb import C4Options, FineWebOptions, c4_filter, decide_fineweb, fineweb_scores
from ccrefine.transforms.filters.gopher import (
    QualityOptions,
    RepetitionOptions,
    decide_quality,
    decide_repetition,
    quality_scores,
    repetition_scores,
)
from ccrefine.transforms.text.counting import COUNTINGS, FINEWEB, PAPER
from ccrefine.transforms.text.units import TextUnits

MODES = {"paper": (PAPER, "en"), "fineweb": (FINEWEB, "en"), "zh paper": (PAPER, "zh"), "zh fineweb": (FINEWEB, "zh")}


def repetition(text: str, mode: str) -> dict:
    counting, lang = MODES[mode]
    scores = repetition_scores(TextUnits(text, lang), counting)
    return {**scores, "decision": decide_repetition(scores, RepetitionOptions(counting=counting.name))}


def quality(text: str, mode: str) -> dict:
    counting, lang = MODES[mode]
    scores = quality_scores(TextUnits(text, lang), counting=counting)
    return {**scores, "decision": decide_quality(scores, QualityOptions(counting=counting.name, min_words=3), lang)}


def c4(text: str, mode: str) -> dict:
    counting, lang = MODES[mode]
    rewritten, reason, scores = c4_filter(text, lang, C4Options(counting=counting.name))
    return {**scores, "decision": reason, "text": rewritten}


def fineweb(text: str, mode: str) -> dict:
    counting, lang = MODES[mode]
    options = FineWebOptions(counting=counting.name)
    scores = fineweb_scores(TextUnits(text, lang), options)
    return {**scores, "decision": decide_fineweb(scores, options)}


# Lines: paper strips them and drops blank ones (3 copies of "Same line" in 4 lines; 18 of 32 characters);
# FineWeb splits at runs of newlines without stripping ("Same line " differs: 1 repeat in 4, 9 of 39 characters).
LINES = "Same line\nSame line \n\n\nSame line\n\nOther"
# Paragraphs: paper splits at blank lines, "  " included (1 repeat of 3, 6 of 16 characters); FineWeb only at 2+
# newlines ("A b c." and "A b c.\n  \nD e.": no repeat); its lines keep the "  " line (1 repeat of 4, 6 of 22).
PARAGRAPHS = "A b c.\n\nA b c.\n  \nD e."
# 11 words of 21 word characters, 31 characters in all; "w1 w2 w3 w4 w5" twice.
NGRAMS = "w1 w2 w3 w4 w5 w1 w2 w3 w4 w5 x"
# Paper: 11 words (punctuation stripped, "-" and "•" gone), 50 characters; FineWeb and jieba: 19 tokens, of which
# the 12 not made of datatrove's symbols ("•" is not one) have 51 characters, 11 have letters.
ENGLISH = "Indeed, rivers matter: the harbour remains.\n- #tag one two...\n\n• The end…"
# jieba: 他 在 北京 工作 了 三年 。 - 他 在 上海 # 工作 … … • 的 的 (18 tokens, 12 Han words of 17 characters);
# whitespace: 他在北京工作了三年 他在上海#工作 的的 once edge punctuation is stripped (3 words, 18 characters);
# spaCy: 他在北京工作了三年 。 - 他在上海#工作 …… • 的的 (7 tokens, 4 words of 19 characters). 28 characters.
CHINESE = "他在北京工作了三年。\n- 他在上海#工作……\n\n• 的的"
# C4: the citation hides the full stop from the paper's rule; FineWeb's code cuts it first, and counts spaCy's
# sentences ("Dr." ends none: 2 a line). "..." ends a line for the paper, not for FineWeb.
C4_PAGE = "\n".join(["Dr. Smith arrived at the harbour. He sat.[1]"] * 3
                    + ["Read our privacy policy.", "Menu", "Ends with dots..."])
# The paper drops a page with "{" anywhere; FineWeb's code only on a line its earlier rules kept ("{x}": 1 word).
C4_CODE = "\n".join(["The harbour was quiet before the storm arrived."] * 5 + ["{x}"])
C4_LOREM = "\n".join(["The harbour was quiet before the storm arrived."] * 5 + ["Lorem ipsum."])
C4_KEPT_CITED = "\n".join(["Dr. Smith arrived at the harbour. He sat."] * 3)
# FineWeb: a closing quote ends a line for the paper, not for FineWeb's Unicode sentence terminators; 12 words or
# 16 tokens (jieba splits the quotes and full stops off as spaCy does).
FINEWEB_PAGE = 'He said "stop"\nThe harbour was quiet.\nThe harbour was quiet.\nshort'


def same(value):
    return {mode: value for mode in MODES}


def by_counting(paper, fineweb):
    return {"paper": paper, "fineweb": fineweb, "zh paper": paper, "zh fineweb": fineweb}


CASES = [
    # Gopher repetition
    (repetition, LINES, "gopher.dup_line_frac", by_counting(2 / 4, 1 / 4)),
    (repetition, LINES, "gopher.dup_line_char_frac", by_counting(18 / 32, 9 / 39)),
    (repetition, LINES, "gopher.dup_para_frac", same(0.0)),
    (repetition, LINES, "decision", by_counting("duplicate_lines", "duplicate_line_chars")),
    (repetition, PARAGRAPHS, "gopher.dup_para_frac", by_counting(1 / 3, 0.0)),
    (repetition, PARAGRAPHS, "gopher.dup_para_char_frac", by_counting(6 / 16, 0.0)),
    (repetition, PARAGRAPHS, "gopher.dup_line_frac", by_counting(1 / 3, 1 / 4)),
    (repetition, PARAGRAPHS, "gopher.dup_line_char_frac", by_counting(6 / 16, 6 / 22)),
    # the top n-gram "w1 w2 ..." twice: its word characters (paper) or with its spaces over the whole text (FineWeb)
    (repetition, NGRAMS, "gopher.top_2gram_char_frac", by_counting(8 / 21, 10 / 31)),
    (repetition, NGRAMS, "gopher.top_3gram_char_frac", by_counting(12 / 21, 16 / 31)),
    (repetition, NGRAMS, "gopher.top_4gram_char_frac", by_counting(16 / 21, 22 / 31)),
    # the repeated 5-gram covers 10 words (paper); FineWeb counts the repeat once and jumps past it
    (repetition, NGRAMS, "gopher.dup_5gram_char_frac", by_counting(20 / 21, 10 / 31)),
    *[(repetition, NGRAMS, f"gopher.dup_{n}gram_char_frac", same(0.0)) for n in (6, 7, 8, 9, 10)],
    (repetition, NGRAMS, "decision", same("top_2gram")),
    # no 2-gram repeats in the whitespace words or spaCy's tokens: the first one counts once; jieba: "他 在" twice
    (repetition, CHINESE, "gopher.top_2gram_char_frac", {"paper": 16 / 18, "fineweb": 11 / 28, "zh paper": 4 / 17,
                                                         "zh fineweb": 6 / 28}),
    # Gopher quality
    (quality, ENGLISH, "gopher.words", by_counting(11, 12)),
    (quality, ENGLISH, "gopher.mean_word_length", by_counting(50 / 11, 51 / 12)),
    (quality, ENGLISH, "gopher.hash_ratio", by_counting(1 / 11, 1 / 19)),
    (quality, ENGLISH, "gopher.ellipsis_ratio", by_counting(2 / 11, 2 / 19)),
    # paper: 3 stripped lines, 2 start with a bullet, 2 end in an ellipsis; FineWeb: the blank line counts too
    (quality, ENGLISH, "gopher.bullet_lines_frac", by_counting(2 / 3, 2 / 4)),
    (quality, ENGLISH, "gopher.ellipsis_lines_frac", by_counting(2 / 3, 2 / 4)),
    (quality, ENGLISH, "gopher.alpha_words_frac", by_counting(1.0, 11 / 19)),
    # "the" and "The": 2 occurrences in any case (paper), 1 distinct exact word (FineWeb); not Chinese stop words
    (quality, ENGLISH, "gopher.stop_words", {"paper": 2, "fineweb": 1, "zh paper": 0, "zh fineweb": 0}),
    (quality, ENGLISH, "decision", {"paper": "ellipsis_ratio", "fineweb": "ellipsis_ratio",
                                    "zh paper": "ellipsis_ratio", "zh fineweb": "ellipsis_ratio"}),
    (quality, CHINESE, "gopher.words", {"paper": 3, "fineweb": 4, "zh paper": 12, "zh fineweb": 13}),
    (quality, CHINESE, "gopher.mean_word_length", {"paper": 6.0, "fineweb": 19 / 4, "zh paper": 17 / 12,
                                                   "zh fineweb": 18 / 13}),
    (quality, CHINESE, "gopher.hash_ratio", {"paper": 1 / 3, "fineweb": 1 / 7, "zh paper": 1 / 12,
                                             "zh fineweb": 1 / 18}),
    (quality, CHINESE, "gopher.ellipsis_ratio", {"paper": 2 / 3, "fineweb": 2 / 7, "zh paper": 2 / 12,
                                                 "zh fineweb": 2 / 18}),
    (quality, CHINESE, "gopher.bullet_lines_frac", by_counting(2 / 3, 2 / 4)),
    (quality, CHINESE, "gopher.ellipsis_lines_frac", by_counting(1 / 3, 1 / 4)),
    (quality, CHINESE, "gopher.alpha_words_frac", {"paper": 1.0, "fineweb": 3 / 7, "zh paper": 1.0,
                                                   "zh fineweb": 12 / 18}),
    # 他 在 了 的: 7 occurrences, 4 distinct
    (quality, CHINESE, "gopher.stop_words", {"paper": 0, "fineweb": 0, "zh paper": 7, "zh fineweb": 4}),
    (quality, CHINESE, "gopher.chars", same(float(len(CHINESE) - CHINESE.count(" ") - CHINESE.count("\n")))),
    (quality, CHINESE, "gopher.han_frac", same(1.0)),
    # C4
    (c4, C4_PAGE, "c4.sentences", by_counting(1, 6)),
    (c4, C4_PAGE, "c4.lines_removed_frac", by_counting(5 / 6, 3 / 6)),
    (c4, C4_PAGE, "decision", by_counting("too_few_sentences", None)),
    (c4, C4_PAGE, "text", by_counting(C4_PAGE, C4_KEPT_CITED)),
    (c4, C4_CODE, "decision", by_counting("curly_bracket", None)),
    (c4, C4_LOREM, "decision", by_counting("lorem_ipsum", None)),
    (c4, C4_LOREM, "c4.lines_removed_frac", by_counting(None, 1 / 6)),  # the paper drops it before any line
    # FineWeb
    (fineweb, FINEWEB_PAGE, "fineweb.punctuated_lines_frac", by_counting(3 / 4, 2 / 4)),
    (fineweb, FINEWEB_PAGE, "fineweb.short_lines_frac", same(1.0)),
    (fineweb, FINEWEB_PAGE, "fineweb.dup_line_chars_frac", same(22 / 63)),
    (fineweb, FINEWEB_PAGE, "fineweb.newlines_per_word", by_counting(3 / 12, 3 / 16)),
    (fineweb, FINEWEB_PAGE, "decision", same("short_lines")),
]


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("rule, text, key, expected", CASES,
                         ids=[f"{rule.__name__}-{key}-{i}" for i, (rule, _, key, _) in enumerate(CASES)])
def test_rule_in_every_mode(rule, text, key, expected, mode):
    value = rule(text, mode).get(key)
    assert value == (pytest.approx(expected[mode]) if isinstance(expected[mode], float) else expected[mode])


def test_the_table_covers_every_rule_and_mode():
    covered = {key for _, _, key, _ in CASES}
    scores = (set(repetition(NGRAMS, "paper")) | set(quality(ENGLISH, "paper")) | set(c4(C4_PAGE, "paper"))
              | set(fineweb(FINEWEB_PAGE, "paper")))
    assert scores <= covered
    assert {counting for counting, _ in MODES.values()} == set(COUNTINGS.values())
    assert all(set(expected) == set(MODES) for _, _, _, expected in CASES)
