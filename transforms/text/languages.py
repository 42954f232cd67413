"""Per-language table: how a language is tokenized, its stop words and its own Gopher quality thresholds.

Adding a language is one entry in LANGUAGES. A language not listed is written with spaces and gets the English
stop words. Chinese thresholds come from Chinese data (FineWeb-2's `cmn_Hani.yml`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ccrefine.transforms.text.tokenizers import CHARACTERS, JIEBA, WordTokenizer

# The eight Gopher stop words.
ENGLISH_STOP_WORDS = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})
# FineWeb-2's 22 stop words for cmn_Hani (configs/cmn_Hani.yml, Simplified and Traditional forms).
FINEWEB2_CMN_HANI_STOP_WORDS = frozenset("的 年 在 月 是 和 日 了 於 · 為 有 被 人 中 为 他 與 後 也 而 由".split())
# ccrefine's Chinese function words (both scripts) and FineWeb-2's list.
CHINESE_STOP_WORDS = frozenset("的 了 是 在 和 有 也 就 都 而 及 与 與 着 著 这 這 我们 我們".split()) | (
    FINEWEB2_CMN_HANI_STOP_WORDS)


@dataclass(frozen=True)
class Language:
    # None: words are separated by spaces, and the counting convention's tokenizer cuts them.
    tokenizer: WordTokenizer | None = None
    stop_words: frozenset[str] = ENGLISH_STOP_WORDS
    # Gopher quality thresholds that replace the defaults for this language (QualityOptions.by_language).
    quality_thresholds: dict[str, float] = field(default_factory=dict)


LANGUAGES: dict[str, Language] = {
    "en": Language(),
    # jieba words are 1-3 characters: FineWeb-2's cmn_Hani.yml bounds their mean length by 1 and 5.
    "zh": Language(JIEBA, CHINESE_STOP_WORDS, {"min_mean_word_length": 1.0, "max_mean_word_length": 5.0}),
    **{code: Language(CHARACTERS) for code in ("ja", "th", "lo", "km", "my", "bo")},
}

SEGMENTED_BY_JIEBA = frozenset(code for code, entry in LANGUAGES.items() if entry.tokenizer is JIEBA)
CHARACTER_WORDS = frozenset(code for code, entry in LANGUAGES.items() if entry.tokenizer is CHARACTERS)


def language(code: str) -> Language:
    return LANGUAGES.get(code, LANGUAGES["en"])
