"""Writing records as Parquet files through Beam's FileSystems (local, gs://, s3://, hdfs://).

Two writers. `PartitionFiles` streams the records of one input (an archive) into one file per partition, in the
order they arrive, so memory is constant in the input and names come from the input (the corpus stage).
`WriteShards` keys records by (partition, shard) — the shard from a hash of the document id, so the same input
always lands in the same file — groups them, and writes each group sorted by id (dedup, after its shuffles).
Every file is written under a temporary name and renamed when complete, so a retried bundle never leaves a
half-written file behind.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from collections.abc import Callable

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from ccrefine.transforms.records import DOCUMENT_SCHEMA, REJECTED_SCHEMA, pack_record, to_row, unpack_record

from ccrefine.files import TEMPORARY_SUFFIX, ensure_folder, replace

ROW_GROUP = 1000
ROW_GROUP_BYTES = 32 << 20  # a row group is flushed at 1,000 rows or 32 MB of text, whichever comes first


def shard_of(record_id: str, shards: int) -> int:
    """A stable shard number (Python's hash() is salted per process, so it cannot be used)."""
    return int.from_bytes(hashlib.blake2b(record_id.encode(), digest_size=8).digest(), "big") % shards


class _WriteShardFn(beam.DoFn):
    def __init__(self, folder: str, schema: pa.Schema, shards: int):
        self._folder = folder
        self._schema = schema
        self._shards = shards

    def process(self, element):
        (partition, shard), records = element
        name = f"part-{shard:05d}-of-{self._shards:05d}.parquet"
        directory = FileSystems.join(self._folder, partition) if partition else self._folder
        final = FileSystems.join(directory, name)
        temporary = FileSystems.join(directory, f".{name}.{uuid.uuid4().hex}{TEMPORARY_SUFFIX}")
        ensure_folder(directory)
        rows = 0
        # A shard is sorted by id so its bytes do not depend on delivery order; it is held in memory (pickled, about
        # the text's size) while written, so choose the number of shards to keep each to a few hundred MB.
        with FileSystems.create(temporary) as handle, pq.ParquetWriter(handle, self._schema) as writer:
            batch = []
            for _, packed in sorted(records, key=lambda pair: pair[0]):
                batch.append(to_row(unpack_record(packed)))
                if len(batch) == ROW_GROUP:
                    writer.write_table(pa.Table.from_pylist(batch, schema=self._schema))
                    rows, batch = rows + len(batch), []
            if batch:
                writer.write_table(pa.Table.from_pylist(batch, schema=self._schema))
                rows += len(batch)
        replace(temporary, final)
        yield final, rows


class WriteShards(beam.PTransform):
    """Write Documents or Rejected records as Parquet under `folder/<partition>/part-NNNNN-of-MMMMM.parquet`."""

    def __init__(self, folder: str, schema: pa.Schema, shards: int, partition: Callable[[object], str] | None = None):
        super().__init__()
        if shards < 1:
            raise ValueError(f"shards must be at least 1, got {shards}")
        self.folder, self.schema, self.shards = folder, schema, shards
        self.partition = partition or (lambda record: "")

    def expand(self, records):
        shards, partition = self.shards, self.partition
        return (
            records
            | "Key" >> beam.Map(lambda r: ((partition(r), shard_of(r.id, shards)), (r.id, pack_record(r))))
            | "Group" >> beam.GroupByKey()
            | "Write" >> beam.ParDo(_WriteShardFn(self.folder, self.schema, shards))
        )


def write_documents(documents, folder: str, shards: int):
    """Documents partitioned by language (`lang=en/`, `lang=und/` when none was identified)."""
    return documents | "WriteDocuments" >> WriteShards(
        folder, DOCUMENT_SCHEMA, shards, partition=document_partition
    )


def write_rejected(rejected, folder: str, shards: int):
    """Rejected records partitioned by the stage that dropped them."""
    return rejected | "WriteRejected" >> WriteShards(
        folder, REJECTED_SCHEMA, shards, partition=rejected_partition
    )


def document_partition(document) -> str:
    return f"lang={document.lang or 'und'}"


def rejected_partition(rejected) -> str:
    return f"stage={rejected.stage}"


class _StreamingFile:
    """One Parquet file written row group by row group under a temporary name."""

    def __init__(self, final: str, schema: pa.Schema):
        self.final, self.schema = final, schema
        folder, name = FileSystems.split(final)
        ensure_folder(folder)
        self.temporary = FileSystems.join(folder, f".{name}.{uuid.uuid4().hex}{TEMPORARY_SUFFIX}")
        self._handle = FileSystems.create(self.temporary)
        self._writer = pq.ParquetWriter(self._handle, schema)
        self._batch: list[dict] = []
        self._batch_bytes = 0
        self.rows = 0

    def add(self, row: dict, size: int) -> None:
        self._batch.append(row)
        self._batch_bytes += size
        if len(self._batch) >= ROW_GROUP or self._batch_bytes >= ROW_GROUP_BYTES:
            self._flush()

    def _flush(self) -> None:
        if self._batch:
            self._writer.write_table(pa.Table.from_pylist(self._batch, schema=self.schema))
            self.rows += len(self._batch)
            self._batch, self._batch_bytes = [], 0

    def close(self) -> None:
        self._flush()
        self._writer.close()
        self._handle.close()
        replace(self.temporary, self.final)

    def abandon(self) -> None:
        self._writer.close()
        self._handle.close()
        FileSystems.delete([self.temporary])


class PartitionFiles:
    """The output files of one input: `folder/documents/<lang=..>/<name>.parquet` for kept documents and
    `folder/rejected/<stage=..>/<name>.parquet` for rejected records, streamed in arrival order.

    `close` renames every file to its final name and returns {relative path: rows}; the rejected rows are also
    counted by (stage, reason), which is what the funnel is computed from."""

    def __init__(self, folder: str, name: str):
        self.folder, self.name = folder, name
        self._files: dict[str, _StreamingFile] = {}
        self.rejected_reasons: Counter[tuple[str, str]] = Counter()

    def _file(self, kind: str, partition: str, schema: pa.Schema) -> _StreamingFile:
        relative = f"{kind}/{partition}/{self.name}.parquet"
        opened = self._files.get(relative)
        if opened is None:
            opened = self._files[relative] = _StreamingFile(FileSystems.join(self.folder, relative), schema)
        return opened

    def add_document(self, document) -> None:
        self._file("documents", document_partition(document), DOCUMENT_SCHEMA).add(to_row(document),
                                                                                   len(document.text))

    def add_rejected(self, rejected) -> None:
        self.rejected_reasons[(rejected.stage, rejected.reason)] += 1
        self._file("rejected", rejected_partition(rejected), REJECTED_SCHEMA).add(to_row(rejected),
                                                                                  len(rejected.excerpt))

    def close(self) -> dict[str, int]:
        for opened in self._files.values():
            opened.close()
        return {relative: opened.rows for relative, opened in sorted(self._files.items())}

    def abandon(self) -> None:
        for opened in self._files.values():
            opened.abandon()
