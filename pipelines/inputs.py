"""The archives a corpus run reads: `--input` patterns matched once by the launcher, each archive fingerprinted,
and duplicates (one path matched twice, or the same content under two names) read once and counted.

A literal path that exists is taken as it is, before glob interpretation (`crawl[1].warc.gz` is a file name).
"""

from __future__ import annotations

import hashlib
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from ccrefine.errors import UsageError

# Head and tail read to fingerprint an archive: enough to tell two crawl files apart (their first records and
# last records differ), cheap on object stores (two ranged reads).
FINGERPRINT_BYTES = 1 << 16
FINGERPRINT_THREADS = 32  # object-store reads wait on the network: 90,000 archives take minutes, not hours
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_COMPRESSION_SUFFIX = re.compile(r"\.(gz|bz2|zst|xz)$", re.IGNORECASE)

DUPLICATE_PATH = "duplicate_input"  # the read-stage reason a skipped duplicate is counted under


@dataclass(frozen=True)
class Archive:
    path: str
    size: int
    fingerprint: str  # sha256 over size, head and tail

    @property
    def name(self) -> str:
        """The stem of this archive's output files: readable, filesystem-safe, unique by a hash of the full path."""
        stem = _COMPRESSION_SUFFIX.sub("", FileSystems.split(self.path)[1]) or "archive"
        digest = hashlib.sha256(self.path.encode()).hexdigest()[:8]
        return f"{_UNSAFE.sub('_', stem)[:80]}-{digest}"


@dataclass(frozen=True)
class Duplicate:
    path: str
    same_as: str
    kind: str  # "same path" or "same content"


def _normalise(path: str) -> str:
    return path if "://" in path else os.path.abspath(path)


def match_inputs(patterns: list[str], flag: str = "--input") -> list[str]:
    """Every path the patterns name, in order (repeats kept, so they can be counted)."""
    paths = []
    for pattern in patterns:
        if FileSystems.exists(pattern) and not os.path.isdir(pattern):
            paths.append(_normalise(pattern))
            continue
        found = [m.path for m in FileSystems.match([pattern])[0].metadata_list]
        if not found:
            raise UsageError(f"{flag} {pattern!r} matches no file; check the path or quote the glob")
        paths.extend(sorted(_normalise(path) for path in found))
    return paths


def fingerprint(path: str) -> tuple[int, str]:
    size = FileSystems.get_filesystem(path).size(path)
    digest = hashlib.sha256(str(size).encode())
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        digest.update(handle.read(FINGERPRINT_BYTES))
        if size > 2 * FINGERPRINT_BYTES:
            handle.seek(size - FINGERPRINT_BYTES)
        digest.update(handle.read())
    return size, digest.hexdigest()


def plan_archives(paths: list[str]) -> tuple[list[Archive], list[Duplicate]]:
    """The archives to read, sorted by path (so output names and order never depend on the order of the flags),
    and the duplicates left out; of two with the same content, the first by path is read."""
    unique = sorted(set(paths))
    with ThreadPoolExecutor(FINGERPRINT_THREADS) as pool:
        fingerprints = dict(zip(unique, pool.map(fingerprint, unique), strict=True))
    archives, duplicates, seen_paths, seen_content = [], [], set(), {}
    for path in sorted(paths):
        if path in seen_paths:
            duplicates.append(Duplicate(path, path, "same path"))
            continue
        seen_paths.add(path)
        size, digest = fingerprints[path]
        if digest in seen_content:
            duplicates.append(Duplicate(path, seen_content[digest], "same content"))
            continue
        seen_content[digest] = path
        archives.append(Archive(path, size, digest))
    return archives, duplicates


def tagged_copy(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """Copy a local archive with one warcinfo record naming the copy appended, so its content (and fingerprint)
    differs from the source's: what benchmarks and tests use to make many distinct archives from one."""
    import io

    from warcio.warcwriter import WARCWriter

    extra = io.BytesIO()
    writer = WARCWriter(extra, gzip=True)
    writer.write_record(writer.create_warcinfo_record(os.path.basename(target), {"software": "ccrefine copy"}))
    with open(source, "rb") as original, open(target, "wb") as copy:
        copy.write(original.read() + extra.getvalue())
