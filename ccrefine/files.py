"""Files on any Beam filesystem (local, gs://, s3://, hdfs://), for every package: small reads and writes, whether a
ccrefine output folder is complete, and matching the corpus Parquet files a command reads.

A complete output folder holds `_SUCCESS`, the sha256 of its summary file; pipelines/outputs.py writes it (the
output contract), this module checks it for the readers (tokenize, dedup, the trainer, eval).
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from ccrefine.errors import UsageError

SUCCESS = "_SUCCESS"
TEMPORARY_SUFFIX = ".tmp"
DOCUMENTS = "/documents/"


def is_remote(path: str) -> bool:
    return "://" in path


# ---- small file operations through Beam's FileSystems -------------------------------------------------------------


def open_file(path: str):
    """A binary reader of the bytes as stored: Beam would otherwise decompress by the extension (.gz, .bz2)."""
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def read_bytes(path: str) -> bytes:
    with open_file(path) as handle:
        return handle.read()


def write_bytes(path: str, data: bytes) -> None:
    """Write under a temporary name and rename, so a reader never sees half a file (and a full disk fails here,
    leaving no short file under the final name)."""
    temporary = f"{path}.{uuid.uuid4().hex}{TEMPORARY_SUFFIX}"
    with FileSystems.create(temporary, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        handle.write(data)
    replace(temporary, path)


def replace(temporary: str, final: str) -> None:
    if FileSystems.exists(final):
        FileSystems.delete([final])
    FileSystems.rename([temporary], [final])


def ensure_folder(path: str) -> None:
    try:
        FileSystems.mkdirs(path)
    except OSError:
        pass  # it exists (another worker made it), or the filesystem has no folders (object stores)


def files_under(folder: str) -> list[str]:
    """Every file below `folder` (recursively), as full paths."""
    if not is_remote(folder):
        return sorted(os.path.join(root, name) for root, _, names in os.walk(folder) for name in names)
    prefix = folder.rstrip("/") + "/"
    return sorted(m.path for m in FileSystems.match([prefix + "**"])[0].metadata_list)


def holds_files(folder: str) -> bool:
    """Whether anything is stored under `folder` (object stores have no folders to test for, so list one file)."""
    if not is_remote(folder):
        return os.path.isdir(folder) and any(os.scandir(folder))
    return bool(FileSystems.match([folder.rstrip("/") + "/**"], limits=[1])[0].metadata_list)


# ---- complete outputs ---------------------------------------------------------------------------------------------


def success_problem(folder: str) -> str | None:
    """Why `folder` is not a complete output, or None when its `_SUCCESS` names a summary file with that hash."""
    marker = FileSystems.join(folder, SUCCESS)
    if not FileSystems.exists(marker):
        return "it has no _SUCCESS (the run that wrote it did not finish)"
    try:
        content = json.loads(read_bytes(marker))
        summary = read_bytes(FileSystems.join(folder, content["file"]))
    except (OSError, ValueError, KeyError, TypeError):
        return "its _SUCCESS is unreadable or names a missing file"
    if hashlib.sha256(summary).hexdigest() != content.get("sha256"):
        return f"its {content['file']} does not match the hash in _SUCCESS (changed or cut short)"
    return None


def require_complete(folder: str, flag: str) -> None:
    """Refuse to read an unfinished output folder, with the fix."""
    problem = success_problem(folder)
    if problem:
        raise UsageError(f"{flag} {folder!r} is not a complete ccrefine output: {problem}; rerun the command that "
                         "writes it (a corpus run resumes where it stopped) or give a complete folder")


def require_complete_above(pattern: str, flag: str) -> None:
    """A path or glob into an output's documents/ (`OUT/documents/lang=en/*.parquet`) must be of a complete one."""
    if DOCUMENTS in pattern and holds_files(pattern.split(DOCUMENTS)[0]):
        require_complete(pattern.split(DOCUMENTS)[0], flag)


# ---- corpus Parquet files -----------------------------------------------------------------------------------------


def corpus_pattern(path: str, flag: str) -> str:
    """A glob or a .parquet path is used as it is; a folder is a corpus (or dedup) output folder, which must be
    complete (and so must the output folder a glob or path under its documents/ points into)."""
    if path.endswith(".parquet") or any(char in path for char in "*?["):
        require_complete_above(path, flag)
        return path
    if holds_files(path):
        require_complete(path, flag)
    return FileSystems.join(path, "documents", "lang=*", "*.parquet")


def match_files(patterns: tuple[str, ...] | list[str], flag: str) -> list[str]:
    """The Parquet files of corpus (or dedup) outputs, folders, files or globs, sorted; none is a UsageError."""
    files = []
    for pattern in patterns:
        found = [m.path for m in FileSystems.match([corpus_pattern(pattern, flag)])[0].metadata_list]
        if not found:
            raise UsageError(f"{flag} {pattern!r} matches no Parquet file (a folder means "
                             f"FOLDER/documents/lang=*/*.parquet); check the path or quote the glob")
        files.extend(found)
    return sorted(files)
