"""Gopher repetition and quality rules: each threshold just below and just above, in English and Chinese."""

from __future__ import annotations

from pathlib import Path

import pytest
from ccrefine.transforms.filters.gopher import (
    QualityOptions,
    RepetitionOptions,
    decide_quality,
    decide_repetition,
    quality_scores,
    repetition_scores,
)
from ccrefine.transforms.text.units import TextUnits

WORDS = ("river stone maple harbor candle meadow lantern orchard violet thunder basket mirror "
         "garden silver pepper ribbon castle forest marble window").split()


def prose(n_words: int, offset: int = 0) -> str:
    """Distinct-word filler with stop words, so only the rule under test can fire."""
    words = [WORDS[(i * 7 + offset) % len(WORDS)] + str((i + offset) // len(WORDS)) for i in range(n_words)]
    return "The " + " ".join(words) + " and of the end."


def lines_with_duplicates(unique: int, duplicates: int) -> str:
    return "\n".join([prose(12, offset=100 * i) for i in range(unique)] + [prose(12, offset=0)] * duplicates)


@pytest.mark.parametrize("duplicates, expected", [(2, None), (5, "duplicate_lines")])
def test_duplicate_line_fraction(duplicates, expected):
    # 10 lines: 2 repeats = 0.2 (kept); 5 repeats of 15 lines = 0.33 > 0.30 (removed)
    text = lines_with_duplicates(10 - duplicates if duplicates == 2 else 10, duplicates)
    scores = repetition_scores(TextUnits(text, "en"))
    options = RepetitionOptions(max_duplicate_line_char_fraction=1.0, max_duplicate_paragraph_char_fraction=1.0,
                                max_duplicate_ngram_char_fraction={})
    assert decide_repetition(scores, options) == expected


def test_top_ngram_just_below_and_above():
    text = prose(200)
    scores = repetition_scores(TextUnits(text, "en"))
    fraction = scores["gopher.top_2gram_char_frac"]
    assert decide_repetition(scores, RepetitionOptions(max_top_ngram_char_fraction={"2": fraction + 1e-9})) is None
    assert decide_repetition(scores, RepetitionOptions(max_top_ngram_char_fraction={"2": fraction - 1e-9})) == (
        "top_2gram")


def test_spam_repeats_are_removed():
    spam = "\n".join(["best casino bonus best casino bonus best casino bonus", "click here free spins"] * 6)
    assert decide_repetition(repetition_scores(TextUnits(spam, "en")), RepetitionOptions()) == "duplicate_lines"


@pytest.mark.parametrize("n_words, expected", [(49, "too_few_words"), (50, None)])
def test_minimum_words(n_words, expected):
    text = " ".join(["the", "of"] + [WORDS[i % len(WORDS)] for i in range(n_words - 2)])
    assert decide_quality(quality_scores(TextUnits(text, "en")), QualityOptions(), "en") == expected


@pytest.mark.parametrize("hashes, expected", [(10, None), (11, "hash_ratio")])
def test_hash_ratio(hashes, expected):
    words = [WORDS[i % len(WORDS)] for i in range(98)] + ["the", "of"]
    for i in range(hashes):
        words[i] = "#" + words[i]
    assert decide_quality(quality_scores(TextUnits(" ".join(words), "en")), QualityOptions(), "en") == expected


@pytest.mark.parametrize("stop_words, expected", [(1, "stop_words"), (2, None)])
def test_stop_words(stop_words, expected):
    words = [WORDS[i % len(WORDS)] for i in range(60)] + ["the"] * stop_words
    assert decide_quality(quality_scores(TextUnits(" ".join(words), "en")), QualityOptions(), "en") == expected


def _documents(path: Path, per_doc: int) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return ["\n".join(lines[i : i + per_doc]) for i in range(0, len(lines) - per_doc + 1, per_doc)]


def test_chinese_reference_text_passes_like_english(shared_data):
    def pass_rate(texts, lang):
        kept = 0
        for text in texts:
            units = TextUnits(text, lang)
            kept += decide_repetition(repetition_scores(units), RepetitionOptions()) is None and decide_quality(
                quality_scores(units), QualityOptions(), lang) is None
        return kept / len(texts)

    english = pass_rate(_documents(shared_data / "text" / "en_pud_news_wiki.txt", 10), "en")
    chinese = pass_rate(_documents(shared_data / "text" / "zh_pud_news_wiki.txt", 10), "zh")
    assert english > 0.95 and chinese > 0.95


def test_chinese_units_are_segmented_words():
    units = TextUnits("随着电动汽车和储能设备的快速普及，退役动力电池的数量正在逐年增加。", "zh")
    assert "电动汽车" in units.words and "，" not in units.words
    assert quality_scores(units)["gopher.stop_words"] >= 2  # 的, 和


@pytest.mark.parametrize("options", [{"max_duplicate_line_fraction": 1.5}, {"min_words": 10, "max_words": 5}])
def test_options_are_validated(options):
    with pytest.raises(ValueError):
        (RepetitionOptions if "max_duplicate_line_fraction" in options else QualityOptions)(**options)


PASSING_QUALITY = {"gopher.words": 200.0, "gopher.mean_word_length": 5.0, "gopher.hash_ratio": 0.0,
                   "gopher.ellipsis_ratio": 0.0, "gopher.bullet_lines_frac": 0.0, "gopher.ellipsis_lines_frac": 0.0,
                   "gopher.alpha_words_frac": 1.0, "gopher.stop_words": 5.0}


@pytest.mark.parametrize(
    "key, kept, dropped, reason",
    [("gopher.words", 100_000, 100_001, "too_many_words"),
     ("gopher.mean_word_length", 3.0, 2.99, "mean_word_length"),
     ("gopher.mean_word_length", 10.0, 10.01, "mean_word_length"),
     ("gopher.ellipsis_ratio", 0.1, 0.11, "ellipsis_ratio"),
     ("gopher.bullet_lines_frac", 0.9, 0.91, "bullet_lines"),
     ("gopher.ellipsis_lines_frac", 0.3, 0.31, "ellipsis_lines"),
     ("gopher.alpha_words_frac", 0.8, 0.79, "alpha_words")],
)
def test_every_quality_threshold_just_inside_and_outside(key, kept, dropped, reason):
    assert decide_quality({**PASSING_QUALITY, key: kept}, QualityOptions(), "en") is None
    assert decide_quality({**PASSING_QUALITY, key: dropped}, QualityOptions(), "en") == reason


@pytest.mark.parametrize(
    "key, limit, reason",
    [("gopher.dup_line_frac", 0.30, "duplicate_lines"), ("gopher.dup_line_char_frac", 0.20, "duplicate_line_chars"),
     ("gopher.dup_para_frac", 0.30, "duplicate_paragraphs"),
     ("gopher.dup_para_char_frac", 0.20, "duplicate_paragraph_chars"),
     ("gopher.top_2gram_char_frac", 0.20, "top_2gram"), ("gopher.top_3gram_char_frac", 0.18, "top_3gram"),
     ("gopher.top_4gram_char_frac", 0.16, "top_4gram"), ("gopher.dup_5gram_char_frac", 0.15, "duplicate_5gram"),
     ("gopher.dup_6gram_char_frac", 0.14, "duplicate_6gram"), ("gopher.dup_7gram_char_frac", 0.13, "duplicate_7gram"),
     ("gopher.dup_8gram_char_frac", 0.12, "duplicate_8gram"), ("gopher.dup_9gram_char_frac", 0.11, "duplicate_9gram"),
     ("gopher.dup_10gram_char_frac", 0.10, "duplicate_10gram")],
)
def test_every_repetition_threshold_just_inside_and_outside(key, limit, reason):
    assert decide_repetition({key: limit}, RepetitionOptions()) is None
    assert decide_repetition({key: limit + 1e-6}, RepetitionOptions()) == reason


def test_quality_scores_on_constructed_text():
    bullets = "\n".join(["• " + prose(8, offset=i * 10) for i in range(9)] + [prose(8, offset=200)])
    scores = quality_scores(TextUnits(bullets, "en"))
    assert scores["gopher.bullet_lines_frac"] == pytest.approx(0.9)
    ellipses = "\n".join([prose(8, offset=i * 10) + "..." for i in range(3)] + [prose(8, offset=300)] * 7)
    assert quality_scores(TextUnits(ellipses, "en"))["gopher.ellipsis_lines_frac"] == pytest.approx(0.3)
    numbers = " ".join(["12345"] * 30 + ["river"] * 70)
    assert quality_scores(TextUnits(numbers, "en"))["gopher.alpha_words_frac"] == pytest.approx(0.7)
    assert quality_scores(TextUnits("aa bb cc dddd", "en"))["gopher.mean_word_length"] == pytest.approx(2.5)


def test_duplicate_paragraphs_and_ngrams_on_constructed_text():
    paragraph = prose(20)
    text = "\n\n".join([paragraph, prose(20, offset=50), paragraph])
    scores = repetition_scores(TextUnits(text, "en"))
    assert scores["gopher.dup_para_frac"] == pytest.approx(1 / 3)
    assert scores["gopher.dup_10gram_char_frac"] > 0.5  # the repeated paragraph's words
    assert repetition_scores(TextUnits(prose(300), "en"))["gopher.dup_5gram_char_frac"] == 0.0
