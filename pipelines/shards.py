"""Writing records as Parquet shards through Beam's FileSystems (local, gs://, s3://, hdfs://).

Records are keyed by (partition, shard) — the shard from a hash of the document id, so the same input
always lands in the same file — grouped, and each group is streamed into one Parquet file in row groups.
A file is written under a temporary name and renamed when complete, so a retried bundle never leaves a
half-written shard behind.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from transforms.records import DOCUMENT_SCHEMA, REJECTED_SCHEMA, pack_record, to_row, unpack_record

ROW_GROUP = 1000


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
        temporary = FileSystems.join(directory, f".{name}.{uuid.uuid4().hex}.tmp")
        _ensure_folder(directory)
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
        if FileSystems.exists(final):
            FileSystems.delete([final])
        FileSystems.rename([temporary], [final])
        yield final, rows


def _ensure_folder(path: str) -> None:
    try:
        FileSystems.mkdirs(path)
    except OSError:
        pass  # it exists (another worker made it), or the filesystem has no folders (object stores)


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
        folder, DOCUMENT_SCHEMA, shards, partition=lambda d: f"lang={d.lang or 'und'}"
    )


def write_rejected(rejected, folder: str, shards: int):
    """Rejected records partitioned by the stage that dropped them."""
    return rejected | "WriteRejected" >> WriteShards(
        folder, REJECTED_SCHEMA, shards, partition=lambda r: f"stage={r.stage}"
    )
