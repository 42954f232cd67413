"""MinHash: normalisation, shingle hashing against datasketch's own MinHash, LSH shapes, and DedupMinHash on the
DirectRunner (near-duplicates, keep rules, verification, a 20,000-document cluster)."""

from __future__ import annotations

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from ccrefine.transforms.dedup.minhash import (
    PRESETS,
    SCHEME,
    LshParams,
    MinHasher,
    MinHashOptions,
    bucket_edges,
    bucket_records,
    choose_bands_rows,
    keep_rank,
    minhash_settings,
    normalize_text,
    shingle_hash32,
    shingle_tokens,
    token_hash64,
    word_hashes,
)
from ccrefine.transforms.dedup.ptransforms import Deduplicate
from ccrefine.transforms.dedup.sources import write_documents_file
from ccrefine.transforms.records import Document
from datasketch import LeanMinHash, MinHash
from hypothesis import given, settings
from hypothesis import strategies as st

IN_MEMORY = ["--direct_running_mode", "in_memory", "--direct_num_workers", "1"]
WORDS = st.sampled_from(["alpha", "Beta", "gamma,", "délta", "42", "épsilon!", "zeta", "ŋ", "中文", "x"])


def datasketch_signature(tokens: list[str], ngram: int, options: MinHashOptions) -> np.ndarray:
    """The signature datasketch computes itself, shingle by shingle, with our hash function and pinned scheme."""
    width = min(ngram, len(tokens))
    shingles = [tuple(tokens[i : i + width]) for i in range(len(tokens) - width + 1)]
    minhash = MinHash(num_perm=options.lsh.num_perm, seed=options.seed, hashfunc=shingle_hash32, scheme=SCHEME)
    minhash.update_batch(shingles)
    return minhash.hashvalues


def test_normalisation_folds_case_accents_digits_punctuation_and_broken_bytes():
    assert normalize_text("Héllo,  WÖRLD!\n2024 ﬁne\ufffd") == "hello world 0000 fine"
    assert normalize_text("don't stop—now_ok") == "dont stopnowok"
    assert normalize_text("Ｆｕｌｌ１２") == "full00"
    assert normalize_text("中文，测试。") == "中文测试"
    assert normalize_text("नमस्ते दुनिया") == "नमस्ते दुनिया"  # Devanagari vowel signs are part of words
    assert normalize_text("lone \ud800 surrogate \u200b") == "lone surrogate"


@settings(max_examples=40, deadline=None)
@given(st.lists(WORDS, max_size=30).map(" ".join), st.sampled_from(["en", "zh"]))
def test_vectorised_signature_equals_datasketch(text, lang):
    options = MinHashOptions()
    hasher = MinHasher(options)
    tokens = shingle_tokens(text, lang)
    shingles = hasher.shingle_hashes(text, lang)
    assert len(shingles) == (max(0, len(tokens) - hasher.ngram_for(lang) + 1) or min(1, len(tokens)))
    if tokens:
        expected = datasketch_signature(tokens, hasher.ngram_for(lang), options)
        assert np.array_equal(hasher.signature(shingles), expected)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.lists(WORDS, max_size=12).map(" ".join), st.sampled_from(["en", "zh", "ja"])),
                min_size=1, max_size=8))
def test_batched_hashing_equals_one_document_at_a_time(documents):
    hasher = MinHasher(MinHashOptions())
    batched = hasher.shingle_hashes_many(documents)
    singles = [hasher.shingle_hashes(text, lang) for text, lang in documents]
    assert all(np.array_equal(one, many) for one, (_, many) in zip(singles, batched, strict=True))
    assert np.array_equal(hasher.signatures(singles), np.stack([hasher.signature(one) for one in singles]))
    empty = MinHash(num_perm=112, seed=1, scheme=SCHEME).hashvalues  # datasketch's value for an empty set
    assert all(np.array_equal(row, empty) for one, row in zip(singles, hasher.signatures(singles), strict=True)
               if not len(one))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(st.characters(blacklist_categories=["Zs", "Cc", "Zl", "Zp"]), min_size=1), max_size=20))
def test_word_hashes_match_the_scalar_definition(words):
    assert word_hashes(" ".join(words)).tolist() == [token_hash64(word) for word in words]


def test_signatures_interoperate_with_datasketch_estimates(shared_data):
    lines = (shared_data / "text" / "en_ewt_web.dev.txt").read_text().splitlines()
    first, second = " ".join(lines[:40]), " ".join(lines[10:50])  # 30 of 40 lines shared
    hasher = MinHasher(MinHashOptions())
    signatures = [hasher.signature(hasher.shingle_hashes(text, "en")) for text in (first, second)]
    sketches = [LeanMinHash(MinHash(seed=1, hashvalues=s, scheme=SCHEME)) for s in signatures]
    estimate = sketches[0].jaccard(sketches[1])
    assert estimate == pytest.approx(float(np.mean(signatures[0] == signatures[1])))
    assert 0.4 < estimate < 0.9


def test_settings_record_everything_a_signature_depends_on():
    recorded = minhash_settings(MinHashOptions.preset("refinedweb"))
    assert recorded["num_perm"] == 9000 and (recorded["bands"], recorded["rows"]) == (450, 20)
    assert recorded["scheme"] == "affine32" and recorded["datasketch_version"]
    assert {"seed", "hash_function", "ngram", "normalization"} <= recorded.keys()
    text = "one two three four five six seven"
    assert not np.array_equal(MinHasher(MinHashOptions(seed=1)).signature(MinHasher().shingle_hashes(text, "en")),
                              MinHasher(MinHashOptions(seed=2)).signature(MinHasher().shingle_hashes(text, "en")))


def test_presets_and_the_s_curve():
    assert PRESETS["fineweb"].num_perm == 112 and PRESETS["refinedweb"].num_perm == 9000
    fineweb = PRESETS["fineweb"]
    assert fineweb.threshold == pytest.approx(0.719, abs=1e-3)
    probabilities = fineweb.candidate_probability(np.linspace(0, 1, 11))
    assert np.all(np.diff(probabilities) >= 0) and probabilities[0] == 0 and probabilities[-1] == 1
    assert fineweb.candidate_probability(0.8) > 0.9 and fineweb.candidate_probability(0.5) < 0.06
    with pytest.raises(ValueError):
        LshParams(0, 8)


def test_choose_bands_rows_follows_threshold_and_weights():
    chosen = choose_bands_rows(0.8, 112)
    assert chosen.num_perm <= 112 and abs(chosen.threshold - 0.8) < 0.1
    recall_first = choose_bands_rows(0.8, 112, false_positive_weight=0.1, false_negative_weight=0.9)
    precision_first = choose_bands_rows(0.8, 112, false_positive_weight=0.9, false_negative_weight=0.1)
    assert recall_first.candidate_probability(0.7) > precision_first.candidate_probability(0.7)


def test_short_and_empty_documents():
    hasher = MinHasher()
    assert len(hasher.shingle_hashes("", "en")) == 0 and len(hasher.shingle_hashes("!!! ...", "en")) == 0
    assert len(hasher.shingle_hashes("just three words", "en")) == 1
    assert np.array_equal(hasher.shingle_hashes("Just three words.", "en"), hasher.shingle_hashes("just three words",
                                                                                                   "en"))


def test_keep_rank():
    assert keep_rank("smallest-id", "abc", {}) == 0
    assert keep_rank("longest", "abcd", {}) < keep_rank("longest", "abc", {})
    assert keep_rank("score:q", "", {"q": 0.9}) < keep_rank("score:q", "", {"q": 0.1}) < keep_rank("score:q", "", {})
    with pytest.raises(ValueError):
        MinHashOptions(keep="random")


def document(doc_id: str, text: str, **fields) -> Document:
    return Document(id=doc_id, url=f"https://example.com/{doc_id}", date="2024-01-01T00:00:00Z", dump="",
                    text=text, lang=fields.pop("lang", "en"), **fields)


@pytest.fixture(scope="module")
def paragraphs(shared_data) -> list[str]:
    lines = (shared_data / "text" / "en_ewt_web.test.txt").read_text().splitlines()
    return [" ".join(lines[i : i + 12]) for i in range(0, 12 * 6, 12)]




def minhash_only(files: list[str], options: MinHashOptions) -> Deduplicate:
    return Deduplicate(files, options, substrings=None, urls=False)


def test_dedup_minhash_keeps_one_document_per_cluster_by_each_keep_rule(paragraphs, tmp_path):
    base = paragraphs[0]
    near = base.replace(" the ", " a ", 1) + " Posted by admin."  # a small edit of the same page
    documents = [
        document("b", base, scores={"quality": 0.2}),
        document("a", near, scores={"quality": 0.1}),
        document("c", base + " " + base[:40], scores={"quality": 0.9}),
        *[document(f"u{i}", text) for i, text in enumerate(paragraphs[1:])],
        document("empty", ""),
        document("tiny", "Too short"),
        document("broken", "caf\ufffd \ufffd\ufffd \x00 remnants of a bad decode"),  # U+FFFD from a bad decode, NUL
    ]
    files = [write_documents_file(str(tmp_path / "in.parquet"), documents)]
    with TestPipeline(argv=IN_MEMORY) as pipeline:
        for keep, winner in (("smallest-id", "a"), ("longest", "c"), ("score:quality", "c")):
            outputs = pipeline | keep >> minhash_only(files, MinHashOptions(keep=keep, max_cc_rounds=3))
            expected_kept = [(winner, 3.0)] + [(doc_id, 1.0) for doc_id in ("u0", "u1", "u2", "u3", "u4", "empty",
                                                                             "tiny", "broken")]
            expected_rejected = [(doc_id, "duplicate", winner) for doc_id in "abc" if doc_id != winner]
            assert_that(outputs.kept | f"{keep}.kept" >> beam.Map(lambda d: (d.id, d.scores["dedup.cluster_size"])),
                        equal_to(expected_kept), label=f"{keep}.Kept")
            assert_that(outputs.rejected | f"{keep}.rejected" >> beam.Map(lambda r: (r.id, r.reason, r.detail)),
                        equal_to(expected_rejected), label=f"{keep}.Rejected")


def test_verification_drops_candidates_below_the_threshold(paragraphs, tmp_path):
    base = paragraphs[0]
    words = base.split()
    half = " ".join(words[: len(words) // 2] + paragraphs[1].split()[: len(words) // 2])  # Jaccard about 0.3
    files = [write_documents_file(str(tmp_path / "in.parquet"), [document("a", base), document("b", half)])]
    # one band of one row makes every pair sharing a shingle minimum a candidate; verification must undo that
    loose = MinHashOptions(bands=20, rows=1, max_cc_rounds=2)
    with TestPipeline(argv=IN_MEMORY) as pipeline:
        unverified = pipeline | "Unverified" >> minhash_only(files, loose)
        strict = MinHashOptions(bands=20, rows=1, verify_threshold=0.8, max_cc_rounds=2)
        verified = pipeline | "Verified" >> minhash_only(files, strict)
        assert_that(unverified.kept | "U" >> beam.Map(lambda d: d.id), equal_to(["a"]), label="Unverified")
        assert_that(verified.kept | "V" >> beam.Map(lambda d: d.id), equal_to(["a", "b"]), label="Verified")


def test_chinese_near_duplicates_by_characters(shared_data, tmp_path):
    lines = (shared_data / "text" / "zh_gsdsimp_wikipedia.dev.txt").read_text().splitlines()
    text = "".join(lines[:8])
    documents = [document("z1", text, lang="zh"), document("z2", text.replace("。", "，", 2) + "转载请注明", lang="zh"),
                 document("z3", "".join(lines[20:28]), lang="zh")]
    with TestPipeline(argv=IN_MEMORY) as pipeline:
        files = [write_documents_file(str(tmp_path / "in.parquet"), documents)]
        outputs = pipeline | minhash_only(files, MinHashOptions(max_cc_rounds=2))
        assert_that(outputs.rejected | beam.Map(lambda r: (r.id, r.detail)), equal_to([("z2", "z1")]))


def test_buckets_become_stars_to_their_smallest_node_across_batches_and_partitions():
    # documents a, b, c share band 0's key 7; b and c share band 1's key 9; d shares nothing
    first = bucket_records([(0.0, "b"), (0.0, "a")], np.array([[7, 9], [7, 5]], dtype=np.uint64), partitions=2)
    second = bucket_records([(-1.0, "c"), (0.0, "d")], np.array([[7, 9], [8, 4]], dtype=np.uint64), partitions=2)
    partitions: dict[int, list] = {}
    for partition, record in first + second:
        partitions.setdefault(partition, []).append(record)
    edges = sorted(edge for records in partitions.values() for edge in bucket_edges(records))
    # c ranks first (keep rank -1), so both buckets are stars around it
    assert edges == [((0.0, "a"), (-1.0, "c")), ((0.0, "b"), (-1.0, "c")), ((0.0, "b"), (-1.0, "c"))]
    assert bucket_edges([]) == []


@pytest.mark.slow
def test_twenty_thousand_identical_documents_make_a_star_not_pairs(tmp_path):
    """All pairs would be 200 million edges; a star per bucket is 20,000. Two bands are enough to show the shape
    (every band of an identical cluster is the same star) and keep the test quick."""
    count = 20_000
    documents = [document(f"d{i:05d}", "the same short page") for i in range(count)]
    files = [write_documents_file(str(tmp_path / "in.parquet"), documents)]
    with TestPipeline(argv=IN_MEMORY) as pipeline:
        outputs = pipeline | minhash_only(files, MinHashOptions(bands=2, rows=8, max_cc_rounds=1))
        assert_that(outputs.kept | beam.Map(lambda d: (d.id, d.scores["dedup.cluster_size"])),
                    equal_to([("d00000", float(count))]), label="OneKept")
        assert_that(outputs.rejected | beam.combiners.Count.Globally(), equal_to([count - 1]), label="Removed")
