"""Counting conventions: how the Gopher, C4 and FineWeb rules count, as one table of named differences.

The rules (`transforms.filters.gopher`, `transforms.filters.c4_fineweb`) are written once; a `Counting` says which
units they count and how. `paper` keeps the papers' definitions (Gopher, C4, FineWeb); `fineweb` counts as
FineWeb's released code does (datatrove 0.10), so its published thresholds mean what they meant there. Each field
below is one place where FineWeb's code differs from the papers. A recipe chooses one with `counting:` on
filter_repetition, filter_quality, filter_c4 and filter_fineweb; adding a convention is one entry in COUNTINGS.

Languages with their own tokenizer (jieba for Chinese, characters for scripts without spaces;
`transforms.text.languages`) use it under every convention; the convention's `tokenizer` cuts the others.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ccrefine.transforms.text.languages import language
from ccrefine.transforms.text.ngrams import covered_duplicate_chars, greedy_duplicate_chars
from ccrefine.transforms.text.tokenizers import SPACY_COMPATIBLE, WHITESPACE, WordTokenizer
from ccrefine.transforms.text.units import TextUnits
from ccrefine.transforms.text.word_token_rules import SENTENCE_TERMINALS
from ccrefine.transforms.text.word_tokens import sentence_count

# The `TextUnits` line and paragraph splits a rule may read.
LineSplit = Literal["lines", "nonblank_lines", "all_lines", "line_runs"]
ParagraphSplit = Literal["paragraphs", "paragraph_runs"]


@dataclass(frozen=True)
class Counting:
    name: str
    description: str  # for the message naming the choices
    tokenizer: WordTokenizer  # for languages written with spaces
    words_are_tokens: bool  # the rules count every token, punctuation marks included, rather than the words
    word_count_ignores: str  # Gopher's word count and mean length leave out tokens made only of these
    stop_words_distinct: bool  # distinct stop words rather than every occurrence
    stop_words_case_sensitive: bool
    # Gopher quality
    quality_lines: LineSplit  # the lines whose bullets and ellipses are counted
    bullets: tuple[str, ...]
    ellipsis_line_endings: tuple[str, ...]
    # Gopher repetition
    repetition_lines: LineSplit
    repetition_paragraphs: ParagraphSplit
    repetition_fractions_of_text: bool  # character fractions over the whole text, not over the units counted
    top_ngram_chars_with_spaces: bool
    duplicate_ngram_chars: Callable[[list[str], int], int]  # characters in repeated n-grams
    # C4
    c4_lines: LineSplit
    c4_words_by_whitespace: bool  # a line's words for the C4 word rules are its whitespace tokens
    c4_line_endings: tuple[str, ...]  # a line ending otherwise is removed (when the rule is on)
    c4_unfinished_endings: tuple[str, ...]  # ... and so is one ending in these
    c4_removes_citations: bool  # Wikipedia marks ("[1]", "[edit]") are cut from lines
    c4_page_rules_on_kept_lines: bool  # "lorem ipsum" and "{" drop the page only on a line the line rules kept
    count_sentences: Callable[[str], int]  # sentences in one kept line
    # FineWeb
    fineweb_lines: LineSplit
    line_terminals: frozenset[str]  # a line is punctuated when its last character is one of these
    duplicate_line_chars_of_text: bool  # duplicated-line characters over the text's non-newline characters

    def tokenizer_for(self, lang: str) -> WordTokenizer:
        return language(lang).tokenizer or self.tokenizer

    def tokens(self, units: TextUnits) -> list[str]:
        """The tokens the rules count in these units: the tokenizer's words, or all its tokens."""
        tokenizer = self.tokenizer_for(units.lang)
        return units.tokens(tokenizer) if self.words_are_tokens else units.words_of(tokenizer)

    def line_words(self, line: str, lang: str) -> list[str]:
        """A line's words for C4's word-count and word-length rules (one line: nothing to share, no `TextUnits`)."""
        if self.c4_words_by_whitespace:
            return line.split()
        tokenizer = self.tokenizer_for(lang)
        tokens = tokenizer.tokens(line)
        return tokens if self.words_are_tokens else tokenizer.words(tokens)


# The papers': Gopher's bullets and ellipses, with Chinese list markers; terminal punctuation with the Chinese
# full stop, exclamation and question marks and ellipsis, so C4 and FineWeb do not wipe out Chinese pages.
TERMINAL_PUNCTUATION = (".", "!", "?", '"', "”", "'", "’", "。", "！", "？", "…", "」", "』", "）", ")")
BULLETS = ("•", "●", "○", "■", "□", "▪", "▫", "◆", "◇", "*", "-", "–", "—", "·", "※", "►", "▶", "→", "√",
           "一、", "二、", "三、", "（一）", "(一)", "①", "②", "③")
ELLIPSES = ("...", "…", "。。。", "……")
_SENTENCE_END = re.compile(r"[.!?。！？…]+[\"'”’」』)）]*(?:\s|$)")


def sentence_ends(line: str) -> int:
    """Sentences in a line as the papers' C4 counts them: runs of terminal punctuation before a space or the end."""
    return len(_SENTENCE_END.findall(line))


# FineWeb's: a line is punctuated when it ends in a Unicode sentence terminator: the sentencizer's list, and marks
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

PAPER = Counting(
    name="paper", description="the published definitions, the default", tokenizer=WHITESPACE,
    words_are_tokens=False, word_count_ignores="", stop_words_distinct=False, stop_words_case_sensitive=False,
    quality_lines="lines", bullets=BULLETS, ellipsis_line_endings=ELLIPSES,
    repetition_lines="lines", repetition_paragraphs="paragraphs", repetition_fractions_of_text=False,
    top_ngram_chars_with_spaces=False, duplicate_ngram_chars=covered_duplicate_chars,
    c4_lines="lines", c4_words_by_whitespace=False, c4_line_endings=TERMINAL_PUNCTUATION, c4_unfinished_endings=(),
    c4_removes_citations=False, c4_page_rules_on_kept_lines=False,
    count_sentences=sentence_ends,
    fineweb_lines="lines", line_terminals=frozenset(TERMINAL_PUNCTUATION), duplicate_line_chars_of_text=False,
)

FINEWEB = Counting(
    name="fineweb", description="as FineWeb's released datatrove code counts: spaCy-style English tokens",
    tokenizer=SPACY_COMPATIBLE, words_are_tokens=True, word_count_ignores=_SYMBOLS, stop_words_distinct=True,
    stop_words_case_sensitive=True,
    quality_lines="all_lines", bullets=("•", "-"), ellipsis_line_endings=("...", "…"),
    repetition_lines="line_runs", repetition_paragraphs="paragraph_runs", repetition_fractions_of_text=True,
    top_ngram_chars_with_spaces=True, duplicate_ngram_chars=greedy_duplicate_chars,
    c4_lines="all_lines", c4_words_by_whitespace=True, c4_line_endings=(".", "?", "!", '"', "'"),
    c4_unfinished_endings=("...",), c4_removes_citations=True, c4_page_rules_on_kept_lines=True,
    count_sentences=sentence_count,
    fineweb_lines="nonblank_lines", line_terminals=_LINE_TERMINALS, duplicate_line_chars_of_text=True,
)

COUNTINGS: dict[str, Counting] = {counting.name: counting for counting in (PAPER, FINEWEB)}


def counting_named(name: str) -> Counting:
    """The convention a recipe's `counting:` names; a ValueError naming the choices for any other value."""
    found = COUNTINGS.get(name) if isinstance(name, str) else None
    if found is None:
        choices = " or ".join(f"'{counting.name}' ({counting.description})" for counting in COUNTINGS.values())
        raise ValueError(f"counting must be {choices}, got {name!r}")
    return found
