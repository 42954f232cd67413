"""Word tokenizers behind one small interface: how a text is cut into tokens, and which tokens are words.

`tokens` are every token of a text, punctuation marks included and whitespace never; `words` are those tokens
without punctuation, as a rule counts words. Which tokenizer a document gets is decided by its language
(`transforms.text.languages`: jieba for Chinese, characters for scripts written without spaces) and, for
languages written with spaces, by the counting convention (`transforms.text.counting`: the papers' whitespace
words or FineWeb's spaCy tokens). `TextUnits` runs each tokenizer at most once per document.
"""

from __future__ import annotations

import unicodedata
from abc import ABC, abstractmethod

from ccrefine.transforms.text.word_tokens import word_tokens


def is_word_piece(token: str) -> bool:
    """A token with a letter, digit or mark: not only punctuation, symbols, separators or control characters."""
    return any(not unicodedata.category(ch).startswith(("P", "Z", "C", "S")) for ch in token)


class WordTokenizer(ABC):
    name: str  # distinct per tokenizer: `TextUnits` keeps each tokenizer's output under it

    @abstractmethod
    def tokens(self, text: str) -> list[str]: ...

    def words(self, tokens: list[str]) -> list[str]:
        """The tokens that are words (the ones with a letter, digit or mark)."""
        return [token for token in tokens if is_word_piece(token)]


# Gopher strips punctuation from the edges of whitespace tokens; CJK punctuation is left to jieba's tokens.
_EDGE_PUNCTUATION = "".join(
    chr(c) for c in range(0x110000) if unicodedata.category(chr(c)).startswith("P") and c < 0x3100
) + "\"'`"


class WhitespaceTokenizer(WordTokenizer):
    """The papers' words: whitespace-separated tokens, punctuation stripped from their edges (Gopher)."""

    name = "whitespace"

    def tokens(self, text: str) -> list[str]:
        return text.split()

    def words(self, tokens: list[str]) -> list[str]:
        stripped = (token.strip(_EDGE_PUNCTUATION) for token in tokens)
        return [token for token in stripped if token]


class SpacyCompatibleTokenizer(WordTokenizer):
    """spaCy's blank English tokenizer (`transforms.text.word_tokens`), as FineWeb's datatrove code counts words:
    every punctuation mark is a token."""

    name = "spacy-compatible"

    def tokens(self, text: str) -> list[str]:
        return word_tokens(text)


class JiebaTokenizer(WordTokenizer):
    """jieba's segmentation of Chinese, whitespace tokens left out."""

    name = "jieba"

    def tokens(self, text: str) -> list[str]:
        import jieba  # imported on first Chinese document: it loads a 20 MB dictionary

        jieba.setLogLevel(60)
        return [token for token in jieba.lcut(text) if token.strip()]


class CharacterTokenizer(WordTokenizer):
    """Scripts written without spaces and without a segmenter here (Japanese, Thai...): each letter or digit is a
    word; punctuation is no token."""

    name = "characters"

    def tokens(self, text: str) -> list[str]:
        return [ch for ch in text if is_word_piece(ch)]

    def words(self, tokens: list[str]) -> list[str]:
        return tokens


WHITESPACE = WhitespaceTokenizer()
SPACY_COMPATIBLE = SpacyCompatibleTokenizer()
JIEBA = JiebaTokenizer()
CHARACTERS = CharacterTokenizer()
