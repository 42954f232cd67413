"""Exact-substring dedup: the hashed-window implementation (pure steps and DedupSubstrings on the DirectRunner)
removes exactly the spans the suffix-array reference finds, on planted repeats in real text."""

from __future__ import annotations

import random

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from ccrefine.transforms.dedup.ptransforms import Deduplicate
from ccrefine.transforms.dedup.sources import write_documents_file
from ccrefine.transforms.dedup.substrings import (
    SubstringOptions,
    later_copies_by_suffix_array,
    later_copies_hashed,
    remove_tokens,
    removed_token_mask,
    shared_anchors_by_document,
    sliding_minimum,
    suffix_array,
    tokenize_with_offsets,
    verified_windows,
    window_records,
)
from ccrefine.transforms.records import Document
from hypothesis import given, settings
from hypothesis import strategies as st

IN_MEMORY = ["--direct_running_mode", "in_memory", "--direct_num_workers", "1"]


def same_copies(first: dict, second: dict) -> bool:
    return first.keys() == second.keys() and all(np.array_equal(first[key], second[key]) for key in first)


@st.composite
def corpora_with_plants(draw):
    """Small-vocabulary documents (many accidental repeats) plus spans copied between and within documents."""
    vocabulary = [f"w{i}" for i in range(draw(st.integers(2, 30)))]
    word = st.sampled_from(vocabulary)
    documents = draw(st.dictionaries(st.text("abcdef", min_size=1, max_size=3), st.lists(word, max_size=40),
                                     max_size=6))
    ids = sorted(documents)
    for _ in range(draw(st.integers(0, 4)) if ids else 0):
        source, target = draw(st.sampled_from(ids)), draw(st.sampled_from(ids))
        start = draw(st.integers(0, len(documents[source])))
        span = documents[source][start : start + draw(st.integers(0, 20))]
        at = draw(st.integers(0, len(documents[target])))
        documents[target] = documents[target][:at] + span + documents[target][at:]
    return documents


@settings(max_examples=150, deadline=None)
@given(corpora_with_plants(), st.integers(2, 6), st.integers(1, 7))
def test_hashed_windows_equal_the_suffix_array(documents, k, partitions):
    hashed = later_copies_hashed(documents, SubstringOptions(min_tokens=k, partitions=partitions))
    assert same_copies(hashed, later_copies_by_suffix_array(documents, k))


@settings(max_examples=150, deadline=None)
@given(corpora_with_plants(), st.integers(2, 9), st.integers(1, 5))
def test_every_occurrence_of_a_repeated_window_is_sent(documents, k, partitions):
    occurrences: dict[tuple, list] = {}
    for doc_id, tokens in documents.items():
        for start in range(len(tokens) - k + 1):
            occurrences.setdefault(tuple(tokens[start : start + k]), []).append((doc_id, start))
    repeated = {place for places in occurrences.values() if len(places) > 1 for place in places}
    options = SubstringOptions(min_tokens=k, partitions=partitions)
    sent = set()
    for doc_id, shared in shared_anchors_by_document(documents, options).items():
        for _, (_, _, positions) in window_records(doc_id, documents[doc_id], shared, options):
            sent.update((doc_id, int(p)) for p in np.frombuffer(positions, dtype=np.int32))
    assert repeated <= sent


@given(st.lists(st.integers(0, 50), min_size=1, max_size=80), st.data())
def test_sliding_minimum_is_the_minimum_of_every_full_window(values, data):
    width = data.draw(st.integers(1, len(values)))
    array = np.array(values, dtype=np.uint64)
    expected = [min(values[i : i + width]) for i in range(len(values) - width + 1)]
    assert sliding_minimum(array, width).tolist() == expected


def test_only_documents_that_share_a_span_send_windows(shared_data):
    words = (shared_data / "text" / "gutenberg_972_devils_dictionary.txt").read_text().split()
    documents = {f"d{i:02d}": words[i * 400 : i * 400 + 300] for i in range(30)}
    documents["copy"] = documents["d07"][100:160] + words[-200:]
    shared = shared_anchors_by_document(documents, SubstringOptions(min_tokens=50))
    assert set(shared) == {"d07", "copy"}
    sent = sum(len(window_records(doc_id, documents[doc_id], anchors, SubstringOptions(min_tokens=50)))
               for doc_id, anchors in shared.items())
    assert 0 < sent


def test_suffix_array_has_64_bit_offsets_and_sorts_integer_sequences():
    values = np.array([70000, 1, 2, 70000, 1, 2, 9], dtype=np.int64)
    order = suffix_array(values)
    assert order.dtype == np.int64
    suffixes = [tuple(values[i:]) for i in range(len(values))]
    assert order.tolist() == sorted(range(len(values)), key=lambda i: suffixes[i])


@pytest.fixture(scope="module")
def planted(shared_data) -> dict[str, str]:
    """Real English sentences as documents, with a 60-word boilerplate paragraph planted in three of them and a
    whole 70-word passage copied from one document into another."""
    lines = (shared_data / "text" / "en_ewt_web.dev.txt").read_text().splitlines()
    texts = {f"doc{i:02d}": " ".join(lines[i * 15 : i * 15 + 15]) for i in range(12)}
    boilerplate = " ".join(lines[400:420]).split()[:60]
    for doc_id in ("doc03", "doc07", "doc09"):
        words = texts[doc_id].split()
        texts[doc_id] = " ".join(words[:20] + boilerplate + words[20:])
    passage = texts["doc01"].split()[10:80]
    texts["doc05"] = texts["doc05"] + "\n" + " ".join(passage)
    return texts


def cut_by_reference(texts: dict[str, str], options: SubstringOptions) -> dict[str, str]:
    spans = {doc_id: tokenize_with_offsets(text, "en") for doc_id, text in texts.items()}
    copies = later_copies_by_suffix_array({doc_id: s.tokens for doc_id, s in spans.items()}, options.min_tokens)
    result = {}
    for doc_id, text in texts.items():
        mask = removed_token_mask(len(spans[doc_id].tokens), copies.get(doc_id, np.zeros(0, np.int64)),
                                  options.min_tokens)
        result[doc_id] = remove_tokens(text, spans[doc_id], mask).text
    return result


def test_planted_repeats_are_cut_after_their_first_occurrence(planted):
    options = SubstringOptions(min_tokens=50, min_tokens_left=0)
    tokens = {doc_id: tokenize_with_offsets(text, "en").tokens for doc_id, text in planted.items()}
    copies = later_copies_by_suffix_array(tokens, 50)
    assert same_copies(later_copies_hashed(tokens, options), copies)
    assert set(copies) == {"doc05", "doc07", "doc09"}  # doc03 holds the first boilerplate, doc01 the passage
    cut = cut_by_reference(planted, options)
    assert len(cut["doc07"].split()) == len(planted["doc07"].split()) - 60
    assert cut["doc05"].split() == planted["doc05"].split()[: -70]


def test_dedup_substrings_on_the_direct_runner_cuts_the_reference_spans(planted, tmp_path):
    expected = cut_by_reference(planted, SubstringOptions(min_tokens=50))
    changed = {doc_id for doc_id, text in expected.items() if text != planted[doc_id]}
    shortest = min(changed, key=lambda doc_id: len(expected[doc_id].split()))
    # the shortest cut document falls below the minimum; an uncut document that short would stay
    options = SubstringOptions(min_tokens=50, min_tokens_left=len(expected[shortest].split()) + 1, partitions=4)
    documents = [Document(id=doc_id, url="", date="", dump="", text=text, lang="en")
                 for doc_id, text in planted.items()]
    too_short = {shortest}
    with TestPipeline(argv=IN_MEMORY) as pipeline:
        # two files, so claims and answers cross from one file's read-back to another's
        files = [write_documents_file(str(tmp_path / f"in-{i}.parquet"), documents[i::2]) for i in (0, 1)]
        outputs = pipeline | Deduplicate(files, minhash=None, substrings=options, urls=False)
        assert_that(outputs.kept | beam.Map(lambda d: (d.id, d.text)),
                    equal_to([(doc_id, text) for doc_id, text in expected.items() if doc_id not in too_short]),
                    label="Kept")
        assert_that(outputs.rejected | beam.Map(lambda r: (r.id, r.reason)),
                    equal_to([(doc_id, "too_short_after_cut") for doc_id in too_short]), label="Rejected")


def test_tokens_keep_their_character_offsets():
    text = "Hello,  world!\nSecond line"
    spans = tokenize_with_offsets(text, "en")
    assert spans.tokens == ["Hello,", "world!", "Second", "line"]
    assert [text[a:b] for a, b in zip(spans.starts, spans.ends, strict=True)] == spans.tokens
    chinese = tokenize_with_offsets("我们 在 北京工作。", "zh")
    assert "".join(chinese.tokens) == "我们在北京工作。"
    assert tokenize_with_offsets("日本語 です", "ja").tokens == list("日本語です")


def test_cutting_removes_the_following_whitespace_and_counts_spans():
    text = "keep one CUT CUT keep two CUT"
    spans = tokenize_with_offsets(text, "en")
    removal = remove_tokens(text, spans, np.array([t == "CUT" for t in spans.tokens]))
    assert removal.text == "keep one keep two" and removal.spans == 2 and removal.tokens_removed == 3


def test_a_hash_collision_is_counted_and_not_cut():
    tokens = "a b c d e f".split()
    positions, collisions = verified_windows(tokens, [(0, "a b c x".split()), (2, "c d e f".split())], 3)
    assert positions.tolist() == [0, 2, 3] and collisions == 1  # window 1 (b c d) claimed "b c x"


def test_short_documents_have_no_windows():
    assert later_copies_hashed({"a": ["x"] * 3, "b": ["x"] * 3}, SubstringOptions(min_tokens=4)) == {}
    assert later_copies_by_suffix_array({"a": [], "b": []}, 4) == {}


def test_randomised_corpus_of_real_words(shared_data):
    words = (shared_data / "text" / "gutenberg_972_devils_dictionary.txt").read_text().split()
    rng = random.Random(5)
    documents = {}
    for i in range(40):
        start = rng.randrange(len(words) - 300)
        documents[f"d{i:03d}"] = words[start : start + rng.randint(20, 300)]
    for _ in range(10):  # copies of random spans into random documents
        source = documents[f"d{rng.randrange(40):03d}"]
        target = f"d{rng.randrange(40):03d}"
        start = rng.randrange(max(1, len(source) - 60))
        documents[target] = documents[target] + source[start : start + rng.randint(30, 80)]
    hashed = later_copies_hashed(documents, SubstringOptions(min_tokens=25, partitions=5))
    assert hashed and same_copies(hashed, later_copies_by_suffix_array(documents, 25))
