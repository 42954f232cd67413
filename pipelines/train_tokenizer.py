"""`ccrefine train-tokenizer`: corpus Parquet shards -> a uniform sample -> a SentencePiece model.

Output: OUTPUT/tokenizer.model, tokenizer.vocab (piece and score a line), training.json (trainer options, the
sample, special ids, tokens per character on --eval-text files) and _SUCCESS. `sample_documents`, `train_model`
and `write_tokenizer` are the steps `ccrefine ablate` runs too.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict

from apache_beam.io.filesystems import FileSystems
from ccrefine.pipelines.options import beam_options
from ccrefine.pipelines.outputs import OutputFolder
from ccrefine.transforms.tokens.encoding import (
    BOS,
    FIM_PIECES,
    PAD,
    DocumentTokenizer,
    TokenizerError,
    tokens_per_character,
)
from ccrefine.transforms.tokens.training import (
    LanguageSample,
    TrainerOptions,
    iter_parquet_documents,
    train_tokenizer,
    training_sentences,
)

from ccrefine.errors import UsageError
from ccrefine.files import match_files, open_file, read_bytes, write_bytes

logger = logging.getLogger(__name__)

MODEL_NAME = "tokenizer.model"
INFO_NAME = "training.json"


def sample_documents(files: list[str], sample: LanguageSample) -> LanguageSample:
    """Stream every file through the sample; only the sample stays in memory."""
    for path in files:
        with open_file(path) as handle:
            for doc_id, text, lang in iter_parquet_documents(handle, ("id", "text", "lang")):
                sample.offer(doc_id, text, lang)
        logger.info("sampled %s", path)
    return sample


def train_model(texts: list[str], options: TrainerOptions, flags: str) -> bytes:
    """SentencePiece on the sampled texts; a sample or vocabulary that cannot train is a UsageError naming `flags`,
    the settings that fix it."""
    try:
        return train_tokenizer(training_sentences(texts, options.max_sentence_bytes), options)
    except TokenizerError as exc:
        raise UsageError(f"{exc} ({flags})") from exc


def write_tokenizer(output: OutputFolder, model: bytes, tokenizer: DocumentTokenizer, info: dict) -> None:
    """Publish the model, its vocabulary (piece and score a line) and `info` as training.json in `output`."""
    staging = output.start()
    write_bytes(FileSystems.join(staging, MODEL_NAME), model)
    processor = tokenizer.processor
    vocab = "".join(f"{processor.id_to_piece(i)}\t{processor.get_score(i)}\n" for i in range(tokenizer.vocab_size))
    write_bytes(FileSystems.join(staging, "tokenizer.vocab"), vocab.encode())
    write_bytes(FileSystems.join(staging, INFO_NAME), json.dumps(info, indent=2).encode())
    output.publish(INFO_NAME)


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
    model = train_model(texts, options, "--vocab-size, --character-coverage, --sample-chars")
    tokenizer = DocumentTokenizer(model)
    scores = evaluate(tokenizer, eval_texts)
    write_tokenizer(output, model, tokenizer, {
        "trainer": asdict(options),
        "sample": {"files": len(files), "unit": unit, "budget": budget, "seed": args.seed,
                   "language_shares": shares, "languages": described},
        "vocab_size": tokenizer.vocab_size,
        "special_ids": tokenizer.special_ids(),
        "tokens_per_character": scores,
    })
    for label, value in scores.items():
        print(f"tokens per character on {label}: {value:.3f}")
    print(f"model: {FileSystems.join(args.output, MODEL_NAME)}")
    return 0


def register(subparsers) -> None:
    """Add `train-tokenizer` to the ccrefine command line."""
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
