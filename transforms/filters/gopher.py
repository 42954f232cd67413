"""Gopher repetition and quality heuristics (Rae et al. 2021, "Scaling Language Models", Appendix A.1.1).

Scores are computed once per document from shared `TextUnits` and kept on the document; `decide_*`
compares them with the recipe's thresholds, so thresholds can change later without recomputing. What the rules
count follows the recipe's `counting` (`transforms.text.counting`: the paper's words, or FineWeb's spaCy-style
tokens), under the same score names and thresholds. For Chinese, words come from jieba, characters are counted
without spaces, the stop-word rule uses Chinese function words, and bullets include Chinese list markers.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

from ccrefine.transforms.step import ScoringStep
from ccrefine.transforms.text.counting import PAPER, Counting, counting_named
from ccrefine.transforms.text.languages import LANGUAGES, language
from ccrefine.transforms.text.ngrams import duplicate_counts, top_ngram_chars
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
    counting: str = "paper"  # a name in transforms.text.counting.COUNTINGS ("fineweb": as datatrove counts)
    # Words per n-gram word: the n-gram rules look at n * ngram_scale words. 1 for English; 3 for jieba words,
    # which span ~1.9 characters against ~5.4 for English words, so that the "5-gram" rule sees ~28 characters
    # of Chinese as it sees ~27 of English (issue 15: otherwise repeated names and titles fill the 5-grams).
    ngram_scale: int = 1

    def __post_init__(self):
        _check_fractions(self)
        counting_named(self.counting)
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


def _duplicate_fractions(items: list[str], text_chars: int | None) -> tuple[float, float]:
    """(share of items that repeat an earlier item, share of characters in those repeats: of the items' own
    characters, or of `text_chars` when given)."""
    if not items:
        return 0.0, 0.0
    duplicates, duplicate_chars = duplicate_counts(items)
    return duplicates / len(items), duplicate_chars / max(1, sum(map(len, items)) if text_chars is None else text_chars)


def repetition_scores(units: TextUnits, counting: Counting = PAPER, ngram_scale: int = 1) -> dict[str, float]:
    """Duplicated lines and paragraphs, the most frequent 2- to 4-grams, duplicated 5- to 10-grams.

    With `ngram_scale` above 1 each n-gram is n * ngram_scale words, and a top n-gram counts only when it repeats:
    a scaled n-gram spans 20+ characters, a large share of a short Chinese text, without any repetition in it."""
    text_chars = max(1, len(units.text)) if counting.repetition_fractions_of_text else None
    line_fraction, line_chars = _duplicate_fractions(getattr(units, counting.repetition_lines), text_chars)
    paragraph_fraction, paragraph_chars = _duplicate_fractions(getattr(units, counting.repetition_paragraphs),
                                                               text_chars)
    tokens = counting.tokens(units)
    token_chars = max(1, sum(map(len, tokens))) if text_chars is None else text_chars
    scores = {
        "gopher.dup_line_frac": line_fraction,
        "gopher.dup_line_char_frac": line_chars,
        "gopher.dup_para_frac": paragraph_fraction,
        "gopher.dup_para_char_frac": paragraph_chars,
    }
    for n in TOP_NGRAM_SIZES:
        top = top_ngram_chars(tokens, n * ngram_scale, counting.top_ngram_chars_with_spaces, ngram_scale > 1)
        scores[f"gopher.top_{n}gram_char_frac"] = top / token_chars
    for n in DUPLICATE_NGRAM_SIZES:
        scores[f"gopher.dup_{n}gram_char_frac"] = counting.duplicate_ngram_chars(tokens, n * ngram_scale) / token_chars
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
    stop_words: tuple[str, ...] | None = None  # None: the language's list (transforms.text.languages)
    # Off by default (Gopher has neither); the zh recipes set them, since Chinese length is better read in characters.
    min_characters: int = 0  # non-whitespace characters
    min_han_fraction: float = 0.0  # Han characters among letters and digits: pages that are Chinese in name only
    counting: str = "paper"  # a name in transforms.text.counting.COUNTINGS ("fineweb": as datatrove counts)
    # Per-language thresholds that replace the ones above for documents in that language; the defaults are the
    # languages' own (transforms.text.languages: FineWeb-2's word lengths for zh).
    by_language: dict[str, dict[str, float]] = field(default_factory=lambda: {
        code: dict(entry.quality_thresholds) for code, entry in LANGUAGES.items() if entry.quality_thresholds})

    def __post_init__(self):
        _check_fractions(self)
        counting_named(self.counting)
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
    return language(lang).stop_words


def quality_scores(units: TextUnits, stop_words: frozenset[str] | None = None,
                   counting: Counting = PAPER) -> dict[str, float]:
    text = units.text
    tokens = counting.tokens(units)
    words = [t for t in tokens if t.strip(counting.word_count_ignores)] if counting.word_count_ignores else tokens
    n_words = len(words)
    per_token = max(1, len(tokens))
    lines = getattr(units, counting.quality_lines)
    stop_words = language(units.lang).stop_words if stop_words is None else stop_words
    candidates = tokens if counting.stop_words_case_sensitive else [t.lower() for t in tokens]
    stop_count = (len(stop_words.intersection(candidates)) if counting.stop_words_distinct
                  else sum(1 for t in candidates if t in stop_words))
    return {
        **character_scores(text),
        "gopher.words": float(n_words),
        "gopher.mean_word_length": sum(map(len, words)) / n_words if n_words else 0.0,
        "gopher.hash_ratio": text.count("#") / per_token,
        "gopher.ellipsis_ratio": (text.count("...") + text.count("…")) / per_token,
        "gopher.bullet_lines_frac": sum(line.lstrip().startswith(counting.bullets) for line in lines) / max(
            1, len(lines)),
        "gopher.ellipsis_lines_frac": sum(line.rstrip().endswith(counting.ellipsis_line_endings)
                                          for line in lines) / max(1, len(lines)),
        "gopher.alpha_words_frac": sum(1 for t in tokens if any(map(str.isalpha, t))) / per_token,
        "gopher.stop_words": float(stop_count),
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
        self.counting = counting_named(options.counting)

    def score(self, units: TextUnits) -> dict[str, float]:
        return repetition_scores(units, self.counting, self.options.ngram_scale)

    def decide(self, scores: dict[str, float], lang: str) -> str | None:
        return decide_repetition(scores, self.options)


class QualityStep(ScoringStep):
    stage = "quality"

    def __init__(self, options: QualityOptions = QualityOptions()):
        super().__init__(options)
        self.counting = counting_named(options.counting)

    def score(self, units: TextUnits) -> dict[str, float]:
        return quality_scores(units, stop_words_of(self.options, units.lang), self.counting)

    def decide(self, scores: dict[str, float], lang: str) -> str | None:
        return decide_quality(scores, self.options, lang)
