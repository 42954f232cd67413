"""`ccrefine train-tokenizer` and `ccrefine tokenize`: corpus Parquet shards -> a SentencePiece model -> token
shards + manifest.json (the shard format is described in transforms/tokens/tokenize.py).

Tokenize output layout (OUTPUT may be any Beam filesystem path; it is verified after the run when local):
    OUTPUT/<split>/<source>/part-BBBBB-PPP.bin / .idx   split train|val, hash bucket B, piece P of that bucket
    OUTPUT/tokenizer.model                              a copy of the model the shards were made with
    OUTPUT/manifest.json                                shards, counts, sha256, tokenizer, sources and mixture
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import re
import uuid
from dataclasses import asdict, dataclass, field, replace

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from ccrefine.pipelines.options import beam_options
from ccrefine.pipelines.outputs import (
    TEMPORARY_SUFFIX,
    OutputFolder,
    ensure_folder,
    holds_files,
    read_bytes,
    require_complete,
    require_complete_above,
    write_bytes,
)
from ccrefine.pipelines.outputs import replace as replace_file
from ccrefine.pipelines.shards import shard_of
from ccrefine.transforms.tokens.tokenize import (
    BOS,
    EOD,
    FIM_PIECES,
    PAD,
    TOKEN_DTYPES,
    DocumentTokenizer,
    FimOptions,
    LanguageSample,
    TokenizerError,
    TrainerOptions,
    build_manifest,
    cut_into_shards,
    encode_document,
    is_validation,
    iter_parquet_documents,
    token_dtype,
    tokens_per_character,
    train_tokenizer,
    training_sentences,
    verify_manifest,
    write_token_shard,
)

from ccrefine.errors import UsageError

logger = logging.getLogger(__name__)

STAGE = "tokenize"
SKIPPED = "skipped"
MODEL_NAME = "tokenizer.model"
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


def corpus_pattern(path: str, flag: str) -> str:
    """A glob or a .parquet path is used as it is; a folder is a corpus (or dedup) output folder, which must be
    complete (and so must the output folder a glob or path under its documents/ points into)."""
    if path.endswith(".parquet") or any(char in path for char in "*?["):
        require_complete_above(path, flag)
        return path
    if holds_files(path):
        require_complete(path, flag)
    return FileSystems.join(path, "documents", "lang=*", "*.parquet")


def match_files(patterns: tuple[str, ...] | list[str], flag: str) -> list[str]:
    files = []
    for pattern in patterns:
        found = [m.path for m in FileSystems.match([corpus_pattern(pattern, flag)])[0].metadata_list]
        if not found:
            raise UsageError(f"{flag} {pattern!r} matches no Parquet file (a folder means "
                               f"FOLDER/documents/lang=*/*.parquet); check the path or quote the glob")
        files.extend(found)
    return sorted(files)


# ---- train-tokenizer ---------------------------------------------------------------------------------------------


def sample_documents(files: list[str], sample: LanguageSample) -> LanguageSample:
    """Stream every file through the sample; only the sample stays in memory."""
    for path in files:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
            for doc_id, text, lang in iter_parquet_documents(handle, ("id", "text", "lang")):
                sample.offer(doc_id, text, lang)
        logger.info("sampled %s", path)
    return sample


def evaluate(tokenizer: DocumentTokenizer, eval_texts: dict[str, str]) -> dict[str, float]:
    """Tokens per character on each held-out text file (one sentence or paragraph a line)."""
    return {label: tokens_per_character(tokenizer, read_bytes(path).decode("utf-8").split("\n"))
            for label, path in eval_texts.items()}


def parse_pair(spec: str, flag: str, expected: str) -> tuple[str, str]:
    key, equals, value = spec.partition("=")
    if not equals or not key or not value:
        raise UsageError(f"{flag} {spec!r}: expected {expected}")
    return key, value


def parse_language_shares(specs: list[str]) -> dict[str, float]:
    shares = {}
    for spec in specs:
        lang, share = parse_pair(spec, "--language-share", "LANG=FRACTION")
        try:
            shares[lang] = float(share)
        except ValueError:
            raise UsageError(f"--language-share {spec!r}: {share!r} is not a number") from None
    if any(not 0 < share <= 1 for share in shares.values()) or sum(shares.values()) > 1 + 1e-9:
        raise UsageError(f"--language-share: each share must be in (0, 1] and together at most 1, got {shares}")
    return shares


def train_tokenizer_command(args, beam_args: list[str]) -> int:
    FileSystems.set_options(beam_options(beam_args))  # credentials and settings of remote filesystems
    if (args.sample_documents is not None and args.sample_documents < 1) or args.sample_chars < 1:
        raise UsageError("the sample size must be at least 1")
    eval_texts = dict(parse_pair(spec, "--eval-text", "LABEL=PATH") for spec in args.eval_text)
    shares = parse_language_shares(args.language_share)
    output = OutputFolder(args.output, args.overwrite)
    output.check()
    files = match_files(args.input, "--input")
    unit, budget = ("documents", args.sample_documents) if args.sample_documents else ("characters", args.sample_chars)
    sample = sample_documents(files, LanguageSample(budget, unit, args.seed, shares))
    texts = sample.texts()
    if not texts:
        raise UsageError(f"--input matched {len(files)} file(s) but no document has text")
    options = TrainerOptions(model_type=args.model_type, vocab_size=args.vocab_size,
                             character_coverage=args.character_coverage, threads=args.threads)
    described = sample.describe()
    drawn = ", ".join(f"{lang} {row['documents']}/{row['offered']} documents {row['characters']} chars"
                      for lang, row in described.items())
    print(f"ccrefine train-tokenizer: sampled from {len(files)} file(s): {drawn}; training {options.model_type} "
          f"with {options.vocab_size} pieces", flush=True)
    try:
        model = train_tokenizer(training_sentences(texts, options.max_sentence_bytes), options)
    except TokenizerError as exc:
        raise UsageError(f"{exc} (--vocab-size, --character-coverage, --sample-chars)") from exc
    tokenizer = DocumentTokenizer(model)
    scores = evaluate(tokenizer, eval_texts)
    staging = output.start()
    write_bytes(FileSystems.join(staging, MODEL_NAME), model)
    processor = tokenizer.processor
    vocab = "".join(f"{processor.id_to_piece(i)}\t{processor.get_score(i)}\n" for i in range(tokenizer.vocab_size))
    write_bytes(FileSystems.join(staging, "tokenizer.vocab"), vocab.encode())
    info = {
        "trainer": asdict(options),
        "sample": {"files": len(files), "unit": unit, "budget": budget, "seed": args.seed,
                   "language_shares": shares, "languages": described},
        "vocab_size": tokenizer.vocab_size,
        "special_ids": _special_ids(tokenizer),
        "tokens_per_character": scores,
    }
    write_bytes(FileSystems.join(staging, "training.json"), json.dumps(info, indent=2).encode())
    output.publish("training.json")
    for label, value in scores.items():
        print(f"tokens per character on {label}: {value:.3f}")
    print(f"model: {FileSystems.join(args.output, MODEL_NAME)}")
    return 0


def _special_ids(tokenizer: DocumentTokenizer) -> dict[str, int | None]:
    return {piece: tokenizer.special_id(piece) for piece in (BOS, EOD, PAD, *FIM_PIECES)}


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


class _ReadDocumentsFn(beam.DoFn):
    def process(self, element):
        source, path = element
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
            for doc_id, text in iter_parquet_documents(handle):
                yield source, doc_id, text


class _TokenizeFn(beam.DoFn):
    """(source, id, text) -> (source, split, id, token bytes); empty documents go to `skipped`."""

    def __init__(self, model_path: str, dtype: str, val_fraction: float, fim: FimOptions):
        self._model_path, self._dtype, self._val_fraction, self._fim = model_path, dtype, val_fraction, fim
        self._documents = Metrics.counter(STAGE, "kept")
        self._empty = Metrics.counter(STAGE, "dropped.empty")
        self._tokens = Metrics.counter(STAGE, "tokens")

    def setup(self):
        self._tokenizer = DocumentTokenizer(read_bytes(self._model_path))

    def process(self, element):
        source, doc_id, text = element
        if not text:
            self._empty.inc()
            yield beam.pvalue.TaggedOutput(SKIPPED, (source, "empty"))
            return
        split = "val" if is_validation(doc_id, self._val_fraction) else "train"
        # FIM only in training: validation loss stays the plain left-to-right loss.
        tokens = encode_document(self._tokenizer, doc_id, text, self._fim if split == "train" else None)
        self._documents.inc()
        self._tokens.inc(len(tokens))
        yield source, split, doc_id, np.asarray(tokens, dtype=TOKEN_DTYPES[self._dtype]).tobytes()


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
            replace_file(f"{temporary}.idx{TEMPORARY_SUFFIX}", FileSystems.join(folder, name + ".idx"))
            replace_file(f"{temporary}.bin{TEMPORARY_SUFFIX}", FileSystems.join(folder, name + ".bin"))
            yield {"path": f"{split}/{source}/{name}.bin", "split": split, "source": source, **asdict(stats)}


def _write_manifest(_, output, shards, skipped_counts, sources, settings, token_budget):
    skipped: dict[str, dict[str, int]] = {}
    for (source, reason), count in skipped_counts:
        skipped.setdefault(source, {})[reason] = count
    manifest = build_manifest(shards, sources, skipped, settings, token_budget)
    write_bytes(FileSystems.join(output, MANIFEST_NAME), json.dumps(manifest, indent=2).encode())


def build_tokenize(pipeline, files: dict[str, list[str]], sources: dict[str, dict], settings: TokenizeSettings,
                   manifest_settings: dict) -> None:
    """Add the tokenize graph to `pipeline`. `files` lists each source's Parquet files."""
    dtype = manifest_settings["dtype"]
    itemsize = TOKEN_DTYPES[dtype].itemsize
    max_tokens = settings.max_tokens_per_shard
    # Workers load the copy in OUTPUT, whose sha256 the manifest records, not the file the user named.
    model_copy = FileSystems.join(settings.output, MODEL_NAME)
    tokenized = (
        pipeline
        | "Files" >> beam.Create([(name, path) for name in sorted(files) for path in files[name]])
        | "FanOut" >> beam.Reshuffle()
        | "Read" >> beam.ParDo(_ReadDocumentsFn())
        | "Tokenize" >> beam.ParDo(_TokenizeFn(model_copy, dtype, settings.val_fraction, settings.fim))
        .with_outputs(SKIPPED, main="documents")
    )
    documents = tokenized.documents
    totals = (documents
              | "SizeOf" >> beam.Map(lambda d: ((d[0], d[1]), len(d[3]) // itemsize))
              | "TokensPerSplit" >> beam.CombinePerKey(sum))

    def key_by_bucket(document, totals):
        source, split, doc_id, data = document
        return (source, split, shard_of(doc_id, bucket_count(totals[(source, split)], max_tokens))), (doc_id, data)

    shards = (
        documents
        | "KeyByBucket" >> beam.Map(key_by_bucket, totals=beam.pvalue.AsDict(totals))
        | "GroupBuckets" >> beam.GroupByKey()
        | "WriteShards" >> beam.ParDo(_WriteShardsFn(settings.output, dtype, max_tokens))
    )
    skipped = tokenized[SKIPPED] | "CountSkipped" >> beam.combiners.Count.PerElement()
    _ = (
        pipeline
        | "Once" >> beam.Create([None])
        | "WriteManifest" >> beam.Map(
            _write_manifest, settings.output, beam.pvalue.AsList(shards), beam.pvalue.AsList(skipped),
            sources, manifest_settings, settings.token_budget)
    )


def prepare_tokenizer(settings: TokenizeSettings) -> tuple[bytes, dict]:
    """Load and check the tokenizer before anything runs: dtype fits, FIM pieces present when FIM is on.
    Returns the model and the manifest's settings."""
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
    manifest_settings = {
        "tokenizer": {"path": MODEL_NAME, "sha256": hashlib.sha256(model).hexdigest(),
                      "vocab_size": tokenizer.vocab_size, "special_ids": _special_ids(tokenizer)},
        "dtype": dtype.name,
        "eod_id": tokenizer.eod_id,
        "val_fraction": settings.val_fraction,
        "split_rule": "val when int(blake2b(id, digest_size=8, key=b'validation'), big-endian) < val_fraction * 2**64",
        "max_tokens_per_shard": settings.max_tokens_per_shard,
        "fim": {"rate": settings.fim.rate, "seed": settings.fim.seed, "format": "psm", "splits": ["train"]},
    }
    return model, manifest_settings


def run_tokenize(options, sources: list[Source], settings: TokenizeSettings) -> dict:
    """Check, build, run and wait; returns the manifest (verified against the shards when the output is local)."""
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
    model, manifest_settings = prepare_tokenizer(settings)
    described = {source.name: {"patterns": list(source.patterns), "files": len(files[source.name]),
                               "weight": source.weight} for source in sources}
    staged = replace(settings, output=output.start())
    write_bytes(FileSystems.join(staged.output, MODEL_NAME), model)
    pipeline = beam.Pipeline(options=options)
    build_tokenize(pipeline, files, described, staged, manifest_settings)
    pipeline.run().wait_until_finish()
    manifest_path = FileSystems.join(staged.output, MANIFEST_NAME)
    manifest = json.loads(read_bytes(manifest_path)) if "://" in staged.output else verify_manifest(manifest_path)
    output.publish(MANIFEST_NAME)
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
    """Add `train-tokenizer` and `tokenize` to the ccrefine command line."""
    train = subparsers.add_parser(
        "train-tokenizer",
        help="train a SentencePiece tokenizer on a uniform sample of corpus shards",
        description="Stream corpus Parquet shards, draw a uniform sample of documents (bounded by characters or "
        "documents), and train a SentencePiece model with byte fallback, split digits, exact whitespace and the "
        f"control pieces {BOS} </s> {PAD} {' '.join(FIM_PIECES)}. Writes OUTPUT/tokenizer.model, "
        "tokenizer.vocab and training.json. Unlisted flags configure Beam filesystems.",
    )
    train.add_argument("--input", required=True, action="append",
                       help="corpus output folder (reads FOLDER/documents/lang=*/*.parquet), Parquet file or glob; "
                       "repeatable")
    train.add_argument("--output", required=True, help="folder for the model")
    train.add_argument("--overwrite", action="store_true", help="replace a complete output in --output")
    train.add_argument("--model-type", choices=["bpe", "unigram"], default="bpe", help="default: bpe")
    train.add_argument("--vocab-size", type=int, default=32000, help="default: 32000")
    train.add_argument("--character-coverage", type=float, default=0.9995,
                       help="share of characters given their own piece, the rest fall back to bytes "
                       "(default: 0.9995, enough for Chinese)")
    size = train.add_mutually_exclusive_group()
    size.add_argument("--sample-chars", type=int, default=100_000_000,
                      help="sample documents up to this many characters (default: 100000000)")
    size.add_argument("--sample-documents", type=int, help="sample this many documents instead")
    train.add_argument("--language-share", action="append", default=[], metavar="LANG=FRACTION",
                       help="reserve this fraction of the sample for documents of LANG (the corpus `lang` column), "
                       "e.g. zh=0.3 so a minority language gets enough text; the other languages share the rest; "
                       "repeatable (default: one uniform sample)")
    train.add_argument("--seed", type=int, default=0, help="seed of the sample (default: 0)")
    train.add_argument("--threads", type=int, default=TrainerOptions().threads,
                       help="trainer threads (default: all cores)")
    train.add_argument("--eval-text", action="append", default=[], metavar="LABEL=PATH",
                       help="held-out text (one line per sentence) to report tokens per character on; repeatable")
    train.set_defaults(handler=train_tokenizer_command)

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


def parser_with_tokenize_commands() -> argparse.ArgumentParser:
    """A parser with only these two commands (what `ccrefine` adds them to), for tests and scripts."""
    parser = argparse.ArgumentParser(prog="ccrefine")
    register(parser.add_subparsers(dest="command", required=True))
    return parser
