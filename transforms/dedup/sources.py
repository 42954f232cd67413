"""Where dedup's documents come from, and the key that names one inside dedup.

Dedup reads its input Parquet files more than once instead of carrying texts through its shuffles: a file is read
in row batches (so a reader holds one batch, not the file), and a document found again by its key.

The key is the document id plus a 64-bit hash of its text (`document_key`). Users only ever see the id: rejected
rows name ids, and the kept document of a cluster is the one with the smallest key, which is the smallest id
(the hash only orders documents that share an id). The hash is what makes a repeated id safe: two rows with the
same id and the same text (an archive read twice, a record repeated) have one key and are one document; the same
id with different texts gives two keys, and both go through dedup as the different documents they are.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from ccrefine.transforms.records import DOCUMENT_SCHEMA, Document, document_from_row, to_row

from ccrefine.files import TEMPORARY_SUFFIX, ensure_folder

BATCH_ROWS = 256
# smaller than every printable character, so keys sort as their ids do; NUL is taken (it joins keys in LSH records)
_KEY_SEPARATOR = "\x01"
_HASH_CHARS = 16
# the columns that the substring passes, which only need words, read back
WORD_COLUMNS = ("id", "text", "lang")


def document_key(doc_id: str, text: str | None) -> str:
    """The id and a hash of the text: equal only for the same id with the same text."""
    digest = hashlib.blake2b((text or "").encode("utf-8", "surrogatepass"), digest_size=_HASH_CHARS // 2).hexdigest()
    return f"{doc_id}{_KEY_SEPARATOR}{digest}"


def id_of(key: str) -> str:
    return key[: -_HASH_CHARS - 1]  # the hash has a fixed width, so an id may hold any character


def read_documents(path: str, columns: tuple[str, ...] | None = None) -> Iterator[list[Document]]:
    """The documents of one Parquet file (local or any Beam filesystem), in file order, BATCH_ROWS at a time;
    `columns` reads only those (the others come back empty)."""
    with FileSystems.open(path, compression_type="uncompressed") as handle:
        parquet = pq.ParquetFile(handle)
        present = set(parquet.schema_arrow.names)
        wanted = None if columns is None else [name for name in columns if name in present]
        for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=wanted):
            rows = batch.to_pylist()
            if wanted is not None:
                rows = [{"url": "", "date": "", "dump": "", **row} for row in rows]
            yield [document_from_row(row) for row in rows]


def write_documents_file(path: str, documents: list[Document]) -> str:
    """One Parquet file of documents in DOCUMENT_SCHEMA, as the corpus stage writes them (tests and benchmarks)."""
    with FileSystems.create(path) as handle:
        pq.write_table(pa.Table.from_pylist([to_row(d) for d in documents], schema=DOCUMENT_SCHEMA), handle)
    return path


@dataclass
class _OpenFile:
    temporary: str
    handle: object
    writer: pq.ParquetWriter
    pending: list = field(default_factory=list)
    rows: int = 0


class PartitionedFileWriter:
    """Stream records into one Parquet file per partition (`folder/<partition>/<name>.parquet`), in row groups,
    so a writer holds one row group per partition, never a file. Each file is written under a temporary name and
    renamed by `close()`, which returns {final path: rows}; the same name written again replaces the old file, so
    a retried bundle leaves one complete file."""

    ROW_GROUP = 1000

    def __init__(self, folder: str, name: str, schema: pa.Schema):
        self._folder, self._name, self._schema = folder, name, schema
        self._open: dict[str, _OpenFile] = {}

    def write(self, partition: str, row: dict) -> None:
        if partition not in self._open:
            directory = FileSystems.join(self._folder, partition)
            ensure_folder(directory)
            temporary = FileSystems.join(directory, f".{self._name}.{uuid.uuid4().hex}{TEMPORARY_SUFFIX}")
            handle = FileSystems.create(temporary)
            self._open[partition] = _OpenFile(temporary, handle, pq.ParquetWriter(handle, self._schema))
        state = self._open[partition]
        state.pending.append(row)
        if len(state.pending) == self.ROW_GROUP:
            self._flush(state)

    def _flush(self, state: _OpenFile) -> None:
        if state.pending:
            state.writer.write_table(pa.Table.from_pylist(state.pending, schema=self._schema))
            state.rows += len(state.pending)
            state.pending = []

    def close(self) -> dict[str, int]:
        written = {}
        for partition, state in self._open.items():
            self._flush(state)
            state.writer.close()
            state.handle.close()
            final = FileSystems.join(self._folder, partition, f"{self._name}.parquet")
            if FileSystems.exists(final):
                FileSystems.delete([final])
            FileSystems.rename([state.temporary], [final])
            written[final] = state.rows
        self._open = {}
        return written


def output_name(path: str) -> str:
    """A file name for what dedup writes from one input file: its stem and a hash of its whole path, so inputs of
    the same name in different folders (two corpus outputs) never write the same file."""
    stem = path.rstrip("/").rsplit("/", 1)[-1].removesuffix(".parquet")
    return f"{stem}-{hashlib.blake2b(path.encode(), digest_size=4).hexdigest()}"
