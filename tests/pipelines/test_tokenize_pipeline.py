"""train-tokenizer and tokenize on the sample corpus (the real output of `ccrefine corpus`) plus a source of
awkward documents written here; decoded shards must give back every document exactly."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from ccrefine.pipelines.cli import parse_command, run_command
from ccrefine.pipelines.settings_files import load_settings
from ccrefine.pipelines.tokenize import CONFIG_WHAT, TokenizeSettings, parse_source, settings_from_args
from ccrefine.transforms.records import DOCUMENT_SCHEMA, Document, to_row
from ccrefine.transforms.tokens.encoding import DocumentTokenizer, FimOptions, is_validation, undo_fim
from ccrefine.transforms.tokens.shards import TokenShard, verify_manifest

from ccrefine.errors import UsageError

SHIPPED_CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "configs" / "tokenize.yaml"
IN_MEMORY = ["--direct_running_mode", "in_memory", "--direct_num_workers", "1"]
MAX_TOKENS = 400
LONG_TEXT = "A very long document, repeated until it outgrows a shard. " * 60 + "长文档。" * 100
AWKWARD_TEXTS = {
    "odd-empty": "",
    "odd-long": LONG_TEXT,
    "odd-spaces": "  two leading spaces, a tab\tand CRLF\r\n and a literal \u2581 mark  ",
    "odd-specials": "a page that spells </s> and <fim_prefix> and <pad>",
    "odd-bytes": "rare 𠀀 and emoji 😀 only byte fallback knows",
}


command = run_command


def tokenize(output: Path, corpus: Path, awkward: Path, tokenizer: Path, *extra: str) -> dict:
    assert command(["tokenize", "--source", f"web={corpus}:2", "--source", f"odd={awkward}:1",
                    "--output", str(output), "--tokenizer", str(tokenizer), *extra, *IN_MEMORY]) == 0
    return json.loads((output / "manifest.json").read_text())


def decoded_documents(output: Path, manifest: dict, split: str | None = None) -> dict[str, Counter]:
    """Decoded texts per source (EOD removed; FIM documents put back in order)."""
    tokenizer = DocumentTokenizer((output / "tokenizer.model").read_bytes())
    texts: dict[str, Counter] = {}
    for record in manifest["shards"]:
        if split and record["split"] != split:
            continue
        shard = TokenShard(output / record["path"])
        for i in range(len(shard)):
            tokens = shard[i].tolist()
            assert tokens[-1] == manifest["eod_id"]
            if tokens[0] == tokenizer.fim_ids()[0]:
                tokens = sum(undo_fim(tokens, tokenizer.fim_ids()), []) + [tokens[-1]]
            texts.setdefault(record["source"], Counter())[tokenizer.decode(tokens[:-1])] += 1
    return texts


def tree(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def corpus(sample_corpus) -> Path:
    return sample_corpus  # the session's multilingual run of the sample (tests/conftest.py)


@pytest.fixture(scope="module")
def corpus_texts(corpus) -> Counter:
    files = sorted((corpus / "documents").glob("lang=*/*.parquet"))
    assert {path.parent.name for path in files} == {"lang=en", "lang=zh"}
    return Counter(text for path in files for text in pq.read_table(path, columns=["text"]).column("text").to_pylist())


@pytest.fixture(scope="module")
def awkward(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("awkward") / "part-00000.parquet"
    rows = [to_row(Document(doc_id, "https://odd.example/", "", "", text)) for doc_id, text in AWKWARD_TEXTS.items()]
    pq.write_table(pa.Table.from_pylist(rows, schema=DOCUMENT_SCHEMA), path)
    return path


@pytest.fixture(scope="module")
def tokenizer_dir(corpus, awkward, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("tokenizer")
    assert command(["train-tokenizer", "--input", str(corpus), "--input", str(awkward), "--output", str(output),
                    "--vocab-size", "1000", "--threads", "1"]) == 0
    return output


@pytest.fixture(scope="module")
def run(corpus, awkward, tokenizer_dir, tmp_path_factory) -> tuple[Path, dict]:
    output = tmp_path_factory.mktemp("shards") / "run"
    return output, tokenize(output, corpus, awkward, tokenizer_dir, "--val-fraction", "0.3", "--fim-rate", "0.5",
                            "--max-tokens-per-shard", str(MAX_TOKENS), "--token-budget", "10000")


def test_train_tokenizer_reports_tokens_per_character(corpus, tokenizer_dir, shared_data, tmp_path, capsys):
    text = shared_data / "text"
    assert command(["train-tokenizer", "--input", str(corpus), "--output", str(tmp_path), "--vocab-size", "1000",
                    "--threads", "1", "--eval-text", f"en={text / 'en_pud_news_wiki.txt'}",
                    "--eval-text", f"zh={text / 'zh_pud_news_wiki.txt'}", "--language-share", "zh=0.5"]) == 0
    printed = capsys.readouterr().out
    assert "zh 3/3 documents" in printed and "* 4/4 documents" in printed
    assert "tokens per character on en:" in printed and "tokens per character on zh:" in printed
    info = json.loads((tmp_path / "training.json").read_text())
    assert set(info["tokens_per_character"]) == {"en", "zh"} and info["vocab_size"] == 1000
    assert info["sample"]["language_shares"] == {"zh": 0.5} and info["sample"]["languages"]["zh"]["documents"] == 3
    assert info["special_ids"] == {"<s>": 1, "</s>": 2, "<pad>": 3, "<fim_prefix>": 4, "<fim_middle>": 5,
                                   "<fim_suffix>": 6}


def test_every_document_round_trips_exactly(run, corpus_texts):
    output, manifest = run
    texts = decoded_documents(output, manifest)
    assert texts["web"] == corpus_texts
    assert texts["odd"] == Counter(text for text in AWKWARD_TEXTS.values() if text)


def test_manifest_matches_the_shards_and_counts_what_was_skipped(run, corpus_texts, tokenizer_dir):
    output, manifest = run
    assert verify_manifest(output / "manifest.json") == manifest
    web, odd = manifest["sources"]["web"], manifest["sources"]["odd"]
    assert web["skipped"] == {} and odd["skipped"] == {"empty": 1}
    assert sum(split["documents"] for split in web["splits"].values()) == sum(corpus_texts.values())
    assert sum(split["documents"] for split in odd["splits"].values()) == len(AWKWARD_TEXTS) - 1
    assert manifest["dtype"] == "uint16" and manifest["eod_id"] == 2 and manifest["tokenizer"]["vocab_size"] == 1000
    model = (output / manifest["tokenizer"]["path"]).read_bytes()
    assert model == (tokenizer_dir / "tokenizer.model").read_bytes()
    assert manifest["tokenizer"]["sha256"] == hashlib.sha256(model).hexdigest()


def test_mixture_records_probabilities_and_epochs(run):
    _, manifest = run
    web, odd = manifest["sources"]["web"], manifest["sources"]["odd"]
    assert (web["weight"], odd["weight"]) == (2.0, 1.0)
    assert web["probability"] == pytest.approx(2 / 3) and odd["probability"] == pytest.approx(1 / 3)
    assert manifest["token_budget"] == 10000
    assert web["epochs"] == pytest.approx(10000 * 2 / 3 / web["splits"]["train"]["tokens"])


def test_oversized_document_is_alone_in_its_shard(run):
    _, manifest = run
    oversized = [shard for shard in manifest["shards"] if shard["tokens"] > MAX_TOKENS]
    assert oversized and all(shard["documents"] == 1 for shard in oversized)
    assert len(manifest["shards"]) > 4  # the limit cut the corpus into several shards


def test_fim_rearranges_some_training_documents_only(run, tokenizer_dir):
    output, manifest = run
    prefix_id = DocumentTokenizer((tokenizer_dir / "tokenizer.model").read_bytes()).fim_ids()[0]
    starts = Counter()
    for record in manifest["shards"]:
        shard = TokenShard(output / record["path"])
        starts.update((record["split"], int(shard[i][0]) == prefix_id) for i in range(len(shard)))
    assert starts[("train", True)] > 0 and starts[("train", False)] > 0
    assert starts[("val", True)] == 0 and starts[("val", False)] > 0


@pytest.mark.slow
def test_rerun_on_the_multiprocess_runner_is_byte_identical(run, corpus, awkward, tokenizer_dir, tmp_path):
    first, _ = run
    again = tmp_path / "again"
    assert command(["tokenize", "--source", f"web={corpus}:2", "--source", f"odd={awkward}:1",
                    "--output", str(again), "--tokenizer", str(tokenizer_dir), "--val-fraction", "0.3",
                    "--fim-rate", "0.5", "--max-tokens-per-shard", str(MAX_TOKENS), "--token-budget", "10000",
                    "--direct_num_workers", "2"]) == 0
    assert tree(again) == tree(first)


def test_the_resolved_settings_are_a_config_for_the_same_shards(run, corpus, awkward, tokenizer_dir, tmp_path):
    first, _ = run
    resolved = yaml.safe_load((first / "tokenize.yaml").read_text())
    assert resolved == {"dtype": "auto", "val_fraction": 0.3, "max_tokens_per_shard": MAX_TOKENS,
                        "token_budget": 10000, "fim": {"rate": 0.5, "seed": 0}}
    tokenize(tmp_path / "again", corpus, awkward, tokenizer_dir, "--config", str(first / "tokenize.yaml"))
    assert tree(tmp_path / "again") == tree(first)


def settings_for(argv: list[str]) -> TokenizeSettings:
    args, _ = parse_command(["tokenize", "--input", "x", "--output", "o", "--tokenizer", "t.model", *argv])
    return settings_from_args(args)


def test_a_config_file_sets_what_the_flags_given_do_not(tmp_path):
    assert load_settings(TokenizeSettings, str(SHIPPED_CONFIG), {}, CONFIG_WHAT) == TokenizeSettings() == \
        settings_for([])
    config = tmp_path / "tokenize.yaml"
    config.write_text("val_fraction: 0.05\nfim: {rate: 0.5}\ntoken_budget: 1000000\n")
    settings = settings_for(["--config", str(config), "--fim-seed", "3", "--val-fraction", "0.1"])
    assert settings == TokenizeSettings(val_fraction=0.1, token_budget=1_000_000, fim=FimOptions(0.5, 3))


@pytest.mark.parametrize("text, message", [
    ("val_fraction: 1.5\n", "val_fraction must be in [0, 1), got 1.5"),
    ("fim: {rate: 2}\n", "fim: rate must be in [0, 1], got 2"),
    ("dtype: uint8\n", "dtype"),
    ("max_tokens: 10\n", "unknown key(s) max_tokens; valid keys: dtype, val_fraction"),
    ("token_budget: 0\n", "token_budget must be at least 1"),
])
def test_a_bad_config_value_names_the_file_and_key(tmp_path, text, message):
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    with pytest.raises(UsageError, match=re.escape(f"tokenize config {config}: ")) as caught:
        settings_for(["--config", str(config)])
    assert message in str(caught.value)


def test_validation_split_does_not_depend_on_shard_size(run, corpus, awkward, tokenizer_dir, tmp_path):
    first_output, first = run
    second = tokenize(tmp_path / "big", corpus, awkward, tokenizer_dir, "--val-fraction", "0.3")
    assert len(second["shards"]) == 4  # one shard per split and source
    assert decoded_documents(tmp_path / "big", second, "val") == decoded_documents(first_output, first, "val")
    for name in ("web", "odd"):
        assert second["sources"][name]["splits"]["val"] == first["sources"][name]["splits"]["val"]


def test_output_holding_a_manifest_is_refused(run, corpus, awkward, tokenizer_dir):
    output, _ = run
    with pytest.raises(UsageError, match="holds a complete output already; add --overwrite"):
        tokenize(output, corpus, awkward, tokenizer_dir)


def test_vocabulary_too_large_for_the_dtype_is_refused(corpus, awkward, tokenizer_dir, tmp_path, monkeypatch):
    import ccrefine.pipelines.tokenize as tokenize_module

    class HugeTokenizer(DocumentTokenizer):
        def __init__(self, model_proto: bytes):
            super().__init__(model_proto)
            self.vocab_size = 70000

    monkeypatch.setattr(tokenize_module, "DocumentTokenizer", HugeTokenizer)
    with pytest.raises(UsageError, match="70000 ids does not fit uint16"):
        tokenize(tmp_path / "out", corpus, awkward, tokenizer_dir, "--dtype", "uint16")
    assert not (tmp_path / "out").exists(), "nothing is written before the checks pass"


def test_bad_sources_and_tokenizers_name_the_fix(corpus, tokenizer_dir, tmp_path):
    with pytest.raises(UsageError, match="matches no Parquet file"):
        command(["tokenize", "--input", str(tmp_path / "nothing"), "--output", str(tmp_path / "o"),
                 "--tokenizer", str(tokenizer_dir)])
    with pytest.raises(UsageError, match="NAME=PATH"):
        parse_source("no-equals-sign")
    with pytest.raises(UsageError, match="unique name"):
        command(["tokenize", "--source", f"a={corpus}", "--source", f"a={corpus}", "--output", str(tmp_path / "o"),
                 "--tokenizer", str(tokenizer_dir)])
    with pytest.raises(UsageError, match="does not exist; run train-tokenizer"):
        command(["tokenize", "--input", str(corpus), "--output", str(tmp_path / "o"), "--tokenizer",
                 str(tmp_path / "missing.model")])
    with pytest.raises(UsageError, match="each share must be in"):
        command(["train-tokenizer", "--input", str(corpus), "--output", str(tmp_path / "t"), "--language-share",
                 "zh=0.7", "--language-share", "en=0.7"])
    with pytest.raises(UsageError, match="raise the vocabulary size"):
        command(["train-tokenizer", "--input", str(corpus), "--output", str(tmp_path / "t"), "--vocab-size", "300"])


def test_a_source_left_without_validation_documents_is_named_with_the_fix(corpus, tokenizer_dir, tmp_path, capsys,
                                                                           caplog):
    tiny = tmp_path / "tiny.parquet"
    ids = ["tiny-2", "tiny-4", "tiny-5"]
    assert not any(is_validation(doc_id, 0.3) for doc_id in ids)  # a corpus too small for the fraction
    rows = [to_row(Document(doc_id, "https://tiny.example/", "", "", f"Document {doc_id}.")) for doc_id in ids]
    pq.write_table(pa.Table.from_pylist(rows, schema=DOCUMENT_SCHEMA), tiny)
    with caplog.at_level(logging.WARNING, logger="ccrefine.pipelines.tokenize"):
        assert command(["tokenize", "--source", f"web={corpus}", "--source", f"tiny={tiny}", "--output",
                        str(tmp_path / "out"), "--tokenizer", str(tokenizer_dir), "--val-fraction", "0.3",
                        *IN_MEMORY]) == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["sources"]["tiny"]["splits"]["val"]["documents"] == 0
    assert manifest["sources"]["web"]["splits"]["val"]["documents"] > 0
    printed = [line for line in capsys.readouterr().err.splitlines() if "validation" in line]
    assert printed == ["ccrefine tokenize: warning: no validation documents in source(s) tiny at --val-fraction 0.3: "
                       "raise --val-fraction or give more documents"]
    assert [record.getMessage() for record in caplog.records] == [
        "source tiny has no validation documents: 3 training documents at a validation fraction of 0.3"]


def test_source_weights_parse_after_the_last_colon():
    assert parse_source("web=gs://bucket/corpus:0.7").weight == 0.7
    assert parse_source("web=gs://bucket/corpus").patterns == ("gs://bucket/corpus",)
    with pytest.raises(UsageError, match="positive"):
        parse_source("web=/data:0")


def test_a_changed_shard_fails_verification(run, tmp_path):
    output, manifest = run
    copy = tmp_path / "copy"
    shutil.copytree(output, copy)
    shard = copy / manifest["shards"][0]["path"]
    data = bytearray(shard.read_bytes())
    data[0] ^= 1  # the first document's first token: still a valid shard, but not the one written
    shard.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="sha256 differs"):
        verify_manifest(copy / "manifest.json")
