"""FilterUrls' pure part: RefinedWeb URL filtering (Penedo et al. 2023, §G.1), before any text is extracted.

A URL is removed when its host or a parent domain is on a blocklist (UT1 / squidGuard files: one `domain` or
`domain/path` a line), when it starts with a blocklisted `domain/path` prefix, or when its words score too
high: one hard-banned word, one strict sub-word, or enough soft-banned words. An allow list overrides all.

The production UT1 adult list holds about 4.6 million domains. They are kept as a sorted numpy array of
64-bit hashes (8 bytes a domain instead of ~100 for a Python str in a set), built block by block with
vectorised hashing and looked up by binary search. The hash is simple tabulation hashing with a random
table, which is universal: two different domains collide with probability 2**-64, so with 4.6M listed
domains a host that is not listed matches one with probability 4.6e6 / 2**64 = 2.5e-13 per lookup; a whole
Common Crawl dump (~3e9 URLs, ~3 lookups each) expects about 0.002 wrongly blocked URLs.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import unicodedata
import urllib.parse
import weakref
from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass
from itertools import accumulate
from operator import getitem, xor
from pathlib import Path

import numpy as np
from ccrefine.transforms.records import Document, Page
from ccrefine.transforms.step import Step, Verdict

logger = logging.getLogger(__name__)

STAGE = "url_filter"
LISTS_DIR = Path(__file__).parent / "url_lists"

# Rejection reasons: few and fixed, so that they can name counters; UrlDecision.detail says what matched.
BLOCKLIST = "blocklist"
BANNED_WORD = "banned_word"
BANNED_SUBWORD = "banned_subword"
SOFT_BANNED_WORDS = "soft_banned_words"
SOFT_BANNED_SCORE = "url_soft_banned"  # distinct soft-banned words in the URL, kept on the document


@dataclass(frozen=True)
class UrlFilterOptions:
    blocklists: tuple[str, ...] = ()  # UT1 / squidGuard files, plain or gzipped, any Beam filesystem path
    banned_words_file: str | None = None  # None: the lists shipped in transforms/filters/url_lists/
    soft_banned_words_file: str | None = None
    banned_subwords_file: str | None = None
    allow_list_file: str | None = None
    # RefinedWeb §G.1 "soft word matching": softer words (its examples: sex, webcam, escort) remove a URL only
    # when several match; datatrove's URLFilter, by the same authors, removes at >= 2 (soft_word_threshold=2).
    # Counted here as distinct words, so that /sex-ed/sex-health/ is one match, not two.
    soft_banned_threshold: int = 2
    allow_domains: tuple[str, ...] = ()  # allowed in addition to the allow list file

    def __post_init__(self):
        for name in ("blocklists", "allow_domains"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise ValueError(f"{name} must be a list, got the single string {value!r}; write [{value!r}]")
            object.__setattr__(self, name, tuple(value))  # a list from Python callers; keeps options hashable
            for item in getattr(self, name):
                if not isinstance(item, str) or not item.strip():
                    raise ValueError(f"{name} entries must be non-empty strings, got {item!r}")
        for domain in self.allow_domains:
            if "/" in domain or any(c.isspace() for c in domain.strip()):
                raise ValueError(f"allow_domains entries are bare domains like 'example.org', got {domain!r}")
        for name in ("banned_words_file", "soft_banned_words_file", "banned_subwords_file", "allow_list_file"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ValueError(f"{name} must be a file path, or null for the shipped list; got {value!r}")
        threshold = self.soft_banned_threshold
        if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
            raise ValueError(f"soft_banned_threshold must be an integer >= 1, got {threshold!r}")


# --- URL normalisation -------------------------------------------------------------------------------------

_SCHEME = re.compile(r"^[a-z][a-z0-9+.\-]*://")
_AUTHORITY_END = re.compile(r"[/?\\]")
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_IDEOGRAPHIC_FULL_STOP = str.maketrans({"\u3002": "."})  # NFKC maps the other full stops onto "." or this


def split_url(url: str) -> tuple[str, str]:
    """`url` (or a list entry) as (host, rest): lower-cased; scheme, userinfo, port, fragment and a leading
    `www.` removed; an IDN host in punycode, as lists write them. `rest` is the path and query, undecoded."""
    text = _SCHEME.sub("", url.strip().lower().split("#", 1)[0], count=1).removeprefix("//")
    end = _AUTHORITY_END.search(text)
    authority, rest = (text[: end.start()], text[end.start() :]) if end else (text, "")
    host = authority.rpartition("@")[2]
    host = host[: host.find("]") + 1] if host.startswith("[") else host.split(":", 1)[0]
    host = _ascii_host(host).strip(".")
    return host.removeprefix("www."), rest


def _ascii_host(host: str) -> str:
    if host.isascii():
        return host
    host = unicodedata.normalize("NFKC", host).translate(_IDEOGRAPHIC_FULL_STOP).lower()
    return ".".join(
        label if label.isascii() else "xn--" + label.encode("punycode").decode() for label in host.split(".")
    )


def _unicode_host(host: str) -> str:
    """The host as people write it, so that words in an IDN host can match."""
    if "xn--" not in host:
        return host
    return ".".join(_decode_label(label) for label in host.split("."))


def _decode_label(label: str) -> str:
    if not label.startswith("xn--"):
        return label
    try:
        return label[4:].encode("ascii").decode("punycode")
    except UnicodeError:
        return label


# --- hashed domain set -------------------------------------------------------------------------------------

_MAX_HOST = 253  # RFC 1035: no longer name can be listed or looked up
# One random 64-bit value per (distance from the end of the host, byte); a host's hash is the XOR of its bytes'
# values. Counting from the end makes a parent domain's hash a tail of its subdomain's, so one backwards pass
# over a host hashes all its parents. The table is only used within one process (hashes are never stored), so
# numpy's random stream may change between versions without harm.
_TABLE = np.random.default_rng(2306_01116).integers(0, 2**64, size=_MAX_HOST * 256, dtype=np.uint64)
_TABLE_ROWS = _TABLE.reshape(_MAX_HOST, 256).tolist()  # Python ints: one host hashes faster in Python than numpy

_MISFIT = np.ones(256, dtype=bool)  # bytes that make a line more than a plain host name
_MISFIT[np.frombuffer(b"abcdefghijklmnopqrstuvwxyz0123456789-_.", dtype=np.uint8)] = False
_NEWLINE, _DOT, _W = ord("\n"), ord("."), ord("w")


def tail_hashes(host: bytes, starts: list[int]) -> list[int]:
    """The hashes of host[start:] for each start (the host and its parent domains), in one backwards pass."""
    from_end = list(accumulate(map(getitem, _TABLE_ROWS, reversed(host)), xor))  # from_end[k]: last k+1 bytes
    return [from_end[len(host) - 1 - start] for start in starts]


class DomainHashSet:
    """Domains as a sorted array of their 64-bit hashes: 8 bytes a domain, binary-searched."""

    def __init__(self, hashes: np.ndarray):
        hashes = np.asarray(hashes, dtype=np.uint64)
        hashes.sort()  # in place: np.unique takes seconds and several copies' memory for millions of hashes
        distinct = np.empty(hashes.size, dtype=bool)
        distinct[:1] = True
        np.not_equal(hashes[1:], hashes[:-1], out=distinct[1:])
        self._hashes = hashes if distinct.all() else hashes[distinct]
        self._sorted = memoryview(self._hashes)  # items are Python ints: bisect on it beats numpy's call overhead

    def __len__(self) -> int:
        return self._hashes.size

    @property
    def nbytes(self) -> int:
        return self._hashes.nbytes

    def first_member(self, hashes: list[int]) -> int | None:
        """The index in `hashes` of the first one in the set, or None."""
        for index, value in enumerate(hashes):
            at = bisect_left(self._sorted, value)
            if at < len(self._sorted) and self._sorted[at] == value:
                return index
        return None


def _scan_block(block: bytes) -> tuple[np.ndarray, list[str]]:
    """Hashes of a block's plain domain lines, vectorised, and its other lines (comments, paths, IDN, spaces).

    `block` holds whole lines, each ending with a newline. A plain line is an ASCII host name; its leading
    `www.` is dropped by zeroing those bytes' hash values, which leaves the positions of the others unchanged.
    """
    data = block.replace(b"\r", b"").lower()
    chars = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(chars == _NEWLINE)
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts

    def byte_at(offset: int) -> np.ndarray:
        return chars.take(np.minimum(starts + offset, chars.size - 1))

    misfits = np.diff(np.cumsum(_MISFIT.take(chars), dtype=np.int32)[ends], prepend=0) - 1  # the newline is one
    plain = (misfits == 0) & (lengths > 0) & (lengths <= _MAX_HOST)
    plain &= (byte_at(0) != _DOT) & (chars.take(ends - 1) != _DOT)
    www = (lengths > 4) & (byte_at(0) == _W) & (byte_at(1) == _W) & (byte_at(2) == _W) & (byte_at(3) == _DOT)

    # Each byte's distance from the end of its line counts down along the line (-1 on the newline): a cumsum of
    # -1 steps, with a jump at each line start.
    from_end = np.full(chars.size, -1, dtype=np.int32)
    from_end[starts] = lengths
    from_end[0] -= 1
    np.cumsum(from_end, out=from_end)
    np.clip(from_end, 0, _MAX_HOST - 1, out=from_end)
    values = _TABLE.take(from_end * 256 + chars)
    values[ends] = 0
    for offset in range(4):
        values[starts[www] + offset] = 0
    hashes = np.bitwise_xor.reduceat(values, starts)[plain]
    others = np.flatnonzero(~plain & (lengths > 0))
    return hashes, [data[starts[i] : ends[i]].decode("utf-8", "replace") for i in others]


def _parse_entry(line: str) -> tuple[str, str] | None:
    """(host, path prefix) of a list line, path "" for a whole domain; None for comments and blank lines."""
    fields = line.split("#", 1)[0].split()
    if not fields:
        return None
    host, rest = split_url(fields[0].lstrip("*."))
    if not host or len(host) > _MAX_HOST:
        return None
    return host, "" if rest in ("", "/") else rest


# --- list files --------------------------------------------------------------------------------------------

_BLOCK_BYTES = 1 << 19  # bounds the vectorised scan's scratch memory at ~15 MB
_GZIP_MAGIC = b"\x1f\x8b"


def _open_list(path: str, option: str):
    """A binary stream of a list file, gunzipped when its first bytes say gzip (whatever its name)."""
    # Beam's filesystems also read gs://, s3:// and hdfs://; imported here so the module itself needs no Beam.
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    if not FileSystems.exists(path):
        raise FileNotFoundError(f"url_filter option {option}: {path} does not exist; fix the path")
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as head:
        gzipped = head.read(2) == _GZIP_MAGIC
    return FileSystems.open(path, compression_type=CompressionTypes.GZIP if gzipped else CompressionTypes.UNCOMPRESSED)


def _line_blocks(stream):
    """The stream in blocks of whole lines, each block ending with a newline."""
    carry = b""
    while chunk := stream.read(_BLOCK_BYTES):
        chunk = carry + chunk
        cut = chunk.rfind(b"\n") + 1
        carry = chunk[cut:]
        if cut:
            yield chunk[:cut]
    if carry:
        yield carry + b"\n"


def load_blocklists(paths: tuple[str, ...]) -> tuple[DomainHashSet, dict[str, tuple[str, ...]]]:
    """All listed domains, hashed, and the `domain/path` prefixes by host."""
    hashed, hosts, prefixes = [], [], defaultdict(list)
    for path in paths:
        with _open_list(path, "blocklists") as stream:
            for block in _line_blocks(stream):
                plain_hashes, other_lines = _scan_block(block)
                hashed.append(plain_hashes)
                for entry in filter(None, map(_parse_entry, other_lines)):
                    host, prefix = entry
                    if prefix:
                        prefixes[host].append(prefix)
                    else:
                        hosts.append(tail_hashes(host.encode(), [0])[0])
    hashed.append(np.array(hosts, dtype=np.uint64))
    return DomainHashSet(np.concatenate(hashed)), {host: tuple(listed) for host, listed in prefixes.items()}


def read_word_list(path: str, option: str) -> list[str]:
    """One entry a line, `#` comments; lower-cased and NFKC-normalised like the URLs they are matched in."""
    with _open_list(path, option) as stream:
        text = stream.read().decode("utf-8")
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [unicodedata.normalize("NFKC", line).lower() for line in lines if line]


# --- word rules --------------------------------------------------------------------------------------------

_WORD_SEPARATORS = re.compile(r"[\W_]+")
# Scripts written without spaces between words: a word in them can only be found as a substring.
_UNSPACED_SCRIPT = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


@dataclass(frozen=True)
class WordList:
    """Words matched as whole URL words, and words matched anywhere in the URL text."""

    whole: frozenset[str]
    anywhere: re.Pattern | None

    @classmethod
    def of(cls, words: list[str], *, substrings: bool) -> WordList:
        anywhere = [w for w in words if substrings or _UNSPACED_SCRIPT.search(w)]
        whole = frozenset(words) - set(anywhere)
        longest_first = sorted(set(anywhere), key=len, reverse=True)
        return cls(whole, re.compile("|".join(map(re.escape, longest_first))) if anywhere else None)

    def matches(self, words: list[str], text: str) -> list[str]:
        """The distinct entries found, sorted."""
        found = {w for w in words if w in self.whole}
        if self.anywhere is not None:
            found.update(self.anywhere.findall(text))
        return sorted(found)


# --- the decision ------------------------------------------------------------------------------------------

_PREFIX_BOUNDARY = "/?&"


@dataclass(frozen=True)
class UrlLists:
    """Everything `url_decision` consults; loaded once per worker."""

    blocked_domains: DomainHashSet
    blocked_prefixes: dict[str, tuple[str, ...]]
    banned_words: WordList
    soft_banned_words: WordList
    banned_subwords: WordList
    allowed_domains: frozenset[str]
    soft_banned_threshold: int = 2

    @classmethod
    def load(cls, options: UrlFilterOptions) -> UrlLists:
        started = time.perf_counter()

        def words(option: str, default: str) -> list[str]:
            path = getattr(options, option)
            return read_word_list(path if path is not None else str(LISTS_DIR / default), option)

        domains, prefixes = load_blocklists(options.blocklists)
        allowed = words("allow_list_file", "allow_domains.txt") + list(options.allow_domains)
        lists = cls(
            blocked_domains=domains,
            blocked_prefixes=prefixes,
            banned_words=WordList.of(words("banned_words_file", "banned_words.txt"), substrings=False),
            soft_banned_words=WordList.of(words("soft_banned_words_file", "soft_banned_words.txt"), substrings=False),
            banned_subwords=WordList.of(words("banned_subwords_file", "banned_subwords.txt"), substrings=True),
            allowed_domains=frozenset(split_url(domain)[0] for domain in allowed),
            soft_banned_threshold=options.soft_banned_threshold,
        )
        logger.info(
            "url_filter: %d blocked domains (%.1f MB), %d URL prefixes, %d allowed domains, loaded in %.1fs",
            len(domains),
            domains.nbytes / 1e6,
            sum(map(len, prefixes.values())),
            len(lists.allowed_domains),
            time.perf_counter() - started,
        )
        return lists

    def blocked(self, host: str, rest: str, parents: list[int]) -> str | None:
        """The blocklist entry that `host` + `rest` falls under, or None."""
        if parents:
            hit = self.blocked_domains.first_member(tail_hashes(host.encode(), parents))
            if hit is not None:
                return host[parents[hit] :]
        for prefix in self.blocked_prefixes.get(host, ()):
            if rest.startswith(prefix) and (
                prefix.endswith("/") or len(rest) == len(prefix) or rest[len(prefix)] in _PREFIX_BOUNDARY
            ):
                return host + prefix
        return None


def parent_starts(host: str) -> list[int]:
    """Where the host and each parent domain start in `host`, longest first: as in squidGuard, a listed domain
    covers all its subdomains. Public suffixes are parents too: UT1 lists `bet.br`, Brazil's betting suffix,
    to block every site under it. An IP address is only itself.
    """
    if not host or len(host) > _MAX_HOST:
        return []
    if host.startswith("[") or _IPV4.fullmatch(host):
        return [0]
    return [0] + [i + 1 for i, c in enumerate(host) if c == "."]


@dataclass(frozen=True)
class UrlDecision:
    """The rule that removes a URL (None: kept), what matched as `rule:match`, and the soft-banned count."""

    reason: str | None
    detail: str = ""
    soft_banned: int = 0


def url_decision(url: str, lists: UrlLists) -> UrlDecision:
    """Apply the allow list, the blocklists and the word rules (RefinedWeb §G.1) to one URL."""
    host, rest = split_url(url)
    parents = parent_starts(host)
    text = _unicode_host(host) + urllib.parse.unquote(rest, errors="replace")
    words = [w for w in _WORD_SEPARATORS.split(text) if w]
    soft = lists.soft_banned_words.matches(words, text)

    allowed = next((host[s:] for s in parents if host[s:] in lists.allowed_domains), None)
    if allowed is not None:
        return UrlDecision(None, f"allow_list:{allowed}", len(soft))
    entry = lists.blocked(host, rest, parents)
    if entry is not None:
        return UrlDecision(BLOCKLIST, f"{BLOCKLIST}:{entry}", len(soft))
    if banned := lists.banned_words.matches(words, text):
        return UrlDecision(BANNED_WORD, f"{BANNED_WORD}:{banned[0]}", len(soft))
    if subwords := lists.banned_subwords.matches(words, text):
        return UrlDecision(BANNED_SUBWORD, f"{BANNED_SUBWORD}:{subwords[0]}", len(soft))
    if len(soft) >= lists.soft_banned_threshold:
        return UrlDecision(SOFT_BANNED_WORDS, f"{SOFT_BANNED_WORDS}:{','.join(soft)}", len(soft))
    return UrlDecision(None, "", len(soft))


# Lists loaded in this process, by options; an entry lives as long as a step still holds it.
_LOADED: weakref.WeakValueDictionary[UrlFilterOptions, UrlLists] = weakref.WeakValueDictionary()
_LOADING = threading.Lock()


class UrlFilterStep(Step):
    """Pages or Documents whose URL the allow list, blocklists and word rules reject; reason = the rule."""

    stage = STAGE

    def __init__(self, options: UrlFilterOptions = UrlFilterOptions()):
        self.options = options
        self._lists: UrlLists | None = None

    def setup(self) -> None:
        if self._lists is None:
            with _LOADING:  # a runner's threads each set up their own DoFn: they share one copy of the lists
                lists = _LOADED.get(self.options)
                if lists is None:
                    lists = _LOADED[self.options] = UrlLists.load(self.options)
            self._lists = lists

    @property
    def lists(self) -> UrlLists:
        self.setup()
        return self._lists

    def judge(self, record: Page | Document) -> Verdict:
        decision = url_decision(record.url or "", self.lists)
        if isinstance(record, Document):  # a Page has no scores yet
            record = record.with_scores({SOFT_BANNED_SCORE: float(decision.soft_banned)})
        return Verdict(record, decision.reason, decision.detail if decision.reason else "")

    def explain(self, url: str) -> str:
        """What decided `url`, e.g. `blocklist:casino.example.com` or `banned_word:porn` ("" when nothing)."""
        return url_decision(url, self.lists).detail

    def __getstate__(self):
        # The lists load on each worker in setup(); they never travel with the pipeline.
        return {**self.__dict__, "_lists": None}
