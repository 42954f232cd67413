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
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from transforms.records import DOCUMENT_SCHEMA, Document, document_from_row, to_row

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
