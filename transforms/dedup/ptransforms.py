"""The Beam half of deduplication: `Deduplicate` over the input Parquet files, a chain of keyed shuffles over the
pure parts in transforms/dedup_*.py and transforms/dedup/connected_components.py. No step gathers the corpus, a
cluster's pairs, or the graph onto one worker, and no shuffle carries a text: they carry document keys
(transforms/dedup/sources.py: the id and a hash of the text), hashes and small decisions, so dedup's memory follows
the number of documents, not their size. Where a step needs words, the files are read again.

- Sketch: each input file is read once; each row sends its LSH band entries (packed per band-key partition) and
  one sketch: (file number, winnowed anchors, URL key, date, text length), a few hundred bytes.
- Exact repeats: the sketches of one key meet in one group; the smallest file number among them is the key's home,
  and the first row with that key in its home file is the document. Every other row with that key is the same id
  with the same text, removed by `dedup_exact` as `duplicate` (a repeated id with another text has another key).
- MinHash: band entries grouped by key partition -> a star per bucket -> ConnectedComponents -> a decision per key.
- Substrings, on what MinHash keeps: anchors grouped by hash partition -> shared anchors; the home files of the
  documents with one are read again for their windows with a shared anchor -> window hashes grouped by partition ->
  claims, answered where the first occurrence's file is read again -> token runs checked and the span cut where the
  copy's file is read again; only the cut documents' new texts travel on (they are output texts).
- URLs, on what substrings keep: (normalised URL -> preference tuples) -> the losers.
- Apply: all decisions of a key go to its home file, read a last time; each row leaves as a kept document or a
  rejected record of the stage that removed it, counted there (`kept` / `dropped.<reason>`, like every step).

A key repeated N times costs N sketches and one group of N small values: linear, never N^2, and one row goes on.
"""

from __future__ import annotations

from typing import NamedTuple

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics
from ccrefine.transforms.dedup.connected_components import large_star, small_star, star_decision
from ccrefine.transforms.dedup.minhash import (
    MinHasher,
    MinHashOptions,
    bucket_edges,
    bucket_records,
    jaccard,
    keep_rank,
)
from ccrefine.transforms.dedup.sources import (
    WORD_COLUMNS,
    PartitionedFileWriter,
    document_key,
    id_of,
    output_name,
    read_documents,
)
from ccrefine.transforms.dedup.substrings import (
    SubstringOptions,
    anchor_records,
    answer_claims,
    document_anchors,
    later_copies_in_partition,
    remove_tokens,
    removed_token_mask,
    shared_anchors,
    substring_tokens,
    tokenize_with_offsets,
    verified_windows,
    window_records,
)
from ccrefine.transforms.dedup.urls import normalize_url, preference
from ccrefine.transforms.ptransforms import KEPT, REJECTED, StepCounters
from ccrefine.transforms.records import DOCUMENT_SCHEMA, Document, Rejected, to_row

EXACT_STAGE = "dedup_exact"
MINHASH_STAGE = "dedup_minhash"
SUBSTRING_STAGE = "dedup_substrings"
URL_STAGE = "dedup_urls"
COMPONENTS_NAMESPACE = "dedup_minhash.components"
DUPLICATE = "duplicate"
_SKETCH, _BANDS, _SHINGLES, _HOME = "sketch", "bands", "shingles", "home"
_ANCHORS, _REPEATED_INSIDE, _URLS = "anchors", "repeated_inside", "urls"
_NO_ARRAY = np.zeros(0, dtype=np.uint64)


class StageOutputs(NamedTuple):
    """What a composite stage returns: the same `.kept` / `.rejected` as a step's DoOutputsTuple."""

    kept: beam.PCollection
    rejected: beam.PCollection


def _first(values, default=None):
    return next(iter(values), default)


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


# ---- reading the files ---------------------------------------------------------------------------------------------


class _SketchFn(beam.DoFn):
    """One input file -> per row: (key, sketch) and, with MinHash on, band-entry records packed per band-key
    partition (node = (keep rank, key)) and, when candidates are verified, (key, shingle set). A record of a batch's
    entries keeps a shuffle entry at ~20 bytes instead of ~250."""

    def __init__(self, files: list[str], minhash: MinHashOptions | None, substrings: SubstringOptions | None,
                 urls: bool):
        self._files, self._minhash, self._substrings, self._urls = files, minhash, substrings, urls
        self._no_tokens = Metrics.counter(MINHASH_STAGE, "no_tokens")
        self._short = Metrics.counter(MINHASH_STAGE, "shorter_than_one_shingle")

    def setup(self):
        self._hasher = MinHasher(self._minhash) if self._minhash else None

    def process(self, index):
        for batch in read_documents(self._files[index]):
            keys = [document_key(document.id, document.text) for document in batch]
            if self._hasher:
                yield from self._bands(batch, keys)
            for document, key in zip(batch, keys, strict=True):
                anchors = repeated = _NO_ARRAY
                if self._substrings:
                    found = document_anchors(substring_tokens(document.text or "", document.lang), self._substrings)
                    anchors, repeated = found.anchors, found.repeated_inside
                url_key = normalize_url(document.url or "") if self._urls else None
                sketch = (index, anchors.tobytes(), repeated.tobytes(), url_key, document.date or "",
                          len(document.text or ""))
                yield key, sketch

    def _bands(self, batch, keys):
        hasher, options = self._hasher, self._minhash
        signable = []
        for document, key, (tokens, shingles) in zip(
            batch, keys, hasher.shingle_hashes_many([(d.text or "", d.lang) for d in batch]), strict=True
        ):
            if not tokens:
                self._no_tokens.inc()  # nothing to compare: the document passes untouched
                continue
            if tokens < hasher.ngram_for(document.lang):
                self._short.inc()  # hashed as one shingle of all its tokens, so exact short copies still meet
            signable.append((document, key, shingles))
        if not signable:
            return
        band_keys = hasher.band_keys_many(hasher.signatures([shingles for _, _, shingles in signable]))
        nodes = [(keep_rank(options.keep, document.text, document.scores), key) for document, key, _ in signable]
        for record in bucket_records(nodes, band_keys, options.partitions):
            yield beam.pvalue.TaggedOutput(_BANDS, record)
        if options.verify_threshold is not None:
            for _, key, shingles in signable:
                yield beam.pvalue.TaggedOutput(_SHINGLES, (key, np.unique(shingles)))


class _ReadBackFn(beam.DoFn):
    """(file number, [(key, values)]) -> visit(key, document, values) for the first row of each key in that file,
    read again (words only); reading stops once every key was found."""

    def __init__(self, files: list[str]):
        self._files = files

    def process(self, element):
        index, wanted = element
        wanted = dict(wanted)
        for batch in read_documents(self._files[index], WORD_COLUMNS):
            for document in batch:
                key = document_key(document.id, document.text)
                values = wanted.pop(key, None)
                if values is not None:
                    yield from self.visit(key, document, values)
            if not wanted:
                return

    def visit(self, key, document, values):
        raise NotImplementedError


class _SendHome(beam.PTransform):
    """(key, value) -> (home file number, [(key, [values])]): what a _ReadBackFn of that file takes."""

    def __init__(self, home):
        super().__init__()
        self.home = home

    def expand(self, values):
        def at_home(element):
            key, grouped = element
            values = list(grouped["value"])
            if values:
                yield _first(grouped["home"]), (key, values)

        return (
            {"home": self.home, "value": values}
            | "Join" >> beam.CoGroupByKey()
            | "ByFile" >> beam.FlatMap(at_home)
            | "GroupFiles" >> beam.GroupByKey()
        )


# ---- MinHash -----------------------------------------------------------------------------------------------------


class _VerifyEdges(beam.PTransform):
    """Keep a candidate edge (member, centre) only when the exact Jaccard of their shingle sets reaches the
    threshold: two joins by key bring each endpoint's shingles to the edge (one set per key, however often a key
    was read)."""

    def __init__(self, threshold: float, shingles):
        super().__init__()
        self.threshold, self.shingles = threshold, shingles

    def expand(self, edges):
        threshold = self.threshold
        rejected = Metrics.counter(COMPONENTS_NAMESPACE, "edges_below_threshold")

        def with_member_shingles(element):
            _, grouped = element
            hashes = _first(grouped["shingles"])
            if hashes is not None:
                for member, centre in grouped["edge"]:
                    yield centre[1], (member, centre, hashes)

        def check(element):
            _, grouped = element
            centre_hashes = _first(grouped["shingles"])
            if centre_hashes is None:
                return
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


class DedupMinHash(beam.PTransform):
    """MinHash LSH near-duplicates: band-entry records -> (key, ("duplicate", the kept node) | ("kept", cluster
    size)) for every key in a cluster of candidates; the kept one is the cluster's smallest (keep rank, key)."""

    def __init__(self, options: MinHashOptions, shingles=None):
        super().__init__()
        self.options, self.shingles = options, shingles

    def expand(self, bands):
        options = self.options
        edges = (
            bands
            | "GroupPartitions" >> beam.GroupByKey()
            | "StarEdges" >> beam.FlatMap(lambda partition: bucket_edges(partition[1]))
            | "UniqueEdges" >> beam.Distinct()  # a pair usually meets in several bands
        )
        if options.verify_threshold is not None:
            edges = edges | "Verify" >> _VerifyEdges(options.verify_threshold, self.shingles)
        return (
            edges
            | "Components" >> ConnectedComponents(options.max_cc_rounds)
            | "ByKey" >> beam.MapTuple(lambda node, decision: (node[1], decision))
        )


def _minhash_verdict(key, decisions) -> tuple[str | None, int]:
    """(the key this one duplicates or None, cluster size) from a key's component decisions. A key read with two
    keep ranks (one text, different scores) is two nodes of one star; it never duplicates itself."""
    duplicate_of = min((value for kind, value in decisions if kind == DUPLICATE and value[1] != key), default=None)
    size = max((value for kind, value in decisions if kind == KEPT), default=1)
    return (duplicate_of[1] if duplicate_of else None), size


class _LedgerFn(beam.DoFn):
    """(key, {sketch: [one per row read], minhash: [decisions]}) -> (key, home file), (key, ledger entry), and for
    what MinHash keeps, the anchor records of the substring pass."""

    def __init__(self, substrings: SubstringOptions | None):
        self._substrings = substrings

    def process(self, element):
        key, grouped = element
        home, anchors, repeated, url_key, date, length = min(grouped["sketch"], key=lambda sketch: sketch[0])
        duplicate_of, size = _minhash_verdict(key, grouped.get("minhash", ()))
        yield beam.pvalue.TaggedOutput(_HOME, (key, home))
        yield key, (home, duplicate_of, size, url_key, date, length)
        if self._substrings and duplicate_of is None:
            for record in anchor_records(key, np.frombuffer(anchors, dtype=np.uint64), self._substrings.partitions):
                yield beam.pvalue.TaggedOutput(_ANCHORS, record)
            if repeated:
                yield beam.pvalue.TaggedOutput(_REPEATED_INSIDE, (key, repeated))


# ---- exact substrings --------------------------------------------------------------------------------------------


class _WindowFn(_ReadBackFn):
    """A document with shared anchors -> records of its windows whose anchor is shared."""

    def __init__(self, files: list[str], options: SubstringOptions):
        super().__init__(files)
        self._options = options
        self._candidates = Metrics.counter(SUBSTRING_STAGE, "candidates")

    def visit(self, key, document, values):
        self._candidates.inc()
        shared = np.unique(np.concatenate([np.frombuffer(blob, dtype=np.uint64) for blob in values]))
        yield from window_records(key, substring_tokens(document.text or "", document.lang), shared, self._options)


class _AnswerClaimsFn(_ReadBackFn):
    def __init__(self, files: list[str], k: int):
        super().__init__(files)
        self._k = k

    def visit(self, key, document, claims):
        yield from answer_claims(substring_tokens(document.text or "", document.lang), claims, self._k)


class _CutCopiesFn(_ReadBackFn):
    """A copy's answers -> (key, (tokens removed, cut text, cut below min_tokens_left)) when a span is cut."""

    def __init__(self, files: list[str], options: SubstringOptions):
        super().__init__(files)
        self._options = options
        self._names = ("documents_changed", "spans_removed", "tokens_removed", "hash_collisions")

    def setup(self):
        self._metrics = {name: Metrics.counter(SUBSTRING_STAGE, name) for name in self._names}

    def visit(self, key, document, answers):
        options = self._options
        spans = tokenize_with_offsets(document.text or "", document.lang)
        positions, collisions = verified_windows(spans.tokens, answers, options.min_tokens)
        removal = remove_tokens(document.text or "", spans,
                                removed_token_mask(len(spans.tokens), positions, options.min_tokens))
        self._metrics["hash_collisions"].inc(collisions)
        if removal.spans:
            self._metrics["documents_changed"].inc()
            self._metrics["spans_removed"].inc(removal.spans)
            self._metrics["tokens_removed"].inc(removal.tokens_removed)
            yield key, (removal.tokens_removed, removal.text, removal.tokens_left < options.min_tokens_left)


class DedupSubstrings(beam.PTransform):
    """Cut every later copy of a span of >= min_tokens tokens (the first occurrence by (key, position) stays):
    anchor records -> (key, (tokens removed, cut text, too short)) for every document cut. The anchor pass finds
    where a repeat can be, so only the windows with a shared anchor go through the window shuffle, and only the
    documents with one are read again."""

    def __init__(self, options: SubstringOptions, files: list[str], home, repeated_inside):
        super().__init__()
        self.options, self.files, self.home, self.repeated_inside = options, files, home, repeated_inside

    def expand(self, anchor_records):
        options, files = self.options, self.files
        shared = (
            anchor_records
            | "GroupAnchors" >> beam.GroupByKey()
            | "SharedAnchors" >> beam.FlatMap(lambda partition: shared_anchors(partition[1]))
        )
        claims = (
            (shared, self.repeated_inside)
            | "AllShared" >> beam.Flatten()
            | "SendShared" >> _SendHome(self.home)
            | "Windows" >> beam.ParDo(_WindowFn(files, options))
            | "GroupPartitions" >> beam.GroupByKey()
            | "LaterCopies" >> beam.FlatMap(lambda partition: later_copies_in_partition(partition[1]))
        )
        return (
            claims
            | "SendClaims" >> _SendHome(self.home)
            | "Answer" >> beam.ParDo(_AnswerClaimsFn(files, options.min_tokens))
            | "SendAnswers" >> _SendHome(self.home)
            | "Cut" >> beam.ParDo(_CutCopiesFn(files, options))
        )


# ---- URLs --------------------------------------------------------------------------------------------------------


class _SettleFn(beam.DoFn):
    """(key, {ledger, cut}) -> (key, (home, MinHash duplicate of, cluster size, cut)); for a document both MinHash
    and substrings keep, a URL candidate (URL key, preference tuple ending with the key)."""

    def __init__(self, urls: bool):
        self._urls = urls
        self._no_url = Metrics.counter(URL_STAGE, "no_url")

    def process(self, element):
        key, grouped = element
        home, duplicate_of, size, url_key, date, length = _first(grouped["ledger"])
        cut = _first(grouped.get("cut", ()))
        yield key, (home, duplicate_of, size, cut)
        if not self._urls or duplicate_of is not None or (cut and cut[2]):
            return
        if url_key is None:
            self._no_url.inc()
            return
        length = len(cut[1]) if cut else length
        yield beam.pvalue.TaggedOutput(_URLS, (url_key, (*preference(date, length, id_of(key)), key)))


def _url_losers(element):
    """(loser key, winner key) for every document of a URL but the preferred one."""
    _, candidates = element
    best = min(candidates)
    for candidate in candidates:
        if candidate != best:
            yield candidate[-1], best[-1]


class DedupUrls(beam.PTransform):
    """One document per normalised URL: the most recent crawl, then the longest text, then the smallest id.
    URL candidates -> (loser key, winner key)."""

    def expand(self, candidates):
        return candidates | "GroupUrls" >> beam.GroupByKey() | "Losers" >> beam.FlatMap(_url_losers)


# ---- applying every decision -------------------------------------------------------------------------------------


class _ApplyFn(beam.DoFn):
    """(file number, {decision: [(key, (MinHash duplicate of, cluster size, cut, URL winner))]}) -> the file read a
    last time: the first row of each decided key through the stages in order, every other row an exact repeat.
    With a folder, kept documents stream into `folder/lang=<code>/<input name>-<hash>.parquet` and the main output
    is (file written, rows); without one, it is the documents."""

    def __init__(self, files: list[str], stages: list[str], folder: str | None):
        self._files, self._stages, self._folder = files, stages, folder

    def setup(self):
        self._counters = {stage: StepCounters(stage) for stage in self._stages}

    def process(self, element):
        index, grouped = element
        decisions = dict(grouped["decision"])
        path = self._files[index]
        writer = self._folder and PartitionedFileWriter(self._folder, output_name(path), DOCUMENT_SCHEMA)
        for batch in read_documents(path):
            for document in batch:
                decision = decisions.pop(document_key(document.id, document.text), None)
                if decision is None:
                    self._counters[EXACT_STAGE].drop(DUPLICATE)
                    yield self._rejected(document, EXACT_STAGE, DUPLICATE, document.id)
                    continue
                for kept in self._apply(document, *decision):
                    if writer and isinstance(kept, Document):
                        writer.write(f"lang={kept.lang or 'und'}", to_row(kept))
                    else:
                        yield kept
        if writer:
            yield from writer.close().items()

    def _apply(self, document, duplicate_of, size, cut, winner):
        counters = self._counters
        counters[EXACT_STAGE].kept.inc()
        if MINHASH_STAGE in counters:
            if duplicate_of is not None:
                counters[MINHASH_STAGE].drop(DUPLICATE)
                yield self._rejected(document, MINHASH_STAGE, DUPLICATE, id_of(duplicate_of))
                return
            counters[MINHASH_STAGE].kept.inc()
            document = document.with_scores({"dedup.cluster_size": float(size)})
        if SUBSTRING_STAGE in counters:
            removed, text, too_short = cut or (0, document.text, False)
            document = document.with_scores({"dedup.substring_tokens_removed": float(removed)}, text=text)
            if too_short:
                counters[SUBSTRING_STAGE].drop("too_short_after_cut")
                yield self._rejected(document, SUBSTRING_STAGE, "too_short_after_cut")
                return
            counters[SUBSTRING_STAGE].kept.inc()
        if URL_STAGE in counters:
            if winner is not None:
                counters[URL_STAGE].drop(DUPLICATE)
                yield self._rejected(document, URL_STAGE, DUPLICATE, id_of(winner))
                return
            counters[URL_STAGE].kept.inc()
        yield document

    @staticmethod
    def _rejected(document, stage: str, reason: str, detail: str = ""):
        return beam.pvalue.TaggedOutput(REJECTED, Rejected.of(document, stage, reason, detail=detail))


class Deduplicate(beam.PTransform):
    """The input Parquet files -> StageOutputs(kept documents, rejected records): exact repeats, then MinHash, then
    substrings, then URLs (a step given None, or urls=False, is off). `stages` names the counter namespaces in
    order; rejected records name the document they duplicate in `detail`. Given `documents_folder`, kept documents
    are written there as each input file is read the last time (one file per input and language, so no shuffle
    carries them either), and `.kept` holds (file written, rows)."""

    def __init__(self, files: list[str], minhash: MinHashOptions | None = MinHashOptions(),
                 substrings: SubstringOptions | None = SubstringOptions(), urls: bool = True,
                 documents_folder: str | None = None):
        super().__init__()
        self.files, self.minhash, self.substrings, self.urls = list(files), minhash, substrings, urls
        self.documents_folder = documents_folder
        self.stages = [EXACT_STAGE] + [stage for stage, on in ((MINHASH_STAGE, minhash), (SUBSTRING_STAGE, substrings),
                                                               (URL_STAGE, urls)) if on]

    def expand(self, pbegin):
        files = self.files
        sketched = (
            pbegin
            | "Files" >> beam.Create(range(len(files)))
            | "Sketch" >> beam.ParDo(_SketchFn(files, self.minhash, self.substrings, self.urls)).with_outputs(
                _BANDS, _SHINGLES, main=_SKETCH)
        )
        ledger_inputs = {"sketch": sketched[_SKETCH]}
        if self.minhash is not None:
            shingles = sketched[_SHINGLES] if self.minhash.verify_threshold is not None else None
            ledger_inputs["minhash"] = sketched[_BANDS] | "MinHash" >> DedupMinHash(self.minhash, shingles)
        ledger = (
            ledger_inputs
            | "JoinSketches" >> beam.CoGroupByKey()
            | "Ledger" >> beam.ParDo(_LedgerFn(self.substrings)).with_outputs(_HOME, _ANCHORS, _REPEATED_INSIDE,
                                                                             main="ledger")
        )
        settle_inputs = {"ledger": ledger.ledger}
        if self.substrings is not None:
            settle_inputs["cut"] = ledger[_ANCHORS] | "Substrings" >> DedupSubstrings(
                self.substrings, files, ledger[_HOME], ledger[_REPEATED_INSIDE])
        settled = (
            settle_inputs
            | "JoinCuts" >> beam.CoGroupByKey()
            | "Settle" >> beam.ParDo(_SettleFn(self.urls)).with_outputs(_URLS, main="settled")
        )
        final_inputs = {"settled": settled.settled}
        if self.urls:
            final_inputs["winner"] = settled[_URLS] | "Urls" >> DedupUrls()

        def by_file(element):
            key, grouped = element
            home, duplicate_of, size, cut = _first(grouped["settled"])
            winner = min(grouped.get("winner", ()), default=None)
            return home, (key, (duplicate_of, size, cut, winner))

        decisions = final_inputs | "JoinWinners" >> beam.CoGroupByKey() | "ByFile" >> beam.Map(by_file)
        every_file = pbegin | "EveryFile" >> beam.Create([(index, None) for index in range(len(files))])
        applied = (
            {"decision": decisions, "file": every_file}
            | "JoinFiles" >> beam.CoGroupByKey()
            | "Apply" >> beam.ParDo(_ApplyFn(files, self.stages, self.documents_folder)).with_outputs(
                REJECTED, main=KEPT)
        )
        return StageOutputs(applied[KEPT], applied[REJECTED])
