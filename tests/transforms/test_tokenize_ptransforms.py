"""The Beam half of tokenization: corpus Parquet files read with their provenance, documents without text routed to
`rejected` as Rejected records of the stage "tokenize" and counted with the shared step counters, the rest encoded
with EOD into their split."""

from __future__ import annotations

from pathlib import Path

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to
from ccrefine.transforms.records import DOCUMENT_SCHEMA, Document, Rejected, to_row
from ccrefine.transforms.tokens.encoding import DocumentTokenizer, FimOptions, is_validation
from ccrefine.transforms.tokens.ptransforms import STAGE, ReadCorpusDocuments, TokenizeDocuments
from ccrefine.transforms.tokens.training import TrainerOptions, train_tokenizer, training_sentences

IN_MEMORY = ["--direct_running_mode", "in_memory", "--direct_num_workers", "1"]
VAL_FRACTION = 0.5
# id -> (url, text): two documents without text (an empty string and a null), three with
DOCUMENTS = {
    "doc-empty": ("https://a.example/empty", ""),
    "doc-null": ("https://a.example/null", None),
    "doc-1": ("https://a.example/1", "The first page has a sentence."),
    "doc-2": ("https://a.example/2", "The second page has two.\nOne more line."),
    "doc-a": ("https://a.example/a", "A third, with a literal </s> in it."),
}


@pytest.fixture(scope="module")
def model_path(shared_data, tmp_path_factory) -> Path:
    lines = (shared_data / "text" / "en_ewt_web.dev.txt").read_text(encoding="utf-8").splitlines()
    model = train_tokenizer(training_sentences(lines, 16384), TrainerOptions(vocab_size=1000, threads=1))
    path = tmp_path_factory.mktemp("tokenizer") / "tokenizer.model"
    path.write_bytes(model)
    return path


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "part-00000.parquet"
    rows = [to_row(Document(doc_id, url, "", "", text)) for doc_id, (url, text) in DOCUMENTS.items()]
    pq.write_table(pa.Table.from_pylist(rows, schema=DOCUMENT_SCHEMA), path)
    return path


def test_documents_without_text_are_rejected_with_their_provenance_and_counted(model_path, corpus_file):
    tokenizer = DocumentTokenizer(model_path.read_bytes())
    kept = [("web", "val" if is_validation(doc_id, VAL_FRACTION) else "train", doc_id,
             np.asarray(tokenizer.encode(text) + [tokenizer.eod_id], dtype="<u2").tobytes())
            for doc_id, (_, text) in DOCUMENTS.items() if text]
    rejected = [("web", Rejected(id=doc_id, url=DOCUMENTS[doc_id][0], stage="tokenize", reason="empty",
                                 source=str(corpus_file)))
                for doc_id in ("doc-empty", "doc-null")]

    pipeline = beam.Pipeline(options=PipelineOptions(IN_MEMORY))
    tokenized = (pipeline
                 | beam.Create([("web", str(corpus_file))])
                 | ReadCorpusDocuments()
                 | TokenizeDocuments(str(model_path), "uint16", VAL_FRACTION, FimOptions()))
    assert_that(tokenized.kept, equal_to(kept), label="Kept")
    assert_that(tokenized.rejected, equal_to(rejected), label="Rejected")
    result = pipeline.run()
    result.wait_until_finish()

    assert {split for _, split, _, _ in kept} == {"train", "val"}  # both splits are exercised
    counters = {record.key.metric.name: record.committed
                for record in result.metrics().query(MetricsFilter().with_namespace(STAGE))["counters"]}
    tokens = sum(len(data) // 2 for *_, data in kept)
    assert counters == {"kept": 3, "dropped.empty": 2, "tokens": tokens}
