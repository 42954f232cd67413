"""The thin Beam half of tokenization: read corpus Parquet files, tokenize their documents, write token shards.

Documents travel as (source, id, text, url) and tokenized ones as (source, split, id, token bytes), where `source`
is the name of the mixture source the file belongs to. `TokenizeDocuments` counts `kept` / `dropped.<reason>` under
the stage "tokenize" (plus `tokens`) and sends each dropped document to `.rejected` as (source, Rejected), so the
manifest can count what each source lost.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from ccrefine.transforms.ptransforms import KEPT, REJECTED, StepCounters
from ccrefine.transforms.records import Rejected
from ccrefine.transforms.tokens.encoding import DocumentTokenizer, FimOptions, encode_document, is_validation
from ccrefine.transforms.tokens.shards import TOKEN_DTYPES, cut_into_shards, write_token_shard
from ccrefine.transforms.tokens.training import iter_parquet_documents

from ccrefine.files import TEMPORARY_SUFFIX, ensure_folder, open_file, read_bytes, replace

STAGE = "tokenize"


class _ReadDocumentsFn(beam.DoFn):
    def process(self, element):
        source, path = element
        with open_file(path) as handle:
            for doc_id, text, url in iter_parquet_documents(handle, ("id", "text", "url")):
                yield source, doc_id, text, url, path


class ReadCorpusDocuments(beam.PTransform):
    """(source, Parquet path) pairs -> (source, id, text, url, path) of every document, the files fanned out across
    workers and each streamed."""

    def expand(self, files):
        return files | "FanOut" >> beam.Reshuffle() | "Read" >> beam.ParDo(_ReadDocumentsFn())


def empty_document(source: str, doc_id: str, url: str | None, path: str) -> tuple[str, Rejected]:
    """The rejection of a document with no text (nothing to train on), keyed by its source."""
    return source, Rejected(id=doc_id, url=url or "", stage=STAGE, reason="empty", source=path)


class _TokenizeFn(beam.DoFn):
    """(source, id, text, url, path) -> (source, split, id, token bytes); empty documents go to `rejected`."""

    def __init__(self, model_path: str, dtype: str, val_fraction: float, fim: FimOptions):
        self._model_path, self._dtype, self._val_fraction, self._fim = model_path, dtype, val_fraction, fim
        self._counters = StepCounters(STAGE)
        self._tokens = Metrics.counter(STAGE, "tokens")

    def setup(self):
        self._tokenizer = DocumentTokenizer(read_bytes(self._model_path))

    def process(self, element):
        source, doc_id, text, url, path = element
        if not text:
            self._counters.drop("empty")
            yield beam.pvalue.TaggedOutput(REJECTED, empty_document(source, doc_id, url, path))
            return
        split = "val" if is_validation(doc_id, self._val_fraction) else "train"
        # FIM only in training: validation loss stays the plain left-to-right loss.
        tokens = encode_document(self._tokenizer, doc_id, text, self._fim if split == "train" else None)
        self._counters.kept.inc()
        self._tokens.inc(len(tokens))
        yield source, split, doc_id, np.asarray(tokens, dtype=TOKEN_DTYPES[self._dtype]).tobytes()


class TokenizeDocuments(beam.PTransform):
    """Documents -> `.kept` (source, split, id, token bytes) with EOD (and FIM in training) and `.rejected`
    (source, Rejected). Workers load the tokenizer at `model_path` once, in setup."""

    def __init__(self, model_path: str, dtype: str, val_fraction: float, fim: FimOptions):
        super().__init__()
        self._fn = _TokenizeFn(model_path, dtype, val_fraction, fim)

    def expand(self, documents):
        return documents | beam.ParDo(self._fn).with_outputs(REJECTED, main=KEPT)


class _WriteShardsFn(beam.DoFn):
    """One hash bucket -> its documents sorted by id -> one or more shards of at most max_tokens."""

    def __init__(self, output: str, dtype: str, max_tokens: int):
        self._output, self._dtype, self._max_tokens = output, TOKEN_DTYPES[dtype], max_tokens

    def process(self, element):
        (source, split, bucket), documents = element
        ordered = (np.frombuffer(data, self._dtype) for _, data in sorted(documents))
        folder = FileSystems.join(self._output, split, source)
        ensure_folder(folder)
        for piece, group in enumerate(cut_into_shards(ordered, self._max_tokens)):
            name = f"part-{bucket:05d}-{piece:03d}"
            temporary = FileSystems.join(folder, f".{name}.{uuid.uuid4().hex}")
            with (FileSystems.create(f"{temporary}.bin{TEMPORARY_SUFFIX}") as bin_file,
                  FileSystems.create(f"{temporary}.idx{TEMPORARY_SUFFIX}") as idx_file):
                stats = write_token_shard(bin_file, idx_file, group, self._dtype)
            replace(f"{temporary}.idx{TEMPORARY_SUFFIX}", FileSystems.join(folder, name + ".idx"))
            replace(f"{temporary}.bin{TEMPORARY_SUFFIX}", FileSystems.join(folder, name + ".bin"))
            yield {"path": f"{split}/{source}/{name}.bin", "split": split, "source": source, **asdict(stats)}


class WriteTokenShards(beam.PTransform):
    """((source, split, bucket), (id, token bytes)) -> OUTPUT/<split>/<source>/part-BBBBB-PPP.bin / .idx, one
    bucket's documents in id order; yields each shard's manifest entry {path, split, source, documents, tokens,
    sha256}."""

    def __init__(self, output: str, dtype: str, max_tokens: int):
        super().__init__()
        self._fn = _WriteShardsFn(output, dtype, max_tokens)

    def expand(self, keyed):
        return keyed | "GroupBuckets" >> beam.GroupByKey() | "Write" >> beam.ParDo(self._fn)
