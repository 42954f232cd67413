"""English word tokens as spaCy's blank English tokenizer makes them, without spaCy.

FineWeb was filtered with datatrove, whose Gopher, C4 and FineWeb filters count the tokens of
`spacy.blank("en")` with whitespace tokens removed: punctuation marks are tokens of their own, contractions
split ("do" "n't"), URLs, e-mail addresses and abbreviations ("U.S.", "e.g.") stay whole. datatrove spends tens
of milliseconds per web page in spaCy; this restatement of its algorithm tokenizes a page in 1-2 ms, because
most chunks are plain words and every distinct chunk is split once per process (spaCy caches chunks too).
It is the `SpacyCompatibleTokenizer` of `transforms.text.tokenizers`. tests/transforms/test_word_tokens_spacy.py
asserts the agreement with spaCy on real text; `bench/word_tokens_vs_spacy.py` measures it with timings.

The algorithm, per whitespace-separated chunk (spaCy's `Tokenizer._split_affixes` and `_attach_tokens`): stop at
a special case; else peel one prefix and one suffix per round until none is left (stopping early when the rest
is a special case); the core is a special case, a URL, or is cut at its infixes; finally special cases that
the pieces spell out ("Mr" "." -> "Mr.") are merged back, as spaCy's special-case matcher does. One quirk of that
matcher is not reproduced: it also matches special cases across a space ("[" ":" in "[ :)"), applies none of
them, but lets them block overlapping merges; 1 of 100,000 random strings differs that way, no real text did.
"""

from __future__ import annotations

import re
import unicodedata

from ccrefine.transforms.text.word_token_exceptions import EXCEPTIONS
from ccrefine.transforms.text.word_token_rules import (
    INFIX,
    PREFIX,
    SENTENCE_TERMINALS,
    SUFFIX,
    SUFFIX_REACH,
    URL,
    URL_WITHOUT_USER,
)

_CACHE_LIMIT = 200_000  # distinct chunks remembered per process (a few tens of MB at most)
_LONGEST_EXCEPTION = max(map(len, EXCEPTIONS))
_RUNS = re.compile(r"\s+|\S+")
_chunk_cache: dict[str, tuple[str, ...]] = {}


def word_tokens(text: str) -> list[str]:
    """spaCy's tokens of `text`, whitespace tokens left out (datatrove's `split_into_words` for English)."""
    tokens: list[str] = []
    cache = _chunk_cache
    for chunk in text.split():
        pieces = cache.get(chunk)
        if pieces is None:
            pieces = _remember(chunk)
        if len(pieces) == 1:
            tokens.append(pieces[0])
        else:
            tokens.extend(pieces)
    return tokens


def sentence_count(line: str) -> int:
    """Sentences spaCy's sentencizer finds in one line of text (datatrove's `split_into_sentences` count).

    A sentence ends at a token in the sentence-final set, once a token follows that is not punctuation. spaCy
    keeps whitespace runs other than a single space as tokens, and they count as "not punctuation" too.
    """
    sentences = 0
    seen_end = False
    for token in _tokens_with_whitespace(line):
        if token in SENTENCE_TERMINALS:
            seen_end = True
        elif seen_end and not _is_punctuation(token):
            sentences += 1
            seen_end = False
    return sentences + 1 if line else 0


def _tokens_with_whitespace(text: str):
    """spaCy's tokens including whitespace tokens: a whitespace run is a token unless it is one space after a
    token (the first space after a token belongs to it)."""
    for run in _RUNS.finditer(text):
        piece = run.group()
        if not piece[0].isspace():
            yield from _chunk_tokens(piece)
        elif run.start() > 0 and piece[0] == " ":
            if len(piece) > 1:
                yield piece[1:]
        else:
            yield piece


def _is_punctuation(token: str) -> bool:
    return all(unicodedata.category(ch).startswith("P") for ch in token)


def _chunk_tokens(chunk: str) -> tuple[str, ...]:
    pieces = _chunk_cache.get(chunk)
    return pieces if pieces is not None else _remember(chunk)


def _remember(chunk: str) -> tuple[str, ...]:
    if len(_chunk_cache) >= _CACHE_LIMIT:
        _chunk_cache.clear()
    pieces = _chunk_cache[chunk] = split_chunk(chunk)
    return pieces


def split_chunk(chunk: str) -> tuple[str, ...]:
    """The tokens of one whitespace-free chunk."""
    special = EXCEPTIONS.get(chunk)
    if special is not None:
        return special
    if chunk.isalpha() or chunk.isdigit():  # no affix, infix or URL rule can apply to these
        return (chunk,)
    core, prefixes, suffixes = _peel_affixes(chunk)
    tokens = prefixes
    if core:
        special = EXCEPTIONS.get(core)
        if special is not None:
            tokens.extend(special)
        elif _is_url(core):
            tokens.append(core)
        else:
            tokens.extend(_split_infixes(core))
    tokens.extend(reversed(suffixes))
    if len(tokens) > 1:
        tokens = _merge_split_specials(tokens)
    return tuple(tokens)


def _peel_affixes(chunk: str, specials=EXCEPTIONS) -> tuple[str, list[str], list[str]]:
    """(core, prefixes, suffixes): spaCy's affix loop, on indices so that a long run of affixes ("=====")
    costs linear time rather than a copy and a full suffix scan per character."""
    prefixes: list[str] = []
    suffixes: list[str] = []

    def is_special(begin: int, stop: int) -> bool:
        return stop - begin <= _LONGEST_EXCEPTION and chunk[begin:stop] in specials

    start, end, last_size = 0, len(chunk), -1
    while start < end and end - start != last_size:
        if is_special(start, end):
            break
        last_size = end - start
        match = PREFIX.match(chunk, start, end)
        pre_len = match.end() - start if match else 0
        if pre_len and start + pre_len < end and is_special(start + pre_len, end):
            prefixes.append(chunk[start : start + pre_len])
            start += pre_len
            break
        suf_len = _suffix_length(chunk, start + pre_len, end)
        if suf_len and end - suf_len > start and is_special(start, end - suf_len):
            suffixes.append(chunk[end - suf_len : end])
            end -= suf_len
            break
        if pre_len and suf_len and pre_len + suf_len <= end - start:
            prefixes.append(chunk[start : start + pre_len])
            suffixes.append(chunk[end - suf_len : end])
            start, end = start + pre_len, end - suf_len
        elif pre_len:
            prefixes.append(chunk[start : start + pre_len])
            start += pre_len
        elif suf_len:
            suffixes.append(chunk[end - suf_len : end])
            end -= suf_len
    return chunk[start:end], prefixes, suffixes


def _suffix_length(chunk: str, start: int, end: int) -> int:
    """Length of the suffix of chunk[start:end], searched as spaCy does on that slice."""
    if end - start >= 2 and chunk.endswith("..", start, end):  # a run of periods is one suffix
        run_start = end - 2
        while run_start > start and chunk[run_start - 1] == ".":
            run_start -= 1
        return end - run_start
    if end - start <= SUFFIX_REACH + 2:  # lookbehinds must not see what precedes the slice
        match = SUFFIX.search(chunk[start:end])
    else:
        match = SUFFIX.search(chunk, end - SUFFIX_REACH, end)
    return match.end() - match.start() if match else 0


def _is_url(core: str) -> bool:
    if "." not in core:  # every host name and address has one
        return False
    return bool((URL if "@" in core else URL_WITHOUT_USER).match(core))


def _split_infixes(core: str) -> list[str]:
    pieces: list[str] = []
    start = 0
    for match in INFIX.finditer(core):
        if match.start() == 0:  # spaCy ignores an infix at the very start
            continue
        if match.start() != start:
            pieces.append(core[start : match.start()])
        if match.end() != match.start():
            pieces.append(match.group())
        start = match.end()
    if start < len(core):
        pieces.append(core[start:])
    return pieces


def _affix_split_specials() -> dict[tuple[str, ...], tuple[str, ...]]:
    """Special cases that the affix rules would cut ("Mr." -> "Mr" "."), by those pieces."""
    split = {}
    for string, tokens in EXCEPTIONS.items():
        if string.isspace():
            continue
        core, prefixes, suffixes = _peel_affixes(string, specials={})
        middle = [core] if _is_url(core) else _split_infixes(core)
        pieces = (*prefixes, *middle, *reversed(suffixes))
        if len(pieces) > 1:
            split[pieces] = tokens
    return split


_SPLIT_SPECIALS = _affix_split_specials()
_SPLIT_SPECIAL_STARTS = {pieces[0] for pieces in _SPLIT_SPECIALS}
_LONGEST_SPLIT_SPECIAL = max(map(len, _SPLIT_SPECIALS))


def _merge_split_specials(tokens: list[str]) -> list[str]:
    """Merge runs of pieces that spell a special case, longest and then leftmost runs first (spaCy's
    special-case matcher)."""
    if not _SPLIT_SPECIAL_STARTS.intersection(tokens):
        return tokens
    matches = []
    for start, token in enumerate(tokens):
        if token not in _SPLIT_SPECIAL_STARTS:
            continue
        for size in range(2, min(_LONGEST_SPLIT_SPECIAL, len(tokens) - start) + 1):
            if tuple(tokens[start : start + size]) in _SPLIT_SPECIALS:
                matches.append((size, start))
    taken: set[int] = set()
    chosen = []
    for size, start in sorted(matches, key=lambda match: (-match[0], match[1])):
        if start not in taken and start + size - 1 not in taken:
            chosen.append((start, size))
        taken.update(range(start, start + size))
    if not chosen:
        return tokens
    merged, position = [], 0
    for start, size in sorted(chosen):
        merged.extend(tokens[position:start])
        merged.extend(_SPLIT_SPECIALS[tuple(tokens[start : start + size])])
        position = start + size
    merged.extend(tokens[position:])
    return merged
