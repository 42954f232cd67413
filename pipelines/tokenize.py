"""`ccrefine tokenize`: corpus Parquet shards and a train-tokenizer model -> token shards + manifest.json (the shard
format is described in transforms/tokens/shards.py, the Beam steps are in transforms/tokens/ptransforms.py).

Tokenize output layout (OUTPUT may be any Beam filesystem path; it is verified after the run when local):
    OUTPUT/<split>/<source>/part-BBBBB-PPP.bin / .idx   split train|val, hash bucket B, piece P of that bucket
    OUTPUT/tokenizer.model                              a copy of the model the shards were made with
    OUTPUT/manifest.json                                shards, counts, sha256, tokenizer, sources and mixture
    OUTPUT/tokenize.yaml                                the resolved settings (a --config for a rerun)

Settings come from TokenizeSettings's defaults, then `--config FILE` (YAML with its keys), then the flags the user
typed (pipelines/settings_files.py); deploy/configs/tokenize.yaml documents every default.
"""

from __future__ import annotations

import json
import logging
import math
import re
import sys
from dataclasses import dataclass, field
from typing import Literal

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from ccrefine.pipelines.options import beam_options
from ccrefine.pipelines.outputs import OutputFolder
from ccrefine.pipelines.settings_files import given_flags, load_settings, settings_yaml
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
    """Everything a tokenize run decides with besides its inputs and output: the keys of a --config file."""

    dtype: Literal["auto", "uint16", "uint32"] = "auto"  # auto: uint16 when the vocabulary fits, else uint32
    val_fraction: float = 0.01  # share of documents held out for validation, by a hash of the id
    max_tokens_per_shard: int = 500_000_000  # 1 GB of uint16 tokens; a shard is held in memory while written
    token_budget: int | None = None  # training tokens the mixture is drawn for (None: all training tokens)
    fim: FimOptions = field(default_factory=FimOptions)

    def __post_init__(self):
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.max_tokens_per_shard < 1:
            raise ValueError(f"max_tokens_per_shard must be at least 1, got {self.max_tokens_per_shard}")
        if self.token_budget is not None and self.token_budget < 1:
            raise ValueError(f"token_budget must be at least 1, or null for all training tokens; got "
                             f"{self.token_budget}")


# flag (argparse dest) -> TokenizeSettings key
FLAG_KEYS = {"dtype": "dtype", "val_fraction": "val_fraction", "max_tokens_per_shard": "max_tokens_per_shard",
             "token_budget": "token_budget", "fim_rate": "fim.rate", "fim_seed": "fim.seed"}
CONFIG_WHAT = "tokenize config"
SETTINGS_NAME = "tokenize.yaml"
RESOLVED_HEADER = """The settings this `ccrefine tokenize` run used: defaults, then its --config file, then its flags.
Rerun with the same settings: ccrefine tokenize --config tokenize.yaml --input ... --tokenizer ... --output ..."""


def bucket_count(tokens: int, max_tokens: int) -> int:
    return max(1, math.ceil(tokens / (max_tokens * SHARD_FILL)))


def _write_manifest(_, output, shards, skipped_counts, sources, recorded, token_budget):
    skipped: dict[str, dict[str, int]] = {}
    for (source, reason), count in skipped_counts:
        skipped.setdefault(source, {})[reason] = count
    manifest = build_manifest(shards, sources, skipped, recorded, token_budget)
    write_bytes(FileSystems.join(output, MANIFEST_NAME), json.dumps(manifest, indent=2).encode())


def build_tokenize(pipeline, files: dict[str, list[str]], sources: dict[str, dict], output: str,
                   settings: TokenizeSettings, recorded: dict) -> None:
    """Add the tokenize graph writing into `output` to `pipeline`. `files` lists each source's Parquet files,
    `recorded` the run's settings as the manifest records them."""
    dtype = recorded["dtype"]
    itemsize = TOKEN_DTYPES[dtype].itemsize
    max_tokens = settings.max_tokens_per_shard
    # Workers load the copy in OUTPUT, whose sha256 the manifest records, not the file the user named.
    model_copy = FileSystems.join(output, MODEL_NAME)
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
        | "WriteShards" >> WriteTokenShards(output, dtype, max_tokens)
    )
    # The manifest's "skipped" section: the rejections counted by source and reason.
    skipped = (tokenized.rejected
               | "SkipReasons" >> beam.MapTuple(lambda source, rejected: (source, rejected.reason))
               | "CountSkipped" >> beam.combiners.Count.PerElement())
    _ = (
        pipeline
        | "Once" >> beam.Create([None])
        | "WriteManifest" >> beam.Map(
            _write_manifest, output, beam.pvalue.AsList(shards), beam.pvalue.AsList(skipped),
            sources, recorded, settings.token_budget)
    )


def prepare_tokenizer(tokenizer_path: str, settings: TokenizeSettings) -> tuple[bytes, dict]:
    """Load and check the tokenizer before anything runs: dtype fits, FIM pieces present when FIM is on.
    Returns the model and the run's settings as the manifest records them."""
    if not FileSystems.exists(tokenizer_path):
        raise UsageError(f"--tokenizer {tokenizer_path!r} does not exist; run train-tokenizer first")
    model = read_bytes(tokenizer_path)
    try:
        tokenizer = DocumentTokenizer(model)
        dtype = token_dtype(tokenizer.vocab_size, settings.dtype)
        if settings.fim.rate > 0:
            tokenizer.fim_ids()  # a clear error when the model lacks the sentinels
    except TokenizerError as exc:
        raise UsageError(str(exc)) from exc
    except RuntimeError as exc:  # SentencePiece's own message for a file that is not a model
        raise UsageError(f"--tokenizer {tokenizer_path!r} is not a SentencePiece model: {exc}") from exc
    return model, manifest_settings(model, MODEL_NAME, tokenizer, dtype, settings.val_fraction,
                                    settings.max_tokens_per_shard, settings.fim)


def run_tokenize(options, sources: list[Source], output_path: str, tokenizer_path: str,
                 settings: TokenizeSettings, overwrite: bool = False) -> dict:
    """Check, build, run and wait into a staging folder; then write tokenize.yaml and publish (`overwrite`
    replaces a complete output). Returns the manifest (verified against the shards when the output is local).
    A source left without validation documents is logged as a warning."""
    names = [source.name for source in sources]
    if not sources or len(set(names)) != len(names):
        raise UsageError(f"give each source once, by a unique name (got {names or 'none'})")
    output_folder = OutputFolder(output_path, overwrite)
    output_folder.check()
    files = {source.name: match_files(source.patterns, f"source {source.name}:") for source in sources}
    model, recorded = prepare_tokenizer(tokenizer_path, settings)
    described = {source.name: {"patterns": list(source.patterns), "files": len(files[source.name]),
                               "weight": source.weight} for source in sources}
    output = output_folder.start()
    write_bytes(FileSystems.join(output, MODEL_NAME), model)
    pipeline = beam.Pipeline(options=options)
    build_tokenize(pipeline, files, described, output, settings, recorded)
    pipeline.run().wait_until_finish()
    manifest_path = FileSystems.join(output, MANIFEST_NAME)
    manifest = json.loads(read_bytes(manifest_path)) if is_remote(output) else verify_manifest(manifest_path)
    write_bytes(FileSystems.join(output, SETTINGS_NAME), settings_yaml(settings, RESOLVED_HEADER).encode())
    output_folder.publish(MANIFEST_NAME)
    for name in sources_without_validation(manifest):
        logger.warning("source %s has no validation documents: %d training documents at a validation fraction of "
                       "%s", name, manifest["sources"][name]["splits"]["train"]["documents"], settings.val_fraction)
    return manifest


def settings_from_args(args) -> TokenizeSettings:
    """TokenizeSettings from --config (if given) and the flags typed; a bad value is a UsageError naming the key."""
    return load_settings(TokenizeSettings, args.config, given_flags(args, FLAG_KEYS), CONFIG_WHAT)


def tokenize_command(args, beam_args: list[str]) -> int:
    sources = [Source("corpus", tuple(args.input))] if args.input else []
    sources += [parse_source(spec) for spec in args.source]
    tokenizer = args.tokenizer
    if not tokenizer.endswith(".model"):
        require_complete(tokenizer, "--tokenizer")  # a train-tokenizer output folder
        tokenizer = FileSystems.join(tokenizer, MODEL_NAME)
    settings = settings_from_args(args)
    print(f"ccrefine tokenize: {len(sources)} source(s), tokenizer {tokenizer}, output {args.output}", flush=True)
    manifest = run_tokenize(beam_options(beam_args), sources, args.output, tokenizer, settings, args.overwrite)
    _print_manifest_summary(manifest)
    print(f"manifest: {FileSystems.join(args.output, MANIFEST_NAME)}\n"
          f"settings: {FileSystems.join(args.output, SETTINGS_NAME)}")
    if without := sources_without_validation(manifest):
        print(f"ccrefine tokenize: warning: no validation documents in source(s) {', '.join(without)} at "
              f"--val-fraction {settings.val_fraction}: raise --val-fraction or give more documents", file=sys.stderr)
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
    """Add `tokenize` to the ccrefine command line. Settings flags default to None: a flag counts as given only
    when typed, so it overrides --config and nothing else does (the defaults live in TokenizeSettings)."""
    defaults = TokenizeSettings()
    tokenize = subparsers.add_parser(
        "tokenize",
        help="tokenize corpus shards into memory-mappable token shards + manifest.json",
        description="Tokenize corpus Parquet shards with a train-tokenizer model into OUTPUT/<split>/<source>/"
        "part-*.bin (tokens) + .idx (document offsets), OUTPUT/manifest.json and the resolved settings "
        "(tokenize.yaml). Same input and settings give "
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
    tokenize.add_argument("--config", help="YAML file of settings (keys: dtype, val_fraction, max_tokens_per_shard, "
                          "token_budget, fim; deploy/configs/tokenize.yaml lists every default); the flags given "
                          "override it")
    tokenize.add_argument("--dtype", choices=["auto", "uint16", "uint32"],
                          help="token dtype (default: uint16 when the vocabulary fits, else uint32)")
    tokenize.add_argument("--val-fraction", type=float,
                          help="share of documents held out for validation, by a hash of the id "
                          f"(default: {defaults.val_fraction})")
    tokenize.add_argument("--max-tokens-per-shard", type=int,
                          help=f"default: {defaults.max_tokens_per_shard} (1 GB of uint16); a longer document gets "
                          "a shard of its own")
    tokenize.add_argument("--token-budget", type=int,
                          help="training tokens the mixture is drawn for; sets each source's epochs "
                          "(default: all training tokens)")
    tokenize.add_argument("--fim-rate", type=float,
                          help=f"fraction of training documents rearranged prefix-suffix-middle "
                          f"(default: {defaults.fim.rate})")
    tokenize.add_argument("--fim-seed", type=int, help=f"default: {defaults.fim.seed}")
    tokenize.set_defaults(handler=tokenize_command)
