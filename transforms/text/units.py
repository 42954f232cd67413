"""The units every heuristic counts — lines, paragraphs, tokens, words — computed once per document and shared.

Lines and paragraphs come in the splits the rules use (the papers' stripped lines, and the unstripped splits of
FineWeb's code); tokens and words come from a `WordTokenizer`, each tokenizer run at most once per document.
`words` are the language's words as the papers count them (whitespace words with edge punctuation stripped;
jieba words for Chinese; characters for scripts without spaces): what line corrections, perplexity and the
quality classifier count. Which tokens the Gopher, C4 and FineWeb rules count is the counting convention's choice
(`transforms.text.counting`).

`units_of` keeps the last few documents' units, so the steps that look at one document in turn (repetition,
quality, FineWeb) split and tokenise its text once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

from ccrefine.transforms.text.languages import CHARACTER_WORDS, SEGMENTED_BY_JIEBA, language
from ccrefine.transforms.text.tokenizers import WHITESPACE, WordTokenizer

__all__ = ["CHARACTER_WORDS", "SEGMENTED_BY_JIEBA", "TextUnits", "character_scores", "is_han", "units_of"]

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_PARAGRAPH_RUN_BREAK = re.compile(r"\n{2,}")
_LINE_RUN_BREAK = re.compile(r"\n+")


@dataclass(frozen=True)
class TextUnits:
    text: str
    lang: str
    _tokenized: dict[str, list[str]] = field(default_factory=dict, init=False, repr=False, compare=False)

    @cached_property
    def lines(self) -> list[str]:
        """Non-blank lines, stripped."""
        return [line.strip() for line in self.text.split("\n") if line.strip()]

    @cached_property
    def paragraphs(self) -> list[str]:
        """Non-blank paragraphs (split at blank lines), stripped."""
        return [p.strip() for p in _PARAGRAPH_BREAK.split(self.text) if p.strip()]

    @cached_property
    def nonblank_lines(self) -> list[str]:
        """Non-blank lines as they are."""
        return [line for line in self.text.split("\n") if line.strip()]

    @cached_property
    def all_lines(self) -> list[str]:
        """Every line, blank ones included, split at any line boundary (`str.splitlines`)."""
        return self.text.splitlines()

    @cached_property
    def line_runs(self) -> list[str]:
        """The text split at runs of newlines, nothing stripped."""
        return _LINE_RUN_BREAK.split(self.text)

    @cached_property
    def paragraph_runs(self) -> list[str]:
        """The stripped text split at runs of two or more newlines."""
        return _PARAGRAPH_RUN_BREAK.split(self.text.strip())

    def tokens(self, tokenizer: WordTokenizer) -> list[str]:
        found = self._tokenized.get(tokenizer.name)
        if found is None:
            found = self._tokenized[tokenizer.name] = tokenizer.tokens(self.text)
        return found

    def words_of(self, tokenizer: WordTokenizer) -> list[str]:
        key = tokenizer.name + " words"
        found = self._tokenized.get(key)
        if found is None:
            found = self._tokenized[key] = tokenizer.words(self.tokens(tokenizer))
        return found

    @property
    def words(self) -> list[str]:
        """The language's words as the papers count them, punctuation left out."""
        return self.words_of(language(self.lang).tokenizer or WHITESPACE)


def is_han(ch: str) -> bool:
    """A CJK ideograph: the unified blocks, extension A, compatibility ideographs, extensions B and later."""
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" or "\uf900" <= ch <= "\ufaff" or (
        "\U00020000" <= ch <= "\U0003134f")


def character_scores(text: str) -> dict[str, float]:
    """Length in non-whitespace characters, and the share of Han characters among letters and digits: the
    length and script measures of Chinese, where words are a segmenter's guess."""
    visible = sum(1 for c in text if not c.isspace())
    alphanumeric = sum(1 for c in text if c.isalnum())
    han = sum(1 for c in text if is_han(c))
    return {"gopher.chars": float(visible), "gopher.han_frac": han / alphanumeric if alphanumeric else 0.0}


@lru_cache(maxsize=8)
def units_of(text: str, lang: str) -> TextUnits:
    """The shared units of one text: steps called in turn on the same document get the same object."""
    return TextUnits(text, lang)
