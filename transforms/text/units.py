"""The units every heuristic counts — lines, paragraphs, words — computed once per document and shared.

English and other space-delimited languages split words on whitespace (Gopher strips punctuation from
word edges); Chinese is segmented with jieba, since characters are not words and whitespace is absent.
Japanese and Thai have no segmenter here, so their "words" are characters. `word_tokens` are the tokens
FineWeb's code counts (spaCy's English tokenizer, punctuation marks included), for `counting: fineweb`.

`units_of` keeps the last few documents' units, so the steps that look at one document in turn (repetition,
quality, FineWeb) split and tokenise its text once.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property, lru_cache

from ccrefine.transforms.text.word_tokens import word_tokens as english_word_tokens

SEGMENTED_BY_JIEBA = frozenset({"zh"})
CHARACTER_WORDS = frozenset({"ja", "th", "lo", "km", "my", "bo"})
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def _is_word_piece(token: str) -> bool:
    return any(not unicodedata.category(ch).startswith(("P", "Z", "C", "S")) for ch in token)


@dataclass(frozen=True)
class TextUnits:
    text: str
    lang: str

    @cached_property
    def lines(self) -> list[str]:
        return [line.strip() for line in self.text.split("\n") if line.strip()]

    @cached_property
    def paragraphs(self) -> list[str]:
        return [p.strip() for p in _PARAGRAPH_BREAK.split(self.text) if p.strip()]

    @cached_property
    def _jieba(self) -> list[str]:
        """jieba's tokens, made once for `words` and `raw_tokens`."""
        return _jieba_tokens(self.text)

    @cached_property
    def words(self) -> list[str]:
        """Words without surrounding punctuation; punctuation-only tokens are dropped."""
        if self.lang in SEGMENTED_BY_JIEBA:
            return [token for token in self._jieba if _is_word_piece(token)]
        if self.lang in CHARACTER_WORDS:
            return [ch for ch in self.text if _is_word_piece(ch)]
        stripped = (token.strip(_EDGE_PUNCTUATION) for token in self.text.split())
        return [token for token in stripped if token]

    @cached_property
    def raw_tokens(self) -> list[str]:
        """Whitespace tokens before punctuation stripping (Gopher counts symbols such as `#` on these)."""
        if self.lang in SEGMENTED_BY_JIEBA:
            return [token for token in self._jieba if token.strip()]
        return self.text.split()

    @cached_property
    def word_tokens(self) -> list[str]:
        """Tokens as spaCy makes them (FineWeb's words): punctuation marks are tokens, whitespace is not.
        Chinese tokens come from jieba and character-script languages count characters, as `words` do."""
        if self.lang in SEGMENTED_BY_JIEBA:
            return self.raw_tokens
        if self.lang in CHARACTER_WORDS:
            return self.words
        return english_word_tokens(self.text)


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


_EDGE_PUNCTUATION = "".join(
    chr(c) for c in range(0x110000) if unicodedata.category(chr(c)).startswith("P") and c < 0x3100
) + "\"'`"


def _jieba_tokens(text: str) -> list[str]:
    import jieba  # imported on first Chinese document: it loads a 20 MB dictionary

    jieba.setLogLevel(60)
    return jieba.lcut(text)
