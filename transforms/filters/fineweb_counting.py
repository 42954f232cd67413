"""FineWeb's counting: the Gopher, C4 and FineWeb rules as FineWeb's released code (datatrove 0.10) computes them.

A recipe chooses it with `counting: fineweb` on filter_repetition, filter_quality, filter_c4 and filter_fineweb
(`pipelines/recipes/fineweb.yaml`); `counting: paper`, the default, keeps the papers' definitions in `gopher.py`
and `c4_fineweb.py`. The scores keep the same names in both modes, so the same thresholds and decisions apply.
Where FineWeb's code counts differently from the papers:

- Words are spaCy's English tokens (`TextUnits.word_tokens`): every punctuation mark is a token, so pages
  with much punctuation have fewer "alphabetic words". Gopher's word count and mean word length leave out
  tokens made only of punctuation; the `#` and ellipsis ratios divide counts over the whole text by all
  tokens; the stop-word rule wants 2 distinct stop words, case-sensitive; bullet lines (starting with "•" or
  "-") and ellipsis lines are fractions of all lines, blank ones included.
- Gopher repetition: character fractions are over the whole text; lines split on runs of newlines, paragraphs
  on 2 or more newlines, neither stripped; the top n-gram is the first most frequent one, its characters
  counted with single spaces; duplicated n-grams are counted greedily (after a repeat, the scan jumps past it),
  their characters without spaces.
- C4: lines are kept by whitespace word counts; Wikipedia citation marks ("[1]", "[edit]") are removed; a
  "{" or "lorem ipsum" drops the page only on a line that passed the earlier line rules; sentences are
  counted per kept line as spaCy's sentencizer splits them.
- FineWeb: lines are not stripped; a line is punctuated when it ends in a Unicode sentence terminator;
  duplicated-line characters are over all non-newline characters; newlines are per spaCy token.
"""

from __future__ import annotations

import re
import string
from collections import Counter

from ccrefine.transforms.text.units import TextUnits, character_scores
from ccrefine.transforms.text.word_token_rules import SENTENCE_TERMINALS
from ccrefine.transforms.text.word_tokens import sentence_count

COUNTINGS = ("paper", "fineweb")

# A line is punctuated for FineWeb when it ends in a Unicode sentence terminator: the sentencizer's list, and marks
# of scripts Unicode added later.
_LINE_TERMINALS = SENTENCE_TERMINALS | frozenset(
    "\u061d\u061e\u0837\u0839\u083d\u083e\u17d4\u17d5\u17d6\u17d9\u17da\u1b7d\u1b7e\u2e53\u2e54\U00010f55\U00010f56"
    "\U00010f57\U00010f58\U00010f59\U00010f86\U00010f87\U00010f88\U00010f89\U00011944\U00011946\U00011ef7\U00011ef8"
    "\U00011f43\U00011f44\U00016e98"
)
# Characters datatrove treats as punctuation for Gopher's word count: ASCII punctuation, control characters,
# some typographic and CJK marks (’ but not ‘), and the line terminators.
_SYMBOLS = "".join(sorted(
    set(string.punctuation) | set("—”％１〈、━【「」，】；“《„’∶´．（–？！：～«〉》）。…►»") | _LINE_TERMINALS
    | {chr(c) for c in (*range(0, 9), 11, 12, *range(13, 32), *range(127, 160))}
))
_PARAGRAPH_BREAKS = re.compile(r"\n{2,}")
_LINE_BREAKS = re.compile(r"\n+")
_CITATION = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
_C4_LINE_ENDINGS = (".", "?", "!", '"', "'")
_POLICY = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")


def check_counting(value: str) -> None:
    if value not in COUNTINGS:
        raise ValueError(f"counting must be 'paper' (the published definitions, the default) or 'fineweb' "
                         f"(as FineWeb's released datatrove code counts: spaCy-style English tokens), got {value!r}")


def duplicate_counts(items: list[str]) -> tuple[int, int]:
    """(items repeating an earlier item, characters in those repeats)."""
    seen: set[str] = set()
    count = chars = 0
    for item in items:
        if item in seen:
            count += 1
            chars += len(item)
        else:
            seen.add(item)
    return count, chars


def _top_ngram_chars(tokens: list[str], n: int) -> int:
    """Characters of the first most frequent n-gram (tokens joined by spaces) times its occurrences."""
    spaced = " ".join(tokens)
    starts = [0] * len(tokens)
    position = 0
    for i, token in enumerate(tokens):
        starts[i] = position
        position += len(token) + 1
    grams = Counter(spaced[starts[i] : starts[i + n - 1] + len(tokens[i + n - 1])] for i in range(len(tokens) - n + 1))
    gram, count = grams.most_common(1)[0]
    return len(gram) * count


def _greedy_duplicate_ngram_chars(tokens: list[str], n: int) -> int:
    """Characters of repeated n-grams (tokens joined without spaces), skipping past each repeat."""
    joined = "".join(tokens)
    offsets = [0]
    for token in tokens:
        offsets.append(offsets[-1] + len(token))
    seen: set[str] = set()
    repeated = i = 0
    while i <= len(tokens) - n:
        gram = joined[offsets[i] : offsets[i + n]]
        if gram in seen:
            repeated += len(gram)
            i += n
        else:
            seen.add(gram)
            i += 1
    return repeated


def repetition_scores(units: TextUnits, top_sizes, duplicate_sizes, ngram_scale: int = 1) -> dict[str, float]:
    text = units.text
    chars = max(1, len(text))
    paragraphs = _PARAGRAPH_BREAKS.split(text.strip())
    lines = _LINE_BREAKS.split(text)
    paragraph_repeats, paragraph_chars = duplicate_counts(paragraphs)
    line_repeats, line_chars = duplicate_counts(lines)
    tokens = units.word_tokens
    scores = {
        "gopher.dup_line_frac": line_repeats / len(lines),
        "gopher.dup_line_char_frac": line_chars / chars,
        "gopher.dup_para_frac": paragraph_repeats / len(paragraphs),
        "gopher.dup_para_char_frac": paragraph_chars / chars,
    }
    for n in top_sizes:
        size = n * ngram_scale
        scores[f"gopher.top_{n}gram_char_frac"] = _top_ngram_chars(tokens, size) / chars if len(tokens) >= size else 0.0
    for n in duplicate_sizes:
        scores[f"gopher.dup_{n}gram_char_frac"] = _greedy_duplicate_ngram_chars(tokens, n * ngram_scale) / chars
    return scores


def quality_scores(units: TextUnits, stop_words: frozenset[str]) -> dict[str, float]:
    text, tokens = units.text, units.word_tokens
    words = [token for token in tokens if token.strip(_SYMBOLS)]  # tokens with a character that is not a symbol
    n_tokens = max(1, len(tokens))
    lines = text.splitlines()
    n_lines = max(1, len(lines))
    return {
        **character_scores(text),
        "gopher.words": float(len(words)),
        "gopher.mean_word_length": sum(map(len, words)) / len(words) if words else 0.0,
        "gopher.hash_ratio": text.count("#") / n_tokens,
        "gopher.ellipsis_ratio": (text.count("...") + text.count("…")) / n_tokens,
        "gopher.bullet_lines_frac": sum(line.lstrip().startswith(("•", "-")) for line in lines) / n_lines,
        "gopher.ellipsis_lines_frac": sum(line.rstrip().endswith(("...", "…")) for line in lines) / n_lines,
        "gopher.alpha_words_frac": sum(1 for token in tokens if any(map(str.isalpha, token))) / n_tokens,
        "gopher.stop_words": float(len(stop_words.intersection(tokens))),
    }


def c4_filter(text: str, options) -> tuple[str, str | None, dict[str, float]]:
    """(rewritten text, reason or None, scores) with C4's rules as datatrove's C4QualityFilter applies them;
    `options` is a `C4Options`."""
    lines = text.splitlines()
    kept: list[str] = []
    sentences = 0
    for raw_line in lines:
        line = raw_line.strip()
        words = line.split()
        if any(len(word) > options.max_word_length for word in words):
            continue
        line = _CITATION.sub("", line)
        if options.require_terminal_punctuation and (not line.endswith(_C4_LINE_ENDINGS) or line.endswith("...")):
            continue
        if len(words) < options.min_words_per_line:
            continue
        lowered = line.lower()
        if options.drop_lorem_ipsum and "lorem ipsum" in lowered:
            return text, "lorem_ipsum", {}
        if options.drop_javascript_lines and "javascript" in lowered:
            continue
        if options.drop_curly_bracket and "{" in line:
            return text, "curly_bracket", {}
        if options.drop_policy_lines and any(phrase in lowered for phrase in _POLICY):
            continue
        sentences += sentence_count(line)
        kept.append(line)
    non_blank = sum(1 for line in lines if line.strip())
    scores = {"c4.lines_removed_frac": 1 - len(kept) / non_blank if non_blank else 0.0,
              "c4.sentences": float(sentences)}
    if sentences < options.min_sentences:
        return text, "too_few_sentences", scores
    return "\n".join(kept).strip(), None, scores


def fineweb_scores(units: TextUnits, options) -> dict[str, float]:
    """FineWeb's line statistics; `options` is a `FineWebOptions`."""
    text = units.text
    lines = [line for line in text.split("\n") if line.strip()]
    n_lines = max(1, len(lines))
    return {
        "fineweb.punctuated_lines_frac": sum(line[-1] in _LINE_TERMINALS for line in lines) / n_lines,
        "fineweb.short_lines_frac": sum(len(line) <= options.short_line_chars for line in lines) / n_lines,
        "fineweb.dup_line_chars_frac": duplicate_counts(lines)[1] / max(1, len(text) - text.count("\n")),
        "fineweb.newlines_per_word": text.count("\n") / max(1, len(units.word_tokens)),
    }
