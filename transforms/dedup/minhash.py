"""The pure half of MinHash near-duplicate removal: normalised shingles, signatures, LSH bands, the keep rule.

Shingles are word n-grams of the normalised text (lower case, accents folded, digits -> 0, punctuation and symbols
removed, whitespace collapsed), or character n-grams for scripts written without spaces (Chinese, Japanese, Thai...;
jieba words for Chinese on request). Each shingle is hashed to 32 bits with the function below (`shingle_hash32`),
then permuted with datasketch's "affine32" scheme: the permutation parameters come from
`datasketch.MinHash(num_perm, seed, scheme="affine32")` and the arithmetic is datasketch's, vectorised over a
whole batch of documents with numpy (tens of times faster than datasketch calling a Python hash function per
shingle). `minhash_settings` is the record of everything that must match before two signatures may be compared;
datasketch 2.0 changed its default scheme, so the scheme is pinned here rather than taken from the installed default.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from ccrefine.transforms.text.units import CHARACTER_WORDS, SEGMENTED_BY_JIEBA

SCHEME = "affine32"
HASH_FUNCTION = (
    "ccrefine-shingle-v1: token = fmix64(sum (codepoint_j + 1) * 0x100000001b3^j), "
    "shingle = fmix64(sum token_m * 0x9e3779b97f4a7c15^m) >> 32"
)
UNSEGMENTED = SEGMENTED_BY_JIEBA | CHARACTER_WORDS
KEEP_RULES = ("smallest-id", "longest")  # or "score:<name>": the highest value of that score wins

_MASK64 = (1 << 64) - 1
_TOKEN_BASE = 0x100000001B3
_SHINGLE_BASE = 0x9E3779B97F4A7C15
_BAND_BASE = 0xC2B2AE3D27D4EB4F


# ---- LSH parameters ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LshParams:
    """b bands of r rows: two documents become candidates when all r hashes of at least one band agree."""

    bands: int
    rows: int

    def __post_init__(self):
        if self.bands < 1 or self.rows < 1:
            raise ValueError(f"bands and rows must be at least 1, got {self.bands} x {self.rows}")

    @property
    def num_perm(self) -> int:
        return self.bands * self.rows

    @property
    def threshold(self) -> float:
        """The Jaccard similarity where the S-curve is steepest, about (1/b)^(1/r)."""
        return (1 / self.bands) ** (1 / self.rows)

    def candidate_probability(self, jaccard):
        """P(candidate | Jaccard s) = 1 - (1 - s^r)^b (works on arrays)."""
        return 1 - (1 - np.asarray(jaccard, dtype=float) ** self.rows) ** self.bands


# FineWeb (datatrove MinhashConfig: 14 buckets x 8 hashes) and RefinedWeb (Penedo et al. 2023, section G.2: 9,000
# hashes in 450 buckets of 20), both on 5-grams.
PRESETS = {"fineweb": LshParams(14, 8), "refinedweb": LshParams(450, 20)}


def _areas(params: LshParams, threshold: float, points: int = 201) -> tuple[float, float]:
    below = np.linspace(0, threshold, points)
    above = np.linspace(threshold, 1, points)
    false_positive = np.trapezoid(params.candidate_probability(below), below)
    false_negative = np.trapezoid(1 - params.candidate_probability(above), above)
    return float(false_positive), float(false_negative)


def choose_bands_rows(
    threshold: float, num_perm: int, false_positive_weight: float = 0.5, false_negative_weight: float = 0.5
) -> LshParams:
    """The b x r (b * r <= num_perm) that minimises the weighted areas under the S-curve below the threshold
    (candidates that are not duplicates) and above it (duplicates that are missed)."""
    if not 0 < threshold < 1 or num_perm < 1:
        raise ValueError(f"need 0 < threshold < 1 and num_perm >= 1, got {threshold}, {num_perm}")
    best, best_error = LshParams(1, 1), float("inf")
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            params = LshParams(bands, rows)
            false_positive, false_negative = _areas(params, threshold)
            error = false_positive_weight * false_positive + false_negative_weight * false_negative
            if error < best_error:
                best, best_error = params, error
    return best


# ---- normalisation and tokens ------------------------------------------------------------------------------------


class _NormalizationTable(dict):
    """str.translate table built lazily: digits -> 0; punctuation, symbols (U+FFFD from broken decoding among
    them), format characters, lone surrogates and the accents NFKD splits off Latin letters (U+0300-036F) removed.
    Combining marks of other scripts (Devanagari vowel signs) stay: they are part of words."""

    def __missing__(self, code: int):
        ch = chr(code)
        category = unicodedata.category(ch)
        if category[0] in "PS" or category in ("Cf", "Cs") or 0x300 <= code <= 0x36F:
            value = None
        elif ch.isdecimal():
            value = "0"
        else:
            value = code
        self[code] = value
        return value


_NORMALIZATION = _NormalizationTable()
# The same mapping for ASCII, applied to UTF-8 bytes (bytes.translate is an order of magnitude faster than
# str.translate on text that is not pure ASCII; multi-byte sequences have no byte below 0x80, so they pass intact).
_ASCII_DIGITS = bytes.maketrans(b"0123456789", b"0000000000")
_ASCII_REMOVED = bytes(code for code in range(128) if _NORMALIZATION[code] is None)
_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")


def _normalize_run(match: re.Match) -> str:
    return match.group().translate(_NORMALIZATION)


def normalize_text(text: str) -> str:
    """Lower case, accents folded, every digit 0, punctuation and symbols removed, single spaces."""
    text = text.lower()
    if text.isascii():
        return " ".join(text.encode().translate(_ASCII_DIGITS, _ASCII_REMOVED).decode().split())
    text = unicodedata.normalize("NFKD", text).encode("utf-8", "surrogatepass")
    text = text.translate(_ASCII_DIGITS, _ASCII_REMOVED).decode("utf-8", "surrogatepass")
    return " ".join(_NON_ASCII_RUN.sub(_normalize_run, text).split())


def uses_characters(lang: str, cjk_words: bool) -> bool:
    """Scripts without spaces are shingled by characters, unless jieba words are asked for (Chinese only)."""
    return lang in UNSEGMENTED and not (cjk_words and lang in SEGMENTED_BY_JIEBA)


def shingle_tokens(text: str, lang: str, cjk_words: bool = False) -> list[str]:
    """The tokens shingles are made of: words, or characters for scripts written without spaces."""
    normalized = normalize_text(text)
    if uses_characters(lang, cjk_words):
        return [ch for ch in normalized if ch != " "]
    if cjk_words and lang in SEGMENTED_BY_JIEBA:
        import jieba  # loads its dictionary on first use

        jieba.setLogLevel(60)
        return [token for token in jieba.lcut(normalized) if token.strip()]
    return normalized.split()


# ---- hashing -----------------------------------------------------------------------------------------------------


_FMIX64_MULTIPLIERS = (0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53)  # MurmurHash3's 64-bit finaliser: xor-shift 33, x m


def fmix64(values: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser on an array (wrapping uint64 arithmetic)."""
    for multiplier in _FMIX64_MULTIPLIERS:
        values = (values ^ (values >> np.uint64(33))) * np.uint64(multiplier)
    return values ^ (values >> np.uint64(33))


def _fmix64_int(value: int) -> int:
    """The same finaliser on one Python int: the scalar hashes below stay cheap for datasketch's per-shingle calls."""
    for multiplier in _FMIX64_MULTIPLIERS:
        value = ((value ^ (value >> 33)) * multiplier) & _MASK64
    return value ^ (value >> 33)


def _fmix32(values: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finaliser: datasketch's affine32 pre-mix of every input hash."""
    values = values ^ (values >> np.uint32(16))
    values = values * np.uint32(0x85EBCA6B)
    values = values ^ (values >> np.uint32(13))
    values = values * np.uint32(0xC2B2AE35)
    return values ^ (values >> np.uint32(16))


def token_hash64(token: str) -> int:
    """The 64-bit hash of one token (the scalar definition the vectorised path reproduces)."""
    total, power = 0, 1
    for ch in token:
        total = (total + (ord(ch) + 1) * power) & _MASK64
        power = (power * _TOKEN_BASE) & _MASK64
    return _fmix64_int(total)


def shingle_hash32(shingle: tuple[str, ...]) -> int:
    """The 32-bit hash of one shingle: datasketch's `hashfunc` for these signatures."""
    total, power = 0, 1
    for token in shingle:
        total = (total + token_hash64(token) * power) & _MASK64
        power = (power * _SHINGLE_BASE) & _MASK64
    return _fmix64_int(total) >> 32


class PolynomialPowers:
    """base^i and base^-i mod 2^64 for i < n, grown on demand (a polynomial hash of any substring in O(1))."""

    def __init__(self, base: int):
        self.base, self.inverse = base, pow(base, -1, 1 << 64)
        self.up = self.down = np.ones(0, dtype=np.uint64)

    def table(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        if len(self.up) < n:
            size = max(n, 2 * len(self.up), 1024)
            self.up = np.cumprod(np.full(size, self.base, dtype=np.uint64)) * np.uint64(self.inverse)
            self.down = np.cumprod(np.full(size, self.inverse, dtype=np.uint64)) * np.uint64(self.base)
        return self.up[:n], self.down[:n]


_TOKEN_POWERS = PolynomialPowers(_TOKEN_BASE)
_SHINGLE_POWERS = [np.uint64(pow(_SHINGLE_BASE, m, 1 << 64)) for m in range(64)]


def _code_points(text: str) -> np.ndarray:
    if text.isascii():
        return np.frombuffer(text.encode("ascii"), dtype=np.uint8).astype(np.uint64)
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)


def word_hashes(normalized: str) -> np.ndarray:
    """token_hash64 of every space-separated word of a normalised text, computed with prefix sums."""
    if not normalized:
        return np.zeros(0, dtype=np.uint64)
    codes = _code_points(normalized)
    up, down = _TOKEN_POWERS.table(len(codes))
    prefix = np.zeros(len(codes) + 1, dtype=np.uint64)
    np.cumsum((codes + np.uint64(1)) * up, out=prefix[1:])
    spaces = np.flatnonzero(codes == 32)
    starts = np.concatenate(([0], spaces + 1))
    ends = np.concatenate((spaces, [len(codes)]))
    return fmix64((prefix[ends] - prefix[starts]) * down[starts])


def character_hashes(normalized: str) -> np.ndarray:
    """token_hash64 of every non-space character."""
    codes = _code_points(normalized)
    return fmix64(codes[codes != 32] + np.uint64(1))


def shingle_hashes_from_tokens(tokens: np.ndarray, ngram: int) -> np.ndarray:
    """shingle_hash32 of every n-gram of token hashes; fewer tokens than n make one shingle of them all."""
    count = len(tokens)
    if count == 0:
        return np.zeros(0, dtype=np.uint32)
    width = min(ngram, count)
    shingles = count - width + 1
    total = tokens[:shingles].copy()
    for m in range(1, width):
        total += tokens[m : m + shingles] * _SHINGLE_POWERS[m]
    return (fmix64(total) >> np.uint64(32)).astype(np.uint32)


# ---- options, signatures, bands ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MinHashOptions:
    bands: int = 14
    rows: int = 8
    ngram: int = 5  # words per shingle (FineWeb and RefinedWeb)
    char_ngram: int = 5  # characters per shingle for scripts without spaces
    cjk_words: bool = False  # Chinese: jieba words instead of characters
    seed: int = 1
    keep: str = "smallest-id"  # which document of a cluster stays: smallest-id, longest, or score:<name>
    verify_threshold: float | None = None  # drop candidate edges whose exact shingle Jaccard is below this
    max_cc_rounds: int = 12  # large-star/small-star rounds unrolled in the graph
    partitions: int = 16  # band-key partitions: a worker holds about 1/partitions of all band keys

    def __post_init__(self):
        LshParams(self.bands, self.rows)
        if self.ngram < 1 or self.char_ngram < 1 or self.ngram > 64 or self.char_ngram > 64:
            raise ValueError(f"n-gram sizes must be in 1..64, got {self.ngram} and {self.char_ngram}")
        if self.keep not in KEEP_RULES and not (self.keep.startswith("score:") and len(self.keep) > 6):
            raise ValueError(f"keep must be one of {', '.join(KEEP_RULES)} or score:<name>, got {self.keep!r}")
        if self.verify_threshold is not None and not 0 < self.verify_threshold <= 1:
            raise ValueError(f"verify_threshold must be in (0, 1], got {self.verify_threshold}")
        if self.max_cc_rounds < 1:
            raise ValueError(f"max_cc_rounds must be at least 1, got {self.max_cc_rounds}")
        if self.partitions < 1:
            raise ValueError(f"partitions must be at least 1, got {self.partitions}")

    @classmethod
    def preset(cls, name: str, **changes) -> MinHashOptions:
        if name not in PRESETS:
            raise ValueError(f"unknown MinHash preset {name!r}; choose one of {', '.join(PRESETS)}")
        return cls(bands=PRESETS[name].bands, rows=PRESETS[name].rows, **changes)

    @property
    def lsh(self) -> LshParams:
        return LshParams(self.bands, self.rows)


def minhash_settings(options: MinHashOptions) -> dict:
    """Everything two signatures must share to be comparable; written into stats.json."""
    import datasketch

    return {
        "num_perm": options.lsh.num_perm,
        "bands": options.bands,
        "rows": options.rows,
        "threshold": round(options.lsh.threshold, 4),
        "seed": options.seed,
        "scheme": SCHEME,
        "datasketch_version": datasketch.__version__,
        "permutations": f"datasketch.MinHash(num_perm, seed, scheme={SCHEME!r}).permutations",
        "hash_function": HASH_FUNCTION,
        "ngram": options.ngram,
        "char_ngram": options.char_ngram,
        "cjk_shingles": "jieba" if options.cjk_words else "characters",
        "character_shingle_languages": sorted(UNSEGMENTED),
        "normalization": "lower, NFKD + U+0300-036F removed, digits -> 0, Unicode P*/S*/Cf removed, single spaces",
        "keep": options.keep,
        "verify_threshold": options.verify_threshold,
        "max_cc_rounds": options.max_cc_rounds,
    }


class MinHasher:
    """Signatures and LSH band keys for documents under one set of options (create once per worker)."""

    _CHUNK = 1 << 22  # permutation x shingle values computed at once, to bound memory on long documents

    def __init__(self, options: MinHashOptions = MinHashOptions()):
        from datasketch import MinHash

        self.options = options
        permutations = MinHash(num_perm=options.lsh.num_perm, seed=options.seed, scheme=SCHEME).permutations
        self._a = permutations[0].astype(np.uint32)[:, None]
        self._b = permutations[1].astype(np.uint32)[:, None]
        self._buffer = np.empty(0, dtype=np.uint32)
        self._band_powers = np.array([pow(_BAND_BASE, j, 1 << 64) for j in range(options.rows)], dtype=np.uint64)

    def ngram_for(self, lang: str) -> int:
        return self.options.char_ngram if uses_characters(lang, self.options.cjk_words) else self.options.ngram

    def token_hashes(self, text: str, lang: str) -> np.ndarray:
        """token_hash64 of each token of the normalised text (words, jieba words or characters)."""
        if uses_characters(lang, self.options.cjk_words):
            return character_hashes(normalize_text(text))
        if self.options.cjk_words and lang in SEGMENTED_BY_JIEBA:
            return word_hashes(" ".join(shingle_tokens(text, lang, True)))
        return word_hashes(normalize_text(text))

    def shingle_hashes(self, text: str, lang: str) -> np.ndarray:
        """The 32-bit hashes of a document's shingles (empty when it has no tokens)."""
        return shingle_hashes_from_tokens(self.token_hashes(text, lang), self.ngram_for(lang))

    def shingle_hashes_many(self, documents: list[tuple[str, str]]) -> list[tuple[int, np.ndarray]]:
        """(token count, shingle_hashes) of many (text, lang) documents; documents shingled by words are hashed in
        one pass over their concatenation, which saves the per-call cost of numpy on each of them."""
        results: list = [None] * len(documents)
        by_words, normalized = [], []
        for index, (text, lang) in enumerate(documents):
            if uses_characters(lang, self.options.cjk_words) or (self.options.cjk_words and lang in SEGMENTED_BY_JIEBA):
                tokens = self.token_hashes(text, lang)
                results[index] = (len(tokens), shingle_hashes_from_tokens(tokens, self.ngram_for(lang)))
            else:
                by_words.append(index)
                normalized.append(normalize_text(text))
        counts = [text.count(" ") + 1 if text else 0 for text in normalized]
        tokens = word_hashes(" ".join(text for text in normalized if text))
        ngram = self.options.ngram
        windows = shingle_hashes_from_tokens(tokens, ngram)  # also the windows that straddle two documents
        offset = 0
        for index, count in zip(by_words, counts, strict=True):
            if count >= ngram:
                results[index] = (count, windows[offset : offset + count - ngram + 1])
            else:
                results[index] = (count, shingle_hashes_from_tokens(tokens[offset : offset + count], ngram))
            offset += count
        return results

    def signature(self, shingle_hashes: np.ndarray) -> np.ndarray:
        """min over shingles of a_k * fmix32(h) + b_k mod 2^32 for every permutation k (datasketch affine32)."""
        return self.signatures([shingle_hashes])[0]

    def signatures(self, shingle_sets: list[np.ndarray]) -> np.ndarray:
        """signature() of many shingle sets at once, one row each; an empty set gets datasketch's empty value
        (every hash 2^32 - 1)."""
        lengths = np.array([len(shingles) for shingles in shingle_sets], dtype=np.int64)
        result = np.full((len(shingle_sets), len(self._a)), np.iinfo(np.uint32).max, dtype=np.uint32)
        filled = np.flatnonzero(lengths)
        if not len(filled):
            return result
        starts = np.concatenate(([0], np.cumsum(lengths[filled])[:-1]))
        mixed = _fmix32(np.concatenate([shingle_sets[i] for i in filled]).astype(np.uint32))[None, :]
        count = mixed.shape[1]
        step = max(1, self._CHUNK // count)
        for start in range(0, len(self._a), step):
            a, b = self._a[start : start + step], self._b[start : start + step]
            work = self._scratch(len(a) * count).reshape(len(a), count)
            np.multiply(a, mixed, out=work)
            np.add(work, b, out=work)
            result[filled, start : start + len(a)] = np.minimum.reduceat(work, starts, axis=1).T
        return result

    def _scratch(self, size: int) -> np.ndarray:
        """A reused work buffer: allocating a fresh one per document costs more than the arithmetic."""
        if len(self._buffer) < size:
            self._buffer = np.empty(max(size, 2 * len(self._buffer)), dtype=np.uint32)
        return self._buffer[:size]

    def band_keys(self, signature: np.ndarray) -> list[int]:
        """One 64-bit key per band: equal keys mean (up to 2^-64) equal rows."""
        return self.band_keys_many(signature[None, :])[0].tolist()

    def band_keys_many(self, signatures: np.ndarray) -> np.ndarray:
        """One row of band keys per signature."""
        rows = signatures.astype(np.uint64).reshape(len(signatures), self.options.bands, self.options.rows)
        return fmix64((rows * self._band_powers).sum(axis=2, dtype=np.uint64))


def partition_ranges(hashes: np.ndarray, partitions: int) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """(the order that sorts hashes by partition, hash % partitions; (partition, first, last) positions in that
    order for every partition holding a hash)."""
    partition = (hashes % np.uint64(partitions)).astype(np.int64)
    order = np.argsort(partition, kind="stable")
    bounds = np.concatenate(([0], np.cumsum(np.bincount(partition, minlength=partitions)))).tolist()
    return order, [(index, first, last) for index, (first, last) in enumerate(zip(bounds[:-1], bounds[1:],
                                                                                     strict=True)) if last > first]


_ID_SEPARATOR = "\0"  # document ids never hold NUL; one joined string per record costs far less than a list


def bucket_records(nodes: list[tuple[float, str]], keys: np.ndarray, partitions: int) -> list[tuple[int, tuple]]:
    """A batch's LSH entries, one compact record per partition of band keys: (partition, (band keys, bands,
    member indices, ranks, ids)), where members index the record's own ranks and NUL-joined ids. `nodes` are the
    batch's (keep rank, id); `keys` its band keys, a row per document."""
    members, bands = (grid.ravel() for grid in np.indices(keys.shape))
    flat = keys.ravel()
    records = []
    order, ranges = partition_ranges(flat, partitions)
    for partition, first, last in ranges:
        group = order[first:last]
        referenced, local = np.unique(members[group], return_inverse=True)
        records.append((partition, (
            flat[group].tobytes(), bands[group].astype(np.uint16).tobytes(), local.astype(np.uint32).tobytes(),
            np.array([nodes[i][0] for i in referenced], dtype=np.float64).tobytes(),
            _ID_SEPARATOR.join(nodes[i][1] for i in referenced),
        )))
    return records


def bucket_edges(records: Iterable[tuple]) -> list[tuple[tuple, tuple]]:
    """For one partition: a star per LSH bucket (equal band and band key), every member to the bucket's smallest
    node (keep rank, id), never all pairs, so a bucket of 100,000 copies makes 99,999 edges."""
    keys, bands, members, nodes = [], [], [], []
    for key_bytes, band_bytes, member_bytes, rank_bytes, joined_ids in records:
        members.append(np.frombuffer(member_bytes, dtype=np.uint32).astype(np.int64) + len(nodes))
        keys.append(np.frombuffer(key_bytes, dtype=np.uint64))
        bands.append(np.frombuffer(band_bytes, dtype=np.uint16))
        nodes.extend(zip(np.frombuffer(rank_bytes, dtype=np.float64).tolist(), joined_ids.split(_ID_SEPARATOR),
                         strict=True))
    if not nodes:
        return []
    ordered = sorted(set(nodes))
    rank_of = {node: rank for rank, node in enumerate(ordered)}
    node_rank = np.array([rank_of[node] for node in nodes], dtype=np.int64)[np.concatenate(members)]
    keys, bands = np.concatenate(keys), np.concatenate(bands)
    order = np.lexsort((node_rank, keys, bands))
    keys, bands, node_rank = keys[order], bands[order], node_rank[order]
    bucket_start = np.ones(len(keys), dtype=bool)
    bucket_start[1:] = (keys[1:] != keys[:-1]) | (bands[1:] != bands[:-1])
    centre = node_rank[np.maximum.accumulate(np.where(bucket_start, np.arange(len(keys)), 0))]
    linked = np.flatnonzero(node_rank != centre)
    return [(ordered[node_rank[i]], ordered[centre[i]]) for i in linked]


def jaccard(first: np.ndarray, second: np.ndarray) -> float:
    """Exact Jaccard similarity of two sets of shingle hashes."""
    a, b = np.unique(first), np.unique(second)
    if len(a) == 0 and len(b) == 0:
        return 1.0
    common = len(np.intersect1d(a, b, assume_unique=True))
    return common / (len(a) + len(b) - common)


def keep_rank(keep: str, text: str, scores: dict[str, float]) -> float:
    """Lower ranks are preferred; ties fall back to the smaller id (the node key is (rank, id))."""
    if keep == "longest":
        return -float(len(text))
    if keep.startswith("score:"):
        value = scores.get(keep[len("score:") :])
        return float("inf") if value is None or value != value else -float(value)  # missing or NaN: last
    return 0.0
