"""N-gram and repeat counting over a list of tokens (the Gopher repetition rules' units)."""

from __future__ import annotations

from collections import Counter


def ngram_keys(tokens: list[str], n: int) -> list[str]:
    """Every n-gram as its tokens joined by single spaces (tokens hold no spaces, so equal keys are equal token
    tuples): slicing one joined string is much cheaper than building a tuple per position when n is large."""
    joined = " ".join(tokens)
    starts = [0] * (len(tokens) + 1)
    for i, token in enumerate(tokens):
        starts[i + 1] = starts[i] + len(token) + 1
    return [joined[starts[i] : starts[i + n] - 1] for i in range(len(tokens) - n + 1)]


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


def top_ngram_chars(tokens: list[str], n: int, with_spaces: bool, repeats_only: bool) -> int:
    """Characters of the most frequent n-gram (the first one on a tie) times its occurrences, the spaces between
    its tokens counted or not. With `repeats_only`, 0 when no n-gram repeats."""
    if len(tokens) < n:
        return 0
    gram, occurrences = Counter(ngram_keys(tokens, n)).most_common(1)[0]
    if repeats_only and occurrences < 2:
        return 0
    return (len(gram) if with_spaces else len(gram) - (n - 1)) * occurrences


def covered_duplicate_chars(tokens: list[str], n: int) -> int:
    """Characters of the tokens inside any n-gram that occurs more than once, each token counted once (Gopher)."""
    if len(tokens) < n:
        return 0
    grams = ngram_keys(tokens, n)
    counts = Counter(grams)
    covered = bytearray(len(tokens))
    for start, gram in enumerate(grams):
        if counts[gram] > 1:
            covered[start : start + n] = b"\x01" * n
    return sum(len(token) for token, flag in zip(tokens, covered, strict=True) if flag)


def greedy_duplicate_chars(tokens: list[str], n: int) -> int:
    """Characters of n-grams (tokens joined without spaces) equal to an earlier one, the scan jumping past each
    repeat (datatrove's count)."""
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
