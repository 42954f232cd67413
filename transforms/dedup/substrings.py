"""The pure half of exact-substring deduplication (Lee et al. 2022, "Deduplicating Training Data Makes Language
Models Better"; RefinedWeb removes such spans too).

Definition. Documents are ordered by id and token positions within them, which orders every position in the
corpus. A window is the k tokens starting at a position (k = `min_tokens`, 50 by default). A window is a *later
copy* when the same k tokens also start at an earlier position. Every token covered by a later copy is removed; so
of each span of >= k tokens that occurs more than once, the first occurrence stays and every other is cut. Tokens
are words with their punctuation (whitespace-separated), jieba words for Chinese, characters for other scripts
written without spaces; a document that loses tokens and keeps fewer than `min_tokens_left` is dropped.

Two implementations compute the same later copies:
- hashed windows, the distributed one. First a cheap pass finds where a copy can be at all: each document sends
  only its winnowed anchors (Schleimer et al. 2003). A window's anchor is the smallest hash of the k - a + 1 pieces
  of a = ceil(k/2) tokens inside it, so it depends on the window's tokens alone and every occurrence of a repeated
  window has the same one; a document sends each distinct anchor once (about 2 per k tokens), and learns back
  which of them another document (or its own text, twice) has too. Documents with no shared anchor leave the stage
  untouched; the others send a rolling 64-bit hash of only the windows whose anchor is shared, partitioned by
  hash so that one worker holds one partition; within a partition the earliest occurrence of each hash is found
  by sorting; each claimed copy is then checked token by token against its first occurrence (requests merged into
  runs, so the tokens travel once per run) and hash collisions are counted and ignored.
- a suffix array over the token ids of the whole corpus (pydivsufsort, 64-bit offsets): the reference for
  single-machine corpora and for tests.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from ccrefine.transforms.dedup.minhash import PolynomialPowers, fmix64, partition_ranges, word_hashes
from ccrefine.transforms.text.units import CHARACTER_WORDS, SEGMENTED_BY_JIEBA

_WINDOW_POWERS = PolynomialPowers(0x9E3779B97F4A7C15)
_WHITESPACE_RUN = re.compile(r"\S+")


@dataclass(frozen=True)
class SubstringOptions:
    min_tokens: int = 50  # Lee et al. use 50 BPE tokens; here 50 words
    min_tokens_left: int = 50  # a document cut below this many tokens is dropped (Gopher's minimum length)
    partitions: int = 16  # window-hash partitions: a worker holds about 1/partitions of all windows

    def __post_init__(self):
        if self.min_tokens < 2 or self.min_tokens_left < 0 or self.partitions < 1:
            raise ValueError(f"need min_tokens >= 2, min_tokens_left >= 0, partitions >= 1, got {self}")


@dataclass(frozen=True)
class TokenSpans:
    """A document's tokens and their character spans in its text."""

    tokens: list[str]
    starts: list[int]
    ends: list[int]


def tokenize_with_offsets(text: str, lang: str) -> TokenSpans:
    """Whitespace-separated words, jieba words for Chinese, characters for other unsegmented scripts."""
    tokens, starts, ends = [], [], []
    if lang in SEGMENTED_BY_JIEBA:
        import jieba  # loads its dictionary on first use

        jieba.setLogLevel(60)
        for piece, start, _end in jieba.tokenize(text):
            for match in _WHITESPACE_RUN.finditer(piece):
                tokens.append(match.group())
                starts.append(start + match.start())
                ends.append(start + match.end())
    elif lang in CHARACTER_WORDS:
        for index, ch in enumerate(text):
            if not ch.isspace():
                tokens.append(ch)
                starts.append(index)
                ends.append(index + 1)
    else:
        for match in _WHITESPACE_RUN.finditer(text):
            tokens.append(match.group())
            starts.append(match.start())
            ends.append(match.end())
    return TokenSpans(tokens, starts, ends)


def substring_tokens(text: str, lang: str) -> list[str]:
    """The tokens of tokenize_with_offsets without their offsets (str.split splits on the same whitespace as
    `\\S+`, at a tenth of the cost): what the window and anchor passes hash."""
    if lang in SEGMENTED_BY_JIEBA or lang in CHARACTER_WORDS:
        return tokenize_with_offsets(text, lang).tokens
    return text.split()


def window_hashes(tokens: list[str], k: int) -> np.ndarray:
    """A 64-bit hash of every window of k tokens (empty when there are fewer than k): prefix sums of token
    hashes times powers of a base, so each window costs O(1)."""
    if len(tokens) < k:
        return np.zeros(0, dtype=np.uint64)
    hashes = word_hashes(" ".join(tokens))  # tokens hold no whitespace, so this splits back into them
    up, down = _WINDOW_POWERS.table(len(hashes) + 1)
    prefix = np.zeros(len(hashes) + 1, dtype=np.uint64)
    np.cumsum(hashes * up[: len(hashes)], out=prefix[1:])
    count = len(hashes) - k + 1
    return fmix64((prefix[k : k + count] - prefix[:count]) * down[:count])


@dataclass(frozen=True)
class Anchors:
    """A document's part of the anchor pass: its distinct anchors, and those that occur twice inside it (each is
    shared already, without a shuffle)."""

    anchors: np.ndarray
    repeated_inside: np.ndarray


def sliding_minimum(values: np.ndarray, width: int) -> np.ndarray:
    """min(values[i : i + width]) for every full window, by doubling spans (log2(width) numpy passes)."""
    result, span = values, 1
    while span * 2 <= width:
        result = np.minimum(result[:-span], result[span:])
        span *= 2
    count = len(values) - width + 1
    return np.minimum(result[:count], result[width - span : width - span + count])


def window_anchors(tokens: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
    """(the anchor of every k-window, the hashes of all a-token pieces): a window's anchor is the smallest hash of
    the k - a + 1 pieces of a = ceil(k/2) tokens inside it, so it depends on the window's tokens alone."""
    size = (k + 1) // 2
    pieces = window_hashes(tokens, size)
    return sliding_minimum(pieces, k - size + 1), pieces


def document_anchors(tokens: list[str], options: SubstringOptions) -> Anchors:
    if len(tokens) < options.min_tokens:  # no window at all
        return Anchors(np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.uint64))
    anchors, pieces = window_anchors(tokens, options.min_tokens)
    anchors = np.unique(anchors)
    ordered = np.sort(pieces)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    return Anchors(anchors, anchors[np.isin(anchors, repeated)])


def anchor_records(doc_id: str, anchors: np.ndarray, partitions: int) -> list[tuple[int, tuple[str, bytes]]]:
    """(partition, (doc id, anchor hashes as bytes)) for every partition holding one of the document's anchors."""
    return [(partition, (doc_id, blob)) for partition, (blob,) in _partition_blobs(anchors, partitions)]


def _partition_blobs(hashes: np.ndarray, partitions: int, *columns: np.ndarray) -> list[tuple[int, list[bytes]]]:
    """(partition, [bytes of hashes, bytes of each column]) per partition (hash % partitions) holding a hash; one
    sort and byte slices, so a document's records cost microseconds, not a numpy call per partition."""
    order, ranges = partition_ranges(hashes, partitions)
    blobs = [(array[order].tobytes(), array.itemsize) for array in (hashes, *columns)]
    return [(index, [blob[first * size : last * size] for blob, size in blobs]) for index, first, last in ranges]


def shared_anchors(records: Iterable[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """For one partition: (doc id, its anchors that another document has too) for every document with one."""
    records = list(records)
    if not records:
        return []
    per_document = [np.frombuffer(blob, dtype=np.uint64) for _, blob in records]
    owners = np.concatenate([np.full(len(h), index, dtype=np.int64) for index, h in enumerate(per_document)])
    hashes = np.concatenate(per_document)
    order = np.argsort(hashes, kind="stable")
    hashes, owners = hashes[order], owners[order]
    shared = np.zeros(len(hashes), dtype=bool)
    same_as_next = hashes[1:] == hashes[:-1]  # each document's anchors are distinct, so equal hashes mean 2 docs
    shared[1:] |= same_as_next
    shared[:-1] |= same_as_next
    owners, hashes = owners[shared], hashes[shared]
    if not len(owners):
        return []
    by_owner = np.argsort(owners, kind="stable")
    owners, hashes = owners[by_owner], hashes[by_owner]
    starts = np.flatnonzero(np.concatenate(([True], owners[1:] != owners[:-1])))
    ends = np.concatenate((starts[1:], [len(owners)]))
    return [(records[owners[a]][0], hashes[a:b].tobytes()) for a, b in zip(starts, ends, strict=True)]


def window_records(doc_id: str, tokens: list[str], shared: np.ndarray,
                   options: SubstringOptions) -> list[tuple[int, tuple]]:
    """(partition, (doc id, window hashes, window positions)) for every partition holding one of the windows whose
    anchor is shared (no other window can be repeated: every occurrence of a window has the same anchor); hashes
    and int32 positions travel as bytes, which Beam encodes without pickling."""
    if len(tokens) < options.min_tokens or not len(shared):
        return []
    anchors, _ = window_anchors(tokens, options.min_tokens)
    positions = np.flatnonzero(np.isin(anchors, shared))
    hashes = window_hashes(tokens, options.min_tokens)[positions]
    return [(partition, (doc_id, *blobs)) for partition, blobs in _partition_blobs(hashes, options.partitions,
                                                                                    positions.astype(np.int32))]


def later_copies_in_partition(records: Iterable[tuple[str, bytes, bytes]]) -> list[tuple[str, tuple]]:
    """For one partition: (first doc, (copy doc, copy positions, first positions)) for every window whose hash
    occurs at an earlier (doc id, position); these are claims, checked token by token later."""
    records = [(doc_id, np.frombuffer(h, dtype=np.uint64), np.frombuffer(p, dtype=np.int32).astype(np.int64))
               for doc_id, h, p in records]
    if not records:
        return []
    ids = sorted({doc_id for doc_id, _, _ in records})
    rank_of = {doc_id: rank for rank, doc_id in enumerate(ids)}
    hashes = np.concatenate([h for _, h, _ in records])
    positions = np.concatenate([p for _, _, p in records])
    ranks = np.concatenate([np.full(len(h), rank_of[doc_id], dtype=np.int64) for doc_id, h, _ in records])
    order = np.lexsort((positions, ranks, hashes))
    hashes, positions, ranks = hashes[order], positions[order], ranks[order]
    group_start = np.ones(len(hashes), dtype=bool)
    group_start[1:] = hashes[1:] != hashes[:-1]
    first = np.maximum.accumulate(np.where(group_start, np.arange(len(hashes)), 0))
    copies = np.flatnonzero(~group_start)
    if not len(copies):
        return []
    first_rank, first_pos = ranks[first[copies]], positions[first[copies]]
    copy_rank, copy_pos = ranks[copies], positions[copies]
    pair_order = np.lexsort((copy_pos, copy_rank, first_rank))
    first_rank, first_pos = first_rank[pair_order], first_pos[pair_order]
    copy_rank, copy_pos = copy_rank[pair_order], copy_pos[pair_order]
    changes = np.flatnonzero((np.diff(first_rank) != 0) | (np.diff(copy_rank) != 0)) + 1
    claims = []
    for start, end in zip(np.concatenate(([0], changes)), np.concatenate((changes, [len(copy_pos)])), strict=True):
        claims.append((ids[first_rank[start]], (ids[copy_rank[start]], copy_pos[start:end], first_pos[start:end])))
    return claims


def answer_claims(tokens: list[str], claims: Iterable[tuple[str, np.ndarray, np.ndarray]], k: int) -> list:
    """At the first occurrence's document: merge the claims of each copy document into runs of consecutive windows
    and send back the tokens of each run once: (copy doc, (copy start position, tokens of the run))."""
    by_copy: dict[str, list] = {}
    for copy_id, copy_pos, first_pos in claims:
        by_copy.setdefault(copy_id, []).append((copy_pos, first_pos))
    answers = []
    for copy_id, parts in sorted(by_copy.items()):
        copy_pos = np.concatenate([c for c, _ in parts])
        first_pos = np.concatenate([f for _, f in parts])
        order = np.argsort(copy_pos, kind="stable")
        copy_pos, first_pos = copy_pos[order], first_pos[order]
        breaks = np.flatnonzero((np.diff(copy_pos) != 1) | (np.diff(first_pos) != 1)) + 1
        for run in np.split(np.arange(len(copy_pos)), breaks):
            start = int(first_pos[run[0]])
            answers.append((copy_id, (int(copy_pos[run[0]]), tokens[start : int(first_pos[run[-1]]) + k])))
    return answers


def verified_windows(tokens: list[str], answers: Iterable[tuple[int, list[str]]], k: int) -> tuple[np.ndarray, int]:
    """At the copy: the window positions whose k tokens equal the first occurrence's, and how many claimed windows
    did not (64-bit hash collisions)."""
    verified, collisions = [], 0
    for copy_start, run_tokens in answers:
        claimed = len(run_tokens) - k + 1
        mine = tokens[copy_start : copy_start + len(run_tokens)]
        same = np.fromiter(map(str.__eq__, mine, run_tokens), dtype=bool, count=len(mine))
        mismatches = np.concatenate(([0], np.cumsum(~same)))
        checkable = max(0, len(mine) - k + 1)
        good = np.flatnonzero(mismatches[k : k + checkable] == mismatches[:checkable])
        verified.append(good + copy_start)
        collisions += claimed - len(good)
    positions = np.unique(np.concatenate(verified)) if verified else np.zeros(0, dtype=np.int64)
    return positions, collisions


def removed_token_mask(token_count: int, window_positions: np.ndarray, k: int) -> np.ndarray:
    """True for every token covered by one of the windows."""
    cover = np.zeros(token_count + 1, dtype=np.int64)
    np.add.at(cover, window_positions, 1)
    np.add.at(cover, np.minimum(window_positions + k, token_count), -1)
    return np.cumsum(cover[:-1]) > 0


@dataclass(frozen=True)
class Removal:
    text: str
    spans: int
    tokens_removed: int
    tokens_left: int


def remove_tokens(text: str, spans: TokenSpans, mask: np.ndarray) -> Removal:
    """Cut each run of removed tokens from its first character to the next kept token (so the whitespace that
    followed it goes too)."""
    pieces, spans_cut, kept_from = [], 0, 0
    count = len(spans.tokens)
    index = 0
    while index < count:
        if not mask[index]:
            index += 1
            continue
        end = index
        while end < count and mask[end]:
            end += 1
        pieces.append(text[kept_from : spans.starts[index]])
        kept_from = spans.starts[end] if end < count else len(text)
        spans_cut += 1
        index = end
    if not spans_cut:
        return Removal(text, 0, 0, count)
    pieces.append(text[kept_from:])
    removed = int(mask.sum())
    return Removal("".join(pieces).strip(), spans_cut, removed, count - removed)


# ---- single-machine implementations over a whole corpus ---------------------------------------------------------


def shared_anchors_by_document(documents: dict[str, list[str]], options: SubstringOptions) -> dict[str, np.ndarray]:
    """The anchor pass in one process: {doc id: its shared anchors} for every document that may hold a repeat."""
    shared: dict[str, list] = {}
    anchor_partitions: dict[int, list] = {}
    for doc_id, tokens in documents.items():
        anchors = document_anchors(tokens, options)
        if len(anchors.repeated_inside):
            shared.setdefault(doc_id, []).append(anchors.repeated_inside)
        for partition, record in anchor_records(doc_id, anchors.anchors, options.partitions):
            anchor_partitions.setdefault(partition, []).append(record)
    for records in anchor_partitions.values():
        for doc_id, blob in shared_anchors(records):
            shared.setdefault(doc_id, []).append(np.frombuffer(blob, dtype=np.uint64))
    return {doc_id: np.unique(np.concatenate(parts)) for doc_id, parts in shared.items()}


def later_copies_hashed(documents: dict[str, list[str]], options: SubstringOptions) -> dict[str, np.ndarray]:
    """{doc id: verified later-copy window positions}, by running the distributed steps in one process."""
    partitions: dict[int, list] = {}
    for doc_id, shared in sorted(shared_anchors_by_document(documents, options).items()):
        for partition, record in window_records(doc_id, documents[doc_id], shared, options):
            partitions.setdefault(partition, []).append(record)
    claims_at: dict[str, list] = {}
    for records in partitions.values():
        for first_id, claim in later_copies_in_partition(records):
            claims_at.setdefault(first_id, []).append(claim)
    answers_at: dict[str, list] = {}
    for first_id, claims in claims_at.items():
        for copy_id, answer in answer_claims(documents[first_id], claims, options.min_tokens):
            answers_at.setdefault(copy_id, []).append(answer)
    result = {}
    for copy_id, answers in answers_at.items():
        positions, _ = verified_windows(documents[copy_id], answers, options.min_tokens)
        if len(positions):
            result[copy_id] = positions
    return result


def suffix_array(values: np.ndarray) -> np.ndarray:
    """The suffix array of a sequence of non-negative integers, with 64-bit offsets: the values are written as
    fixed-width big-endian bytes (byte order then equals integer order) and only aligned suffixes are kept."""
    from pydivsufsort import divsufsort

    width = next(w for w in (1, 2, 4, 8) if int(values.max(initial=0)) < 1 << (8 * w))
    data = values.astype(f">u{width}").view(np.uint8)
    offsets = divsufsort(data, force64=True).astype(np.int64)
    return offsets[offsets % width == 0] // width


def later_copies_by_suffix_array(documents: dict[str, list[str]], k: int) -> dict[str, np.ndarray]:
    """The reference: {doc id: later-copy window positions}, from a suffix array of the concatenated corpus (docs
    in id order, each followed by a separator of its own, so no match crosses a document boundary)."""
    from pydivsufsort import kasai

    ids = sorted(documents)
    vocabulary: dict[str, int] = {}
    sequence, doc_starts = [], []
    for doc_id in ids:
        doc_starts.append(len(sequence))
        sequence.extend(vocabulary.setdefault(token, len(vocabulary)) for token in documents[doc_id])
        sequence.append(-1)
    if not sequence:
        return {}
    values = np.array(sequence, dtype=np.int64)
    separators = np.flatnonzero(values < 0)
    values[separators] = len(vocabulary) + np.arange(len(separators))
    order = suffix_array(values)
    common = kasai(values, order)  # common[i]: common prefix of suffixes order[i] and order[i + 1]
    same_window = common[:-1] >= k
    group_start = np.concatenate(([True], ~same_window))
    group_id = np.cumsum(group_start) - 1
    group_first = np.minimum.reduceat(order, np.flatnonzero(group_start))
    copies = order[order != group_first[group_id]]
    doc_index = np.searchsorted(doc_starts, copies, side="right") - 1
    result = {}
    for index in np.unique(doc_index):
        result[ids[index]] = np.sort(copies[doc_index == index] - doc_starts[index])
    return result
