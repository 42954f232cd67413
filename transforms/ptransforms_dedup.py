"""The Beam half of deduplication: chains of keyed shuffles over the pure parts in transforms/dedup_*.py and
transforms/connected_components.py. No step gathers the corpus, a cluster's pairs, or the graph onto one worker:

- DedupMinHash: signatures -> (band, band key) entries grouped by key partition -> a star per bucket ->
  ConnectedComponents -> one decision per document id, joined back to the documents with CoGroupByKey.
- DedupSubstrings: winnowed anchors grouped by hash partition -> shared anchors joined by id; for the windows with
  a shared anchor only, window hashes grouped by hash partition -> claims sent to the first occurrence's
  document -> token runs sent back and checked -> spans cut, joined by id.
- DedupUrls: (normalised URL -> small preference tuples) -> one decision per document id, joined by id.

Each returns `.kept` and `.rejected` and counts `kept` / `dropped.<reason>` under its stage, like every step.
"""

from __future__ import annotations

from typing import NamedTuple

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from transforms.connected_components import large_star, small_star, star_decision
from transforms.dedup_minhash import MinHasher, MinHashOptions, bucket_edges, bucket_records, jaccard, keep_rank
from transforms.dedup_substrings import (
    SubstringOptions,
    anchor_records,
    answer_claims,
    later_copies_in_partition,
    remove_tokens,
    removed_token_mask,
    shared_anchors,
    substring_tokens,
    tokenize_with_offsets,
    verified_windows,
    window_records,
)
from transforms.dedup_urls import normalize_url, preference
from transforms.ptransforms import KEPT, REJECTED, _Counters
from transforms.records import Rejected, pack_record, unpack_record

MINHASH_STAGE = "dedup_minhash"
SUBSTRING_STAGE = "dedup_substrings"
URL_STAGE = "dedup_urls"
COMPONENTS_NAMESPACE = "dedup_minhash.components"
DUPLICATE = "duplicate"
_REPEATED_INSIDE, _RECORDS, _CANDIDATE, _UNTOUCHED = "repeated_inside", "records", "candidate", "untouched"
_SHINGLES = "shingles"
_BANDS = "bands"


def _by_id(documents, label: str):
    """(id, packed document): the side of a join that carries the text, packed to keep grouped values small."""
    return documents | label >> beam.Map(lambda document: (document.id, pack_record(document)))


# ---- connected components ----------------------------------------------------------------------------------------


class _StarStepFn(beam.DoFn):
    """One large-star or small-star step at one node; emits each new edge in both directions."""

    def __init__(self, step, counter: str, namespace: str):
        self._step = step
        self._changed = Metrics.counter(namespace, counter)

    def process(self, element):
        node, neighbors = element
        edges, changed = self._step(node, neighbors)
        if changed:
            self._changed.inc()
        for a, b in edges:
            yield a, b
            yield b, a


class ConnectedComponents(beam.PTransform):
    """Undirected edges (a, b) -> (node, ("duplicate", smallest neighbour) | ("kept", star size)).

    `max_rounds` large-star + small-star rounds are unrolled in the graph; each counts the nodes it changed as
    `round_NN.large_star` / `round_NN.small_star` under `namespace`, so `rounds_from_counters` can tell after the
    run how many rounds changed the graph, and whether the last one was quiet (converged). If it was not, the
    decisions are still safe: a component may keep more than one document, but never loses all of them."""

    def __init__(self, max_rounds: int, namespace: str = COMPONENTS_NAMESPACE):
        super().__init__()
        self.max_rounds, self.namespace = max_rounds, namespace

    def expand(self, edges):
        directed = edges | "BothDirections" >> beam.FlatMap(lambda edge: [edge, (edge[1], edge[0])])
        for index in range(self.max_rounds):
            for name, step in (("large_star", large_star), ("small_star", small_star)):
                label = f"round_{index:02d}.{name}"
                directed = (
                    directed
                    | f"Group.{label}" >> beam.GroupByKey()
                    | f"Step.{label}" >> beam.ParDo(_StarStepFn(step, label, self.namespace))
                )
        return (
            directed
            | "GroupFinal" >> beam.GroupByKey()
            | "Decide" >> beam.MapTuple(lambda node, neighbors: (node, star_decision(node, neighbors)))
        )


def rounds_from_counters(counters: dict[str, int], max_rounds: int) -> dict:
    """{max_rounds, nodes_changed_per_round, rounds_changed, converged} from ConnectedComponents counters."""
    changed = [
        counters.get(f"round_{index:02d}.large_star", 0) + counters.get(f"round_{index:02d}.small_star", 0)
        for index in range(max_rounds)
    ]
    active = [index for index, count in enumerate(changed) if count]
    rounds_changed = active[-1] + 1 if active else 0
    return {
        "max_rounds": max_rounds,
        "nodes_changed_per_round": changed,
        "rounds_changed": rounds_changed,
        "converged": rounds_changed < max_rounds,
    }


# ---- MinHash -----------------------------------------------------------------------------------------------------


class _SignatureFn(beam.DoFn):
    """A batch of documents -> one compact record of (band, band key, node) entries per band-key partition; node =
    (keep rank, id). Shingle sets go to a side output when candidates are verified. Batches amortise numpy's
    per-call cost over documents, and packing them keeps a shuffle entry at ~20 bytes instead of ~250."""

    def __init__(self, options: MinHashOptions):
        self._options = options
        self._no_tokens = Metrics.counter(MINHASH_STAGE, "no_tokens")
        self._short = Metrics.counter(MINHASH_STAGE, "shorter_than_one_shingle")

    def setup(self):
        self._hasher = MinHasher(self._options)

    def process(self, batch):
        hasher, options = self._hasher, self._options
        signable = []
        for document, (tokens, shingles) in zip(
            batch, hasher.shingle_hashes_many([(d.text, d.lang) for d in batch]), strict=True
        ):
            if not tokens:
                self._no_tokens.inc()  # nothing to compare: the document passes untouched
                continue
            if tokens < hasher.ngram_for(document.lang):
                self._short.inc()  # hashed as one shingle of all its tokens, so exact short copies still meet
            signable.append((document, shingles))
        if not signable:
            return
        keys = hasher.band_keys_many(hasher.signatures([shingles for _, shingles in signable]))
        nodes = [(keep_rank(options.keep, document.text, document.scores), document.id) for document, _ in signable]
        for record in bucket_records(nodes, keys, options.partitions):
            yield beam.pvalue.TaggedOutput(_BANDS, record)
        if options.verify_threshold is not None:
            for document, shingles in signable:
                yield beam.pvalue.TaggedOutput(_SHINGLES, (document.id, np.unique(shingles)))


class _VerifyEdges(beam.PTransform):
    """Keep a candidate edge (member, centre) only when the exact Jaccard of their shingle sets reaches the
    threshold: two joins by id bring each endpoint's shingles to the edge."""

    def __init__(self, threshold: float, shingles):
        super().__init__()
        self.threshold, self.shingles = threshold, shingles

    def expand(self, edges):
        threshold = self.threshold
        rejected = Metrics.counter(COMPONENTS_NAMESPACE, "edges_below_threshold")

        def with_member_shingles(element):
            _, grouped = element
            for hashes in grouped["shingles"]:
                for member, centre in grouped["edge"]:
                    yield centre[1], (member, centre, hashes)

        def check(element):
            _, grouped = element
            for centre_hashes in grouped["shingles"]:
                for member, centre, member_hashes in grouped["edge"]:
                    if jaccard(member_hashes, centre_hashes) >= threshold:
                        yield member, centre
                    else:
                        rejected.inc()

        by_member = edges | "ByMember" >> beam.Map(lambda edge: (edge[0][1], edge))
        halfway = (
            {"edge": by_member, "shingles": self.shingles}
            | "JoinMember" >> beam.CoGroupByKey()
            | "MemberShingles" >> beam.FlatMap(with_member_shingles)
        )
        return (
            {"edge": halfway, "shingles": self.shingles}
            | "JoinCentre" >> beam.CoGroupByKey()
            | "Check" >> beam.FlatMap(check)
        )


class _ApplyClusterFn(beam.DoFn):
    def __init__(self):
        self._counters = _Counters(MINHASH_STAGE)

    def process(self, element):
        _, grouped = element
        decisions = list(grouped["decision"])
        duplicate_of = min((value for kind, value in decisions if kind == DUPLICATE), default=None)
        size = max((value for kind, value in decisions if kind == "kept"), default=1)
        for document in map(unpack_record, grouped["document"]):
            if duplicate_of is not None:
                self._counters.drop(DUPLICATE)
                yield beam.pvalue.TaggedOutput(
                    REJECTED, Rejected.of(document, MINHASH_STAGE, DUPLICATE, detail=duplicate_of[1])
                )
            else:
                self._counters.kept.inc()
                yield document.with_scores({"dedup.cluster_size": float(size)})


class DedupMinHash(beam.PTransform):
    """MinHash LSH near-duplicate removal: one document per cluster of candidates, chosen by the keep rule; kept
    documents carry `dedup.cluster_size`, removed ones name the document they duplicate in `detail`."""

    def __init__(self, options: MinHashOptions = MinHashOptions()):
        super().__init__()
        self.options = options

    def expand(self, documents):
        options = self.options
        signed = (
            documents
            | "Batch" >> beam.BatchElements(min_batch_size=8, max_batch_size=256)
            | "Signatures" >> beam.ParDo(_SignatureFn(options)).with_outputs(_BANDS, _SHINGLES)
        )
        edges = (
            signed[_BANDS]
            | "GroupPartitions" >> beam.GroupByKey()
            | "StarEdges" >> beam.FlatMap(lambda partition: bucket_edges(partition[1]))
            | "UniqueEdges" >> beam.Distinct()  # a pair usually meets in several bands
        )
        if options.verify_threshold is not None:
            edges = edges | "Verify" >> _VerifyEdges(options.verify_threshold, signed[_SHINGLES])
        decisions = (
            edges
            | "Components" >> ConnectedComponents(options.max_cc_rounds)
            | "ById" >> beam.MapTuple(lambda node, decision: (node[1], decision))
        )
        return (
            {"document": _by_id(documents, "DocumentsById"), "decision": decisions}
            | "JoinDecisions" >> beam.CoGroupByKey()
            | "Apply" >> beam.ParDo(_ApplyClusterFn()).with_outputs(REJECTED, main=KEPT)
        )


# ---- exact substrings --------------------------------------------------------------------------------------------


class _AnchorFn(beam.DoFn):
    """The anchor pass: anchor records by partition, and (id, anchors) for the anchors repeated inside a document."""

    def __init__(self, options: SubstringOptions):
        self._options = options

    def process(self, document):
        anchors = anchor_records(document.id, substring_tokens(document.text, document.lang), self._options)
        if len(anchors.repeated_inside):
            yield beam.pvalue.TaggedOutput(_REPEATED_INSIDE, (document.id, anchors.repeated_inside.tobytes()))
        yield from anchors.records


class _SplitCandidatesFn(beam.DoFn):
    """Documents without a shared anchor leave the stage here, untouched; the others go on to the window shuffle
    as (document, their shared anchors)."""

    def __init__(self):
        self._counters = _Counters(SUBSTRING_STAGE)
        self._candidates = Metrics.counter(SUBSTRING_STAGE, "candidates")

    def process(self, element):
        _, grouped = element
        shared = b"".join(grouped["shared"])
        for document in map(unpack_record, grouped["document"]):
            if shared:
                self._candidates.inc()
                yield beam.pvalue.TaggedOutput(_CANDIDATE, (document, shared))
            else:
                self._counters.kept.inc()
                yield document.with_scores({"dedup.substring_tokens_removed": 0.0})


class _WindowFn(beam.DoFn):
    def __init__(self, options: SubstringOptions):
        self._options = options

    def process(self, candidate):
        document, shared = candidate
        tokens = substring_tokens(document.text, document.lang)
        yield from window_records(document.id, tokens, np.frombuffer(shared, dtype=np.uint64), self._options)


class _AnswerClaimsFn(beam.DoFn):
    def __init__(self, k: int):
        self._k = k

    def process(self, element):
        _, grouped = element
        claims = list(grouped["claim"])
        if not claims:
            return
        for document in map(unpack_record, grouped["document"]):
            tokens = substring_tokens(document.text, document.lang)
            yield from answer_claims(tokens, claims, self._k)


class _CutCopiesFn(beam.DoFn):
    def __init__(self, options: SubstringOptions):
        self._options = options
        self._counters = _Counters(SUBSTRING_STAGE)
        self._names = ("documents_changed", "spans_removed", "tokens_removed", "hash_collisions")
        self._metrics = {name: Metrics.counter(SUBSTRING_STAGE, name) for name in self._names}

    def process(self, element):
        _, grouped = element
        answers = list(grouped["answer"])
        for document in map(unpack_record, grouped["document"]):
            if not answers:
                self._counters.kept.inc()
                yield document.with_scores({"dedup.substring_tokens_removed": 0.0})
                continue
            spans = tokenize_with_offsets(document.text, document.lang)
            positions, collisions = verified_windows(spans.tokens, answers, self._options.min_tokens)
            removal = remove_tokens(
                document.text, spans, removed_token_mask(len(spans.tokens), positions, self._options.min_tokens)
            )
            self._metrics["hash_collisions"].inc(collisions)
            if removal.spans:
                self._metrics["documents_changed"].inc()
                self._metrics["spans_removed"].inc(removal.spans)
                self._metrics["tokens_removed"].inc(removal.tokens_removed)
            cut = document.with_scores(
                {"dedup.substring_tokens_removed": float(removal.tokens_removed)}, text=removal.text
            )
            if removal.spans and removal.tokens_left < self._options.min_tokens_left:
                self._counters.drop("too_short_after_cut")
                yield beam.pvalue.TaggedOutput(REJECTED, Rejected.of(cut, SUBSTRING_STAGE, "too_short_after_cut"))
            else:
                self._counters.kept.inc()
                yield cut


class StageOutputs(NamedTuple):
    """What a composite stage returns: the same `.kept` / `.rejected` as a step's DoOutputsTuple."""

    kept: beam.PCollection
    rejected: beam.PCollection


class DedupSubstrings(beam.PTransform):
    """Cut every later copy of a span of >= min_tokens tokens (the first occurrence by (id, position) stays);
    drop documents cut below min_tokens_left tokens. An anchor pass first finds where a repeat can be, so only the
    windows with a shared anchor go through the window shuffle."""

    def __init__(self, options: SubstringOptions = SubstringOptions()):
        super().__init__()
        self.options = options

    def expand(self, documents):
        options = self.options
        anchors = documents | "Anchors" >> beam.ParDo(_AnchorFn(options)).with_outputs(_REPEATED_INSIDE,
                                                                                        main=_RECORDS)
        shared = (
            anchors[_RECORDS]
            | "GroupAnchors" >> beam.GroupByKey()
            | "SharedAnchors" >> beam.FlatMap(lambda partition: shared_anchors(partition[1]))
        )
        split = (
            {"document": _by_id(documents, "DocumentsById"),
             "shared": (shared, anchors[_REPEATED_INSIDE]) | "AllShared" >> beam.Flatten()}
            | "JoinCandidates" >> beam.CoGroupByKey()
            | "Split" >> beam.ParDo(_SplitCandidatesFn()).with_outputs(_CANDIDATE, main=_UNTOUCHED)
        )
        cut = split[_CANDIDATE] | "CutCandidates" >> _CutRepeatedWindows(options)
        return StageOutputs((split[_UNTOUCHED], cut.kept) | "AllKept" >> beam.Flatten(), cut.rejected)


class _CutRepeatedWindows(beam.PTransform):
    """The window shuffle over (document, shared anchors): the hashes of windows with a shared anchor, grouped by
    partition -> claims sent to the first occurrence's document -> token runs sent back, checked, and cut."""

    def __init__(self, options: SubstringOptions):
        super().__init__()
        self.options = options

    def expand(self, candidates):
        options = self.options
        by_id = _by_id(candidates | "Documents" >> beam.MapTuple(lambda document, _: document), "DocumentsById")
        claims = (
            candidates
            | "Windows" >> beam.ParDo(_WindowFn(options))
            | "GroupPartitions" >> beam.GroupByKey()
            | "LaterCopies" >> beam.FlatMap(lambda partition: later_copies_in_partition(partition[1]))
        )
        answers = (
            {"document": by_id, "claim": claims}
            | "JoinClaims" >> beam.CoGroupByKey()
            | "Answer" >> beam.ParDo(_AnswerClaimsFn(options.min_tokens))
        )
        return (
            {"document": by_id, "answer": answers}
            | "JoinAnswers" >> beam.CoGroupByKey()
            | "Cut" >> beam.ParDo(_CutCopiesFn(options)).with_outputs(REJECTED, main=KEPT)
        )


# ---- URLs --------------------------------------------------------------------------------------------------------


class _ApplyUrlDecisionFn(beam.DoFn):
    def __init__(self):
        self._counters = _Counters(URL_STAGE)

    def process(self, element):
        _, grouped = element
        winners = list(grouped["winner"])
        for document in map(unpack_record, grouped["document"]):
            if winners:
                self._counters.drop(DUPLICATE)
                yield beam.pvalue.TaggedOutput(
                    REJECTED, Rejected.of(document, URL_STAGE, DUPLICATE, detail=min(winners))
                )
            else:
                self._counters.kept.inc()
                yield document


def _url_losers(element):
    """(loser id, winner id) for every document of a URL but the preferred one."""
    _, candidates = element
    best = min(candidates)
    for candidate in candidates:
        if candidate != best:
            yield candidate[-1], best[-1]


class DedupUrls(beam.PTransform):
    """One document per normalised URL: the most recent crawl, then the longest text, then the smallest id.
    Documents without a usable URL pass (counted as `no_url`)."""

    def expand(self, documents):
        no_url = Metrics.counter(URL_STAGE, "no_url")

        def candidate(document):
            key = normalize_url(document.url or "")
            if key is None:
                no_url.inc()
                return
            yield key, preference(document.date or "", len(document.text or ""), document.id)

        losers = (
            documents
            | "Candidates" >> beam.FlatMap(candidate)
            | "GroupUrls" >> beam.GroupByKey()
            | "Losers" >> beam.FlatMap(_url_losers)
        )
        return (
            {"document": _by_id(documents, "DocumentsById"), "winner": losers}
            | "JoinDecisions" >> beam.CoGroupByKey()
            | "Apply" >> beam.ParDo(_ApplyUrlDecisionFn()).with_outputs(REJECTED, main=KEPT)
        )
