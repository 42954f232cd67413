"""Gopher repetition and quality heuristics (Rae et al. 2021, "Scaling Language Models", Appendix A.1.1).

Scores are computed once per document from shared `TextUnits` and kept on the document; `decide_*`
compares them with the recipe's thresholds, so thresholds can change later without recomputing.
For Chinese, words come from jieba, characters are counted without spaces, the stop-word rule uses
Chinese function words, and bullets include Chinese list markers. With `counting: fineweb` the scores are
counted as FineWeb's code counts them (`transforms.filters.fineweb_counting`), under the same names and thresholds.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields, replace

from ccrefine.transforms.filters import fineweb_counting
from ccrefine.transforms.step import ScoringStep
from ccrefine.transforms.text.units import TextUnits, character_scores

TOP_NGRAM_SIZES = (2, 3, 4)
DUPLICATE_NGRAM_SIZES = (5, 6, 7, 8, 9, 10)


@dataclass(frozen=True)
class RepetitionOptions:
    # Gopher Table A1: the document is removed above each threshold.
    max_duplicate_line_fraction: float = 0.30
    max_duplicate_line_char_fraction: float = 0.20
    max_duplicate_paragraph_fraction: float = 0.30
    max_duplicate_paragraph_char_fraction: float = 0.20
    max_top_ngram_char_fraction: dict[str, float] = field(default_factory=lambda: {"2": 0.20, "3": 0.18, "4": 0.16})
    max_duplicate_ngram_char_fraction: dict[str, float] = field(
        default_factory=lambda: {"5": 0.15, "6": 0.14, "7": 0.13, "8": 0.12, "9": 0.11, "10": 0.10}
    )
    counting: str = "paper"  # or "fineweb": units and fractions as FineWeb's datatrove code counts them
    # Words per n-gram word: the n-gram rules look at n * ngram_scale words. 1 for English; 3 for jieba words,
    # which span ~1.9 characters against ~5.4 for English words, so that the "5-gram" rule sees ~28 characters
    # of Chinese as it sees ~27 of English (issue 15: otherwise repeated names and titles fill the 5-grams).
    ngram_scale: int = 1

    def __post_init__(self):
        _check_fractions(self)
        fineweb_counting.check_counting(self.counting)
        for name in ("max_top_ngram_char_fraction", "max_duplicate_ngram_char_fraction"):
            if not all(str(n).isascii() and str(n).isdigit() and int(n) >= 1 for n in getattr(self, name)):
                raise ValueError(f"{name} keys are n-gram sizes like \"2\", got {list(getattr(self, name))}")
        if self.ngram_scale < 1:
            raise ValueError(f"ngram_scale must be at least 1, got {self.ngram_scale}")


def _check_fractions(options) -> None:
    for name, value in vars(options).items():
        values = value.values() if isinstance(value, dict) else [value]
        if name.endswith(("fraction", "ratio")) and any(not 0.0 <= v <= 1.0 for v in values):
            raise ValueError(f"{name} must be between 0 and 1, got {value}")


def _duplicate_fractions(items: list[str]) -> tuple[float, float]:
    """(share of items that repeat an earlier item, share of characters in those repeats)."""
    if not items:
        return 0.0, 0.0
    duplicates, duplicate_chars = fineweb_counting.duplicate_counts(items)
    return duplicates / len(items), duplicate_chars / max(1, sum(map(len, items)))


def _ngram_keys(words: list[str], n: int) -> list[str]:
    """Every n-gram as one string (words joined by NUL, so equal keys are equal word tuples): slicing one joined
    string is much cheaper than building a tuple per position when n is large (`ngram_scale`)."""
    joined = "\0".join(words)
    starts = [0] * (len(words) + 1)
    for i, word in enumerate(words):
        starts[i + 1] = starts[i] + len(word) + 1
    return [joined[starts[i] : starts[i + n] - 1] for i in range(len(words) - n + 1)]


def _top_ngram_char_fraction(words: list[str], n: int, total_chars: int, repeats_only: bool = False) -> float:
    """Characters covered by the most frequent n-gram's occurrences (Gopher counts word characters).
    With `repeats_only`, 0 when no n-gram repeats: a scaled n-gram (`ngram_scale`) spans 20+ characters, a large
    share of a short Chinese text, without any repetition in it."""
    if len(words) < n or not total_chars:
        return 0.0
    gram, occurrences = Counter(_ngram_keys(words, n)).most_common(1)[0]
    if repeats_only and occurrences < 2:
        return 0.0
    return (len(gram) - (n - 1)) * occurrences / total_chars


def _duplicate_ngram_char_fraction(words: list[str], n: int, total_chars: int) -> float:
    """Characters of words inside any n-gram that occurs more than once (each word counted once)."""
    if len(words) < n or not total_chars:
        return 0.0
    grams = _ngram_keys(words, n)
    counts = Counter(grams)
    covered = bytearray(len(words))
    for start, gram in enumerate(grams):
        if counts[gram] > 1:
            covered[start : start + n] = b"\x01" * n
    return sum(len(word) for word, flag in zip(words, covered, strict=True) if flag) / total_chars


def repetition_scores(units: TextUnits, ngram_scale: int = 1) -> dict[str, float]:
    line_fraction, line_chars = _duplicate_fractions(units.lines)
    paragraph_fraction, paragraph_chars = _duplicate_fractions(units.paragraphs)
    words = units.words
    word_chars = sum(map(len, words))
    scores = {
        "gopher.dup_line_frac": line_fraction,
        "gopher.dup_line_char_frac": line_chars,
        "gopher.dup_para_frac": paragraph_fraction,
        "gopher.dup_para_char_frac": paragraph_chars,
    }
    for n in TOP_NGRAM_SIZES:
        scores[f"gopher.top_{n}gram_char_frac"] = _top_ngram_char_fraction(words, n * ngram_scale, word_chars,
                                                                        repeats_only=ngram_scale > 1)
    for n in DUPLICATE_NGRAM_SIZES:
        scores[f"gopher.dup_{n}gram_char_frac"] = _duplicate_ngram_char_fraction(words, n * ngram_scale, word_chars)
    return scores


def decide_repetition(scores: dict[str, float], options: RepetitionOptions) -> str | None:
    checks = [
        ("gopher.dup_line_frac", options.max_duplicate_line_fraction, "duplicate_lines"),
        ("gopher.dup_line_char_frac", options.max_duplicate_line_char_fraction, "duplicate_line_chars"),
        ("gopher.dup_para_frac", options.max_duplicate_paragraph_fraction, "duplicate_paragraphs"),
        ("gopher.dup_para_char_frac", options.max_duplicate_paragraph_char_fraction, "duplicate_paragraph_chars"),
    ]
    checks += [(f"gopher.top_{n}gram_char_frac", limit, f"top_{n}gram")
               for n, limit in ((int(k), v) for k, v in options.max_top_ngram_char_fraction.items())]
    checks += [(f"gopher.dup_{n}gram_char_frac", limit, f"duplicate_{n}gram")
               for n, limit in ((int(k), v) for k, v in options.max_duplicate_ngram_char_fraction.items())]
    for key, limit, reason in checks:
        if scores.get(key, 0.0) > limit:
            return reason
    return None


# FineWeb-2's 22 stop words for cmn_Hani (configs/cmn_Hani.yml, Simplified and Traditional forms).
FINEWEB2_CMN_HANI_STOP_WORDS = frozenset("的 年 在 月 是 和 日 了 於 · 為 有 被 人 中 为 他 與 後 也 而 由".split())
# The eight Gopher stop words; for Chinese, ccrefine's function words (both scripts) and FineWeb-2's list.
STOP_WORDS = {
    "en": frozenset({"the", "be", "to", "of", "and", "that", "have", "with"}),
    "zh": frozenset("的 了 是 在 和 有 也 就 都 而 及 与 與 着 著 这 這 我们 我們".split())
    | FINEWEB2_CMN_HANI_STOP_WORDS,
}
BULLETS = ("•", "●", "○", "■", "□", "▪", "▫", "◆", "◇", "*", "-", "–", "—", "·", "※", "►", "▶", "→", "√",
           "一、", "二、", "三、", "（一）", "(一)", "①", "②", "③")
ELLIPSES = ("...", "…", "。。。", "……")


@dataclass(frozen=True)
class QualityOptions:
    # Gopher Appendix A.1.1 thresholds; for zh, word counts are jieba words.
    min_words: int = 50
    max_words: int = 100_000
    min_mean_word_length: float = 3.0  # characters; for zh, see by_language
    max_mean_word_length: float = 10.0
    max_symbol_to_word_ratio: float = 0.1  # '#' and ellipses, each
    max_bullet_lines_fraction: float = 0.9
    max_ellipsis_lines_fraction: float = 0.3
    min_alpha_words_fraction: float = 0.8
    min_stop_words: int = 2
    stop_words: tuple[str, ...] | None = None  # None: the language's list in STOP_WORDS (English for others)
    # Off by default (Gopher has neither); the zh recipes set them, since Chinese length is better read in characters.
    min_characters: int = 0  # non-whitespace characters
    min_han_fraction: float = 0.0  # Han characters among letters and digits: pages that are Chinese in name only
    counting: str = "paper"  # or "fineweb": spaCy-style tokens, as FineWeb's datatrove code counts
    # Per-language thresholds that replace the ones above for documents in that language. Chinese words are
    # jieba's, 1-3 characters: FineWeb-2's cmn_Hani.yml bounds their mean length by 1 and 5.
    by_language: dict[str, dict[str, float]] = field(
        default_factory=lambda: {"zh": {"min_mean_word_length": 1.0, "max_mean_word_length": 5.0}})

    def __post_init__(self):
        _check_fractions(self)
        fineweb_counting.check_counting(self.counting)
        names = {f.name for f in fields(self)} - {"by_language", "counting", "stop_words"}
        for lang, overrides in self.by_language.items():
            unknown = sorted(set(overrides) - names)
            if unknown:
                raise ValueError(f"by_language.{lang}: unknown threshold(s) {', '.join(unknown)}; "
                                 f"allowed: {', '.join(sorted(names))}")
        if self.min_words < 0 or self.max_words < self.min_words:
            raise ValueError(f"need 0 <= min_words <= max_words, got {self.min_words} and {self.max_words}")
        if self.min_mean_word_length < 0 or self.max_mean_word_length < self.min_mean_word_length:
            raise ValueError(f"need 0 <= min_mean_word_length <= max_mean_word_length, got "
                             f"{self.min_mean_word_length} and {self.max_mean_word_length}")
        if self.min_stop_words < 0:
            raise ValueError(f"min_stop_words must be >= 0, got {self.min_stop_words}")
        if self.min_characters < 0:
            raise ValueError(f"min_characters must be >= 0, got {self.min_characters}")
        if self.stop_words is not None and not self.stop_words:
            raise ValueError("stop_words must list at least one word, or be left out for the language's own list")
        # Each language's options, made (and checked like these) once rather than per document.
        languages = {lang: replace(self, by_language={}, **overrides)
                     for lang, overrides in self.by_language.items() if overrides}
        object.__setattr__(self, "_languages", languages)

    def for_language(self, lang: str) -> QualityOptions:
        """These options with the language's own thresholds from `by_language` in place."""
        return self._languages.get(lang, self)


def stop_words_of(options: QualityOptions, lang: str) -> frozenset[str]:
    if options.stop_words is not None:
        return frozenset(options.stop_words)
    return STOP_WORDS.get(lang, STOP_WORDS["en"])


def quality_scores(units: TextUnits, stop_words: frozenset[str] | None = None) -> dict[str, float]:
    words, lines, tokens = units.words, units.lines, units.raw_tokens
    n_words = len(words)
    stop_words = STOP_WORDS.get(units.lang, STOP_WORDS["en"]) if stop_words is None else stop_words
    return {
        **character_scores(units.text),
        "gopher.words": float(n_words),
        "gopher.mean_word_length": sum(map(len, words)) / n_words if n_words else 0.0,
        "gopher.hash_ratio": sum(t.count("#") for t in tokens) / max(1, n_words),
        "gopher.ellipsis_ratio": sum(t.count(e) for t in tokens for e in ELLIPSES[:2]) / max(1, n_words),
        "gopher.bullet_lines_frac": sum(line.startswith(BULLETS) for line in lines) / max(1, len(lines)),
        "gopher.ellipsis_lines_frac": sum(line.endswith(ELLIPSES) for line in lines) / max(1, len(lines)),
        "gopher.alpha_words_frac": sum(any(c.isalpha() for c in w) for w in words) / max(1, n_words),
        "gopher.stop_words": float(sum(1 for w in words if w.lower() in stop_words)),
    }


def decide_quality(scores: dict[str, float], options: QualityOptions, lang: str) -> str | None:
    words = scores["gopher.words"]
    if words < options.min_words:
        return "too_few_words"
    if words > options.max_words:
        return "too_many_words"
    options = options.for_language(lang)
    if options.min_characters and scores["gopher.chars"] < options.min_characters:
        return "too_few_characters"
    if options.min_han_fraction and scores["gopher.han_frac"] < options.min_han_fraction:
        return "few_han_characters"
    if not options.min_mean_word_length <= scores["gopher.mean_word_length"] <= options.max_mean_word_length:
        return "mean_word_length"
    if scores["gopher.hash_ratio"] > options.max_symbol_to_word_ratio:
        return "hash_ratio"
    if scores["gopher.ellipsis_ratio"] > options.max_symbol_to_word_ratio:
        return "ellipsis_ratio"
    if scores["gopher.bullet_lines_frac"] > options.max_bullet_lines_fraction:
        return "bullet_lines"
    if scores["gopher.ellipsis_lines_frac"] > options.max_ellipsis_lines_fraction:
        return "ellipsis_lines"
    if scores["gopher.alpha_words_frac"] < options.min_alpha_words_fraction:
        return "alpha_words"
    if scores["gopher.stop_words"] < options.min_stop_words:
        return "stop_words"
    return None


class RepetitionStep(ScoringStep):
    stage = "repetition"

    def __init__(self, options: RepetitionOptions = RepetitionOptions()):
        super().__init__(options)

    def score(self, units: TextUnits) -> dict[str, float]:
        if self.options.counting == "fineweb":
            return fineweb_counting.repetition_scores(units, TOP_NGRAM_SIZES, DUPLICATE_NGRAM_SIZES,
                                                      self.options.ngram_scale)
        return repetition_scores(units, self.options.ngram_scale)

    def decide(self, scores: dict[str, float], lang: str) -> str | None:
        return decide_repetition(scores, self.options)


class QualityStep(ScoringStep):
    stage = "quality"

    def __init__(self, options: QualityOptions = QualityOptions()):
        super().__init__(options)

    def score(self, units: TextUnits) -> dict[str, float]:
        stop_words = stop_words_of(self.options, units.lang)
        if self.options.counting == "fineweb":
            return fineweb_counting.quality_scores(units, stop_words)
        return quality_scores(units, stop_words)

    def decide(self, scores: dict[str, float], lang: str) -> str | None:
        return decide_quality(scores, self.options, lang)
