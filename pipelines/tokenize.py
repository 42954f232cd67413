"""`ccrefine tokenize`: corpus Parquet shards and a train-tokenizer model -> token shards + manifest.json (the shard
format is described in transforms/tokens/shards.py, the Beam steps are in transforms/tokens/ptransforms.py).

Tokenize output layout (OUTPUT may be any Beam filesystem path; it is verified after the run when local):
    OUTPUT/<split>/<source>/part-BBBBB-PPP.bin / .idx   split train|val, hash bucket B, piece P of that bucket
    OUTPUT/tokenizer.model                              a copy of the model the shards were made with
    OUTPUT/manifest.json                                shards, counts, sha256, tokenizer, sources and mixture
"""

from __future__ import annotations

import json
import logging
import math
import re
import sys
from dataclasses import dataclass, field, replace

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from ccrefine.pipelines.options import beam_options
from ccrefine.pipelines.outputs import OutputFolder
from ccrefine.pipelines.shards import shard_of
from ccrefine.pipelines.train_tokenizer import MODEL_NAME
from ccrefine.transforms.tokens.encoding import DocumentTokenizer, FimOptions, TokenizerError
from ccrefine.transforms.tokens.ptransforms import ReadCorpusDocuments, TokenizeDocuments, WriteTokenShards
from ccrefine.transforms.tokens.shards import (
    TOKEN_DTYPES,
    build_manifest,
    manifest_settings,
    sources_without_validation,
    token_dtype,
    verify_manifest,
)

from ccrefine.errors import UsageError
from ccrefine.files import is_remote, match_files, read_bytes, require_complete, write_bytes

logger = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
# Hash buckets differ in size by a few percent; aiming at 90% of the limit keeps nearly every bucket in one file.
SHARD_FILL = 0.9
SOURCE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


# ---- sources -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """Corpus shards that are mixed with one weight."""

    name: str
    patterns: tuple[str, ...]
    weight: float = 1.0


def parse_source(spec: str) -> Source:
    """NAME=PATH[:WEIGHT]; the weight is whatever follows the last colon when it is a number (so gs://... works)."""
    name, equals, path = spec.partition("=")
    if not equals or not SOURCE_NAME.match(name) or not path:
        raise UsageError(f"--source {spec!r}: expected NAME=PATH[:WEIGHT] with NAME of letters, digits, _ . -")
    weight = 1.0
    head, colon, tail = path.rpartition(":")
    if colon and head:
        try:
            weight, path = float(tail), head
        except ValueError:
            pass  # the colon belongs to the path (a URL scheme)
    if not weight > 0 or not math.isfinite(weight):
        raise UsageError(f"--source {spec!r}: the weight must be a positive number")
    return Source(name, (path,), weight)


# ---- tokenize: the Beam pipeline ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenizeSettings:
    output: str
    tokenizer: str  # a .model file
    dtype: str = "auto"
    val_fraction: float = 0.01
    max_tokens_per_shard: int = 500_000_000  # 1 GB of uint16 tokens; a shard is held in memory while written
    fim: FimOptions = field(default_factory=FimOptions)
    token_budget: int | None = None
    overwrite: bool = False  # replace a complete output in `output`


def bucket_count(tokens: int, max_tokens: int) -> int:
    return max(1, math.ceil(tokens / (max_tokens * SHARD_FILL)))


def _write_manifest(_, output, shards, skipped_counts, sources, recorded, token_budget):
    skipped: dict[str, dict[str, int]] = {}
    for (source, reason), count in skipped_counts:
        skipped.setdefault(source, {})[reason] = count
    manifest = build_manifest(shards, sources, skipped, recorded, token_budget)
    write_bytes(FileSystems.join(output, MANIFEST_NAME), json.dumps(manifest, indent=2).encode())


def build_tokenize(pipeline, files: dict[str, list[str]], sources: dict[str, dict], settings: TokenizeSettings,
                   recorded: dict) -> None:
    """Add the tokenize graph to `pipeline`. `files` lists each source's Parquet files, `recorded` the run's
    settings as the manifest records them."""
    dtype = recorded["dtype"]
    itemsize = TOKEN_DTYPES[dtype].itemsize
    max_tokens = settings.max_tokens_per_shard
    # Workers load the copy in OUTPUT, whose sha256 the manifest records, not the file the user named.
    model_copy = FileSystems.join(settings.output, MODEL_NAME)
    tokenized = (
        pipeline
        | "Files" >> beam.Create([(name, path) for name in sorted(files) for path in files[name]])
        | "Read" >> ReadCorpusDocuments()
        | "Tokenize" >> TokenizeDocuments(model_copy, dtype, settings.val_fraction, settings.fim)
    )
    documents = tokenized.kept
    totals = (documents
              | "SizeOf" >> beam.Map(lambda d: ((d[0], d[1]), len(d[3]) // itemsize))
              | "TokensPerSplit" >> beam.CombinePerKey(sum))

    def key_by_bucket(document, totals):
        source, split, doc_id, data = document
        return (source, split, shard_of(doc_id, bucket_count(totals[(source, split)], max_tokens))), (doc_id, data)

    shards = (
        documents
        | "KeyByBucket" >> beam.Map(key_by_bucket, totals=beam.pvalue.AsDict(totals))
        | "WriteShards" >> WriteTokenShards(settings.output, dtype, max_tokens)
    )
    # The manifest's "skipped" section: the rejections counted by source and reason.
    skipped = (tokenized.rejected
               | "SkipReasons" >> beam.MapTuple(lambda source, rejected: (source, rejected.reason))
               | "CountSkipped" >> beam.combiners.Count.PerElement())
    _ = (
        pipeline
        | "Once" >> beam.Create([None])
        | "WriteManifest" >> beam.Map(
            _write_manifest, settings.output, beam.pvalue.AsList(shards), beam.pvalue.AsList(skipped),
            sources, recorded, settings.token_budget)
    )


def prepare_tokenizer(settings: TokenizeSettings) -> tuple[bytes, dict]:
    """Load and check the tokenizer before anything runs: dtype fits, FIM pieces present when FIM is on.
    Returns the model and the run's settings as the manifest records them."""
    if not FileSystems.exists(settings.tokenizer):
        raise UsageError(f"--tokenizer {settings.tokenizer!r} does not exist; run train-tokenizer first")
    model = read_bytes(settings.tokenizer)
    try:
        tokenizer = DocumentTokenizer(model)
        dtype = token_dtype(tokenizer.vocab_size, settings.dtype)
        if settings.fim.rate > 0:
            tokenizer.fim_ids()  # a clear error when the model lacks the sentinels
    except TokenizerError as exc:
        raise UsageError(str(exc)) from exc
    except RuntimeError as exc:  # SentencePiece's own message for a file that is not a model
        raise UsageError(f"--tokenizer {settings.tokenizer!r} is not a SentencePiece model: {exc}") from exc
    return model, manifest_settings(model, MODEL_NAME, tokenizer, dtype, settings.val_fraction,
                                    settings.max_tokens_per_shard, settings.fim)


def run_tokenize(options, sources: list[Source], settings: TokenizeSettings) -> dict:
    """Check, build, run and wait; returns the manifest (verified against the shards when the output is local).
    A source left without validation documents is logged as a warning."""
    if (not 0 <= settings.val_fraction < 1 or not 0 <= settings.fim.rate <= 1 or settings.max_tokens_per_shard < 1
            or (settings.token_budget is not None and settings.token_budget < 1)):
        raise UsageError("--val-fraction must be in [0, 1), --fim-rate in [0, 1], --max-tokens-per-shard and "
                         "--token-budget at least 1")
    names = [source.name for source in sources]
    if not sources or len(set(names)) != len(names):
        raise UsageError(f"give each source once, by a unique name (got {names or 'none'})")
    output = OutputFolder(settings.output, settings.overwrite)
    output.check()
    files = {source.name: match_files(source.patterns, f"source {source.name}:") for source in sources}
    model, recorded = prepare_tokenizer(settings)
    described = {source.name: {"patterns": list(source.patterns), "files": len(files[source.name]),
                               "weight": source.weight} for source in sources}
    staged = replace(settings, output=output.start())
    write_bytes(FileSystems.join(staged.output, MODEL_NAME), model)
    pipeline = beam.Pipeline(options=options)
    build_tokenize(pipeline, files, described, staged, recorded)
    pipeline.run().wait_until_finish()
    manifest_path = FileSystems.join(staged.output, MANIFEST_NAME)
    manifest = json.loads(read_bytes(manifest_path)) if is_remote(staged.output) else verify_manifest(manifest_path)
    output.publish(MANIFEST_NAME)
    for name in sources_without_validation(manifest):
        logger.warning("source %s has no validation documents: %d training documents at a validation fraction of "
                       "%s", name, manifest["sources"][name]["splits"]["train"]["documents"], settings.val_fraction)
    return manifest


def tokenize_command(args, beam_args: list[str]) -> int:
    sources = [Source("corpus", tuple(args.input))] if args.input else []
    sources += [parse_source(spec) for spec in args.source]
    tokenizer = args.tokenizer
    if not tokenizer.endswith(".model"):
        require_complete(tokenizer, "--tokenizer")  # a train-tokenizer output folder
        tokenizer = FileSystems.join(tokenizer, MODEL_NAME)
    settings = TokenizeSettings(
        output=args.output, tokenizer=tokenizer, dtype=args.dtype, val_fraction=args.val_fraction,
        max_tokens_per_shard=args.max_tokens_per_shard, fim=FimOptions(args.fim_rate, args.fim_seed),
        token_budget=args.token_budget, overwrite=args.overwrite)
    print(f"ccrefine tokenize: {len(sources)} source(s), tokenizer {tokenizer}, output {args.output}", flush=True)
    manifest = run_tokenize(beam_options(beam_args), sources, settings)
    _print_manifest_summary(manifest)
    print(f"manifest: {FileSystems.join(args.output, MANIFEST_NAME)}")
    if without := sources_without_validation(manifest):
        print(f"ccrefine tokenize: warning: no validation documents in source(s) {', '.join(without)} at "
              f"--val-fraction {args.val_fraction}: raise --val-fraction or give more documents", file=sys.stderr)
    return 0


def _print_manifest_summary(manifest: dict) -> None:
    print(f"{len(manifest['shards'])} shard(s) of {manifest['dtype']}, token budget {manifest['token_budget']}")
    for name, source in manifest["sources"].items():
        train, val = source["splits"]["train"], source["splits"]["val"]
        epochs = "n/a" if source["epochs"] is None else f"{source['epochs']:.2f}"
        skipped = ", ".join(f"{reason} {count}" for reason, count in source["skipped"].items()) or "none"
        print(f"  {name:<10} p={source['probability']:.3f} epochs {epochs}  train {train['documents']} docs "
              f"{train['tokens']} tokens, val {val['documents']} docs {val['tokens']} tokens, skipped: {skipped}")


# ---- the command line --------------------------------------------------------------------------------------------


def register(subparsers) -> None:
    """Add `tokenize` to the ccrefine command line."""
    tokenize = subparsers.add_parser(
        "tokenize",
        help="tokenize corpus shards into memory-mappable token shards + manifest.json",
        description="Tokenize corpus Parquet shards with a train-tokenizer model into OUTPUT/<split>/<source>/"
        "part-*.bin (tokens) + .idx (document offsets) and OUTPUT/manifest.json. Same input and flags give "
        "byte-identical output. Unlisted flags go to Beam; the default runner is the DirectRunner with one "
        "process per core.",
    )
    tokenize.add_argument("--input", action="append", default=[],
                          help="corpus folder, Parquet file or glob of the source named 'corpus' (repeatable)")
    tokenize.add_argument("--source", action="append", default=[], metavar="NAME=PATH[:WEIGHT]",
                          help="a named source and its mixing weight (default 1); repeatable")
    tokenize.add_argument("--output", required=True, help="folder for the token shards")
    tokenize.add_argument("--overwrite", action="store_true", help="replace a complete output in --output")
    tokenize.add_argument("--tokenizer", required=True, help="tokenizer.model or the train-tokenizer output folder")
    tokenize.add_argument("--dtype", choices=["auto", "uint16", "uint32"], default="auto",
                          help="token dtype (default: uint16 when the vocabulary fits, else uint32)")
    tokenize.add_argument("--val-fraction", type=float, default=0.01,
                          help="share of documents held out for validation, by a hash of the id (default: 0.01)")
    tokenize.add_argument("--max-tokens-per-shard", type=int, default=TokenizeSettings.max_tokens_per_shard,
                          help="default: 500000000 (1 GB of uint16); a longer document gets a shard of its own")
    tokenize.add_argument("--token-budget", type=int,
                          help="training tokens the mixture is drawn for; sets each source's epochs "
                          "(default: all training tokens)")
    tokenize.add_argument("--fim-rate", type=float, default=0.0,
                          help="fraction of training documents rearranged prefix-suffix-middle (default: 0)")
    tokenize.add_argument("--fim-seed", type=int, default=0, help="default: 0")
    tokenize.set_defaults(handler=tokenize_command)
