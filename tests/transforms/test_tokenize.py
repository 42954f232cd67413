"""The pure half of tokenization: the training sample, exact encoding, FIM, the shard format and the manifest."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sentencepiece as spm
import yaml
from ccrefine.pipelines.sample import PAGES
from ccrefine.transforms.records import DOCUMENT_SCHEMA, Document, to_row
from ccrefine.transforms.tokens.encoding import (
    FIM_PIECES,
    DocumentTokenizer,
    FimOptions,
    TokenizerError,
    encode_document,
    fim_cut_points,
    is_validation,
    tokens_per_character,
    undo_fim,
)
from ccrefine.transforms.tokens.shards import (
    ManifestError,
    ShardError,
    TokenShard,
    build_manifest,
    cut_into_shards,
    idx_path,
    source_mixture,
    sources_without_validation,
    token_dtype,
    verify_manifest,
    write_token_shard,
)
from ccrefine.transforms.tokens.training import (
    LanguageSample,
    TrainerOptions,
    TrainingSample,
    iter_parquet_documents,
    train_tokenizer,
    training_sentences,
)

TRICKY_TEXTS = [
    "  leading and trailing spaces  ",
    "tabs\tand\r\nCRLF\n\n\nblank lines",
    "literal </s> <s> <pad> <fim_prefix> <fim_middle> <fim_suffix> in a page",
    "emoji 😀, rare Han 𠀀 龘, a literal \u2581 space mark, x\u2581\u2581y",
    "NUL \x00 and control \x01 characters",
    "NFKC would change these: ｆｕｌｌ width, e\u0301, ﬁ ligature, ①",
    "digits 1234567890 and 3.14159",
    "中文句子，没有空格。繁體中文也可以。",
    "    indented code\n        deeper",
    "\u2581",
    " ",
]


def sample_page_texts() -> list[str]:
    """The English and Chinese article paragraphs `ccrefine sample` ships: always present, written for ccrefine."""
    pages = yaml.safe_load(PAGES.read_text(encoding="utf-8"))
    return [text for article in pages["articles"] for text in (article["title"], *article["paragraphs"])]


@pytest.fixture(scope="module")
def tokenizer() -> DocumentTokenizer:
    options = TrainerOptions(vocab_size=1000, threads=1)
    return DocumentTokenizer(train_tokenizer(training_sentences(sample_page_texts(), 16384), options))


# ---- the training sample ---------------------------------------------------------------------------------------


def test_sample_keeps_the_document_budget_and_ignores_read_order():
    documents = [(f"doc-{i}", f"text {i}") for i in range(1000)]
    forward, backward = TrainingSample(50, seed=3), TrainingSample(50, seed=3)
    for doc_id, text in documents:
        forward.offer(doc_id, text)
    for doc_id, text in reversed(documents):
        backward.offer(doc_id, text)
    assert len(forward.texts()) == 50 and forward.offered == 1000
    assert forward.texts() == backward.texts()
    other = TrainingSample(50, seed=4)
    for doc_id, text in documents:
        other.offer(doc_id, text)
    assert set(other.texts()) != set(forward.texts())


def test_sample_is_uniform_over_documents():
    # Each of 200 documents should be drawn with probability 20/200 = 0.1 over many seeds.
    hits: Counter = Counter()
    seeds = 400
    for seed in range(seeds):
        sample = TrainingSample(20, seed=seed)
        for i in range(200):
            sample.offer(str(i), f"document {i}")
        hits.update(sample.texts())
    frequencies = np.array([hits[f"document {i}"] / seeds for i in range(200)])
    assert abs(frequencies.mean() - 0.1) < 1e-9
    assert frequencies.min() > 0.03 and frequencies.max() < 0.2  # binomial(400, 0.1): sd 0.015


def test_character_budget_stops_at_the_first_document_that_fills_it():
    sample = TrainingSample(1000, unit="characters")
    for i in range(100):
        sample.offer(str(i), "x" * 90)
    sample.offer("empty", "")
    assert 1000 <= sample.characters < 1090 and len(sample.texts()) == 12
    assert sample.offered == 100  # empty documents are not offered


def test_language_shares_reserve_the_budget_for_a_minority_language():
    sample = LanguageSample(1000, unit="characters", shares={"zh": 0.4})
    for i in range(500):
        sample.offer(f"en{i}", "e" * 50, "en")
        sample.offer(f"zh{i}", "中" * 10, "zh" if i < 100 else "und")  # 100 Chinese documents, 1000 characters
    described = sample.describe()
    assert 400 <= described["zh"]["characters"] < 410 and described["zh"]["offered"] == 100
    assert 600 <= described["*"]["characters"] < 650  # English and undetermined documents share the rest
    assert len(sample.texts()) == described["zh"]["documents"] + described["*"]["documents"]
    only_zh = LanguageSample(5, shares={"zh": 1.0})
    only_zh.offer("en", "english", "en")
    assert only_zh.texts() == [] and set(only_zh.describe()) == {"zh"}
    with pytest.raises(ValueError, match="add up to at most 1"):
        LanguageSample(5, shares={"zh": 0.6, "en": 0.6})


def test_training_sentences_split_lines_and_cut_long_ones():
    long_line = "长" * 5000
    sentences = list(training_sentences(["one\ntwo\n\nthree", long_line], max_sentence_bytes=4000))
    assert sentences[:3] == ["one", "two", "three"]
    assert "".join(sentences[3:]) == long_line and all(len(s.encode()) <= 4000 for s in sentences)


def test_parquet_documents_stream_id_and_text(tmp_path):
    path = tmp_path / "part.parquet"
    rows = [to_row(Document(f"id{i}", "u", "", "", f"text {i}")) for i in range(2500)]
    pq.write_table(pa.Table.from_pylist(rows, schema=DOCUMENT_SCHEMA), path, row_group_size=1000)
    assert list(iter_parquet_documents(str(path), batch_size=700)) == [(f"id{i}", f"text {i}") for i in range(2500)]
    assert next(iter_parquet_documents(str(path), ("text", "no_such_column"))) == ("text 0", None)


# ---- the tokenizer -----------------------------------------------------------------------------------------------


def test_special_pieces_are_control_symbols_with_fixed_ids(tokenizer):
    processor = tokenizer.processor
    assert [processor.id_to_piece(i) for i in range(7)] == ["<unk>", "<s>", "</s>", "<pad>", *FIM_PIECES]
    assert all(processor.is_control(i) for i in range(1, 7)) and tokenizer.eod_id == 2
    assert tokenizer.fim_ids() == (4, 5, 6)


@pytest.mark.parametrize("text", TRICKY_TEXTS + sample_page_texts())
def test_encoding_round_trips_exactly(tokenizer, text):
    ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == text
    assert not set(ids) & set(range(1, 7)), "text never produces a control id, even when it spells one"
    assert 0 not in ids, "byte fallback: no <unk>"


def test_training_sample_settings_keep_chinese_characters_as_pieces(tokenizer):
    # Frequent Han characters from the training text get pieces of their own rather than three byte tokens.
    pieces = tokenizer.processor.encode("茶园", out_type=str)
    assert not any(piece.startswith("<0x") for piece in pieces)


def test_vocabulary_that_does_not_fit_the_text_names_the_fix():
    sentences = list(training_sentences(sample_page_texts(), 16384))
    with pytest.raises(TokenizerError, match="raise the vocabulary size or lower the character coverage"):
        train_tokenizer(sentences, TrainerOptions(vocab_size=300, threads=1))
    with pytest.raises(TokenizerError, match="lower the vocabulary size or sample more text"):
        train_tokenizer(sentences, TrainerOptions(model_type="unigram", vocab_size=8000, threads=1))


def test_tokens_per_character_on_reference_text(tokenizer, shared_data):
    english = (shared_data / "text" / "en_pud_news_wiki.txt").read_text(encoding="utf-8").split("\n")
    chinese = (shared_data / "text" / "zh_gsdsimp_wikipedia.test.txt").read_text(encoding="utf-8").split("\n")
    # A 1000-piece model on 5 kB of text: English merges cut tokens well below one per character; most Chinese
    # characters are unseen and cost three byte tokens. These bound the behaviour, not the quality.
    assert 0.2 < tokens_per_character(tokenizer, english) < 0.7
    assert 1.0 < tokens_per_character(tokenizer, chinese) < 3.0
    with pytest.raises(ValueError):
        tokens_per_character(tokenizer, ["", ""])


def test_validation_split_is_a_stable_fraction():
    ids = [f"urn:uuid:{i}" for i in range(20000)]
    held_out = [doc_id for doc_id in ids if is_validation(doc_id, 0.05)]
    assert 0.04 < len(held_out) / len(ids) < 0.06
    assert held_out == [doc_id for doc_id in ids if is_validation(doc_id, 0.05)]
    assert set(held_out) <= {doc_id for doc_id in ids if is_validation(doc_id, 0.10)}  # growing the split keeps it
    assert not any(is_validation(doc_id, 0.0) for doc_id in ids)


# ---- fill in the middle ------------------------------------------------------------------------------------------


def test_fim_is_deterministic_per_document_and_hits_the_rate():
    options = FimOptions(rate=0.5, seed=1)
    cuts = [fim_cut_points(f"doc{i}", 100, options) for i in range(2000)]
    assert cuts == [fim_cut_points(f"doc{i}", 100, options) for i in range(2000)]
    rearranged = [cut for cut in cuts if cut is not None]
    assert 0.45 < len(rearranged) / len(cuts) < 0.55
    assert all(0 <= start <= end <= 100 for start, end in rearranged)
    assert fim_cut_points("doc0", 100, FimOptions(rate=0.0)) is None
    assert cuts != [fim_cut_points(f"doc{i}", 100, FimOptions(rate=0.5, seed=2)) for i in range(2000)]


@pytest.mark.parametrize("text", sample_page_texts()[:6] + TRICKY_TEXTS)
def test_fim_psm_is_reversible_and_keeps_every_token(tokenizer, text):
    tokens = encode_document(tokenizer, "some-id", text, FimOptions(rate=1.0))
    prefix_id, middle_id, suffix_id = tokenizer.fim_ids()
    assert tokens[0] == prefix_id and tokens[-1] == tokenizer.eod_id
    assert tokens.index(suffix_id) < tokens.index(middle_id)
    prefix, middle, suffix = undo_fim(tokens, tokenizer.fim_ids())
    assert tokenizer.decode(prefix) + tokenizer.decode(middle) + tokenizer.decode(suffix) == text
    assert Counter(prefix + middle + suffix) + Counter([prefix_id, middle_id, suffix_id, tokenizer.eod_id]) == Counter(
        tokens
    )


def test_documents_without_fim_end_with_eod_only(tokenizer):
    tokens = encode_document(tokenizer, "id", "plain text", FimOptions(rate=0.0))
    assert tokens == tokenizer.encode("plain text") + [tokenizer.eod_id]
    with pytest.raises(ValueError, match="not a PSM document"):
        undo_fim(tokens, tokenizer.fim_ids())


def test_fim_needs_the_sentinels_in_the_model():
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(sample_page_texts()), model_writer=model,
                                   vocab_size=1000, byte_fallback=True, minloglevel=2, num_threads=1)
    plain = DocumentTokenizer(model.getvalue())
    with pytest.raises(TokenizerError, match="lacks the FIM pieces"):
        encode_document(plain, "id", "text", FimOptions(rate=1.0))


# ---- token shards ------------------------------------------------------------------------------------------------


def test_dtype_fits_the_vocabulary_or_says_what_to_do():
    assert token_dtype(32000) == np.dtype("<u2") and token_dtype(65536) == np.dtype("<u2")
    assert token_dtype(65537) == np.dtype("<u4") and token_dtype(1000, "uint32") == np.dtype("<u4")
    with pytest.raises(TokenizerError, match="70000 ids does not fit uint16.*use dtype uint32 or auto"):
        token_dtype(70000, "uint16")


def test_oversized_document_gets_a_shard_of_its_own():
    documents = [np.ones(size, dtype="<u2") for size in (3, 4, 25, 2, 8, 3)]
    groups = [[len(tokens) for tokens in group] for group in cut_into_shards(documents, max_tokens=10)]
    assert groups == [[3, 4], [25], [2, 8], [3]]


def write_shard(folder: Path, name: str, documents: list[list[int]], dtype="<u2") -> dict:
    bin_path = folder / f"{name}.bin"
    with bin_path.open("wb") as bin_file, idx_path(bin_path).open("wb") as idx_file:
        stats = write_token_shard(bin_file, idx_file, [np.array(d) for d in documents], np.dtype(dtype))
    return {"path": f"{name}.bin", "split": "train", "source": "web", "documents": stats.documents,
            "tokens": stats.tokens, "sha256": stats.sha256}


def test_shard_reader_memory_maps_documents(tmp_path):
    documents = [[5, 6, 7, 2], [2], [9, 65535, 2]]
    record = write_shard(tmp_path, "part", documents)
    shard = TokenShard(tmp_path / "part.bin")
    assert len(shard) == 3 and [shard[i].tolist() for i in range(3)] == documents
    assert isinstance(shard.tokens, np.memmap) and np.shares_memory(shard[2], shard.tokens)  # a view, no copy
    assert record["tokens"] == 8 and (tmp_path / "part.bin").stat().st_size == 16
    # The format is what the module docstring says: raw little-endian tokens; header + uint64 offsets.
    assert np.fromfile(tmp_path / "part.bin", dtype="<u2").tolist() == sum(documents, [])
    raw_index = (tmp_path / "part.idx").read_bytes()
    assert raw_index[:8] == b"CCRTKIDX" and np.frombuffer(raw_index[32:], "<u8").tolist() == [0, 4, 5, 8]
    shard.check(eod_id=2)
    with pytest.raises(IndexError):
        shard[3]


def test_damaged_shards_are_refused(tmp_path):
    write_shard(tmp_path, "part", [[5, 2], [6, 2]])
    with (tmp_path / "part.bin").open("ab") as handle:
        handle.write(b"\x00\x00")
    with pytest.raises(ShardError, match="index says 4 tokens"):
        TokenShard(tmp_path / "part.bin")
    (tmp_path / "part.idx").write_bytes(b"NOTANIDX" + bytes(24))
    with pytest.raises(ShardError, match="not a version 1 token shard index"):
        TokenShard(tmp_path / "part.bin")
    write_shard(tmp_path, "no_eod", [[5, 6]])
    with pytest.raises(ShardError, match="does not end with the end-of-document id"):
        TokenShard(tmp_path / "no_eod.bin").check(eod_id=2)


# ---- the manifest ------------------------------------------------------------------------------------------------


def test_mixture_gives_probabilities_and_epochs():
    sources = {"web": {"weight": 3.0}, "books": {"weight": 1.0}, "empty": {"weight": 1.0}}
    mixture = source_mixture(sources, {"web": 600, "books": 100}, token_budget=1000)
    assert mixture["sources"]["web"] == {"probability": 0.6, "epochs": 1.0}
    assert mixture["sources"]["books"] == {"probability": 0.2, "epochs": 2.0}
    assert mixture["sources"]["empty"]["epochs"] is None
    assert source_mixture(sources, {"web": 600, "books": 100}, None)["token_budget"] == 700


@pytest.fixture
def manifest_path(tmp_path) -> Path:
    shards = [write_shard(tmp_path, "a", [[5, 2], [6, 7, 2]]), write_shard(tmp_path, "b", [[8, 2]])]
    manifest = build_manifest(shards, {"web": {"weight": 1.0}}, {"web": {"empty": 2}},
                              {"dtype": "uint16", "eod_id": 2})
    assert manifest["sources"]["web"]["splits"]["train"] == {"documents": 3, "tokens": 7}
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2))
    return path


def test_verify_accepts_matching_shards(manifest_path):
    assert verify_manifest(manifest_path)["sources"]["web"]["skipped"] == {"empty": 2}


def test_verify_names_a_changed_shard(manifest_path):
    shard = manifest_path.parent / "a.bin"
    data = bytearray(shard.read_bytes())
    data[0] ^= 1
    shard.write_bytes(bytes(data))
    with pytest.raises(ManifestError, match="a.bin: sha256 differs"):
        verify_manifest(manifest_path)


def test_verify_names_wrong_counts_and_missing_shards(manifest_path):
    manifest = json.loads(manifest_path.read_text())
    manifest["shards"][1]["documents"] = 5
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ManifestError, match=r"b.bin: holds 1 documents / 2 tokens, the manifest says 5 / 2"):
        verify_manifest(manifest_path)
    (manifest_path.parent / "a.idx").unlink()
    with pytest.raises(ManifestError, match=r"a.idx"):
        verify_manifest(manifest_path)


def test_sources_without_validation_documents_are_named_only_when_some_were_held_out():
    shards = [{"path": "train/web/a.bin", "split": "train", "source": "web", "documents": 3, "tokens": 9, "sha256": ""},
              {"path": "val/web/a.bin", "split": "val", "source": "web", "documents": 1, "tokens": 4, "sha256": ""},
              {"path": "train/tiny/a.bin", "split": "train", "source": "tiny", "documents": 2, "tokens": 5,
               "sha256": ""}]
    sources = {"web": {"weight": 1.0}, "tiny": {"weight": 1.0}}
    held_out = build_manifest(shards, sources, {}, {"val_fraction": 0.01})
    assert sources_without_validation(held_out) == ["tiny"]
    assert sources_without_validation(build_manifest(shards, sources, {}, {"val_fraction": 0.0})) == []
