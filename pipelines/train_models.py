"""`ccrefine train-kenlm` and `ccrefine train-classifier`: the models the filtering stages score with,
trained offline from local text."""

from __future__ import annotations

import json

import numpy as np
from apache_beam.io.filesystems import FileSystems
from ccrefine.transforms.filters.perplexity import document_perplexity, train_kenlm
from ccrefine.transforms.filters.quality_classifier import train_classifier

from ccrefine.errors import UsageError
from ccrefine.files import read_bytes, require_complete_above


def read_texts(patterns: list[str], lang: str | None = None) -> list[str]:
    """Documents from plain-text files (one document per file) or corpus Parquet shards (`text` column,
    filtered to `lang` when given), local or on any Beam filesystem."""
    import io

    import pyarrow.parquet as pq

    texts = []
    for pattern in patterns:
        require_complete_above(pattern, "--input")
        matched = sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
        if not matched:
            raise UsageError(f"{pattern!r} matches no file; check the path or quote the glob")
        for path in matched:
            data = read_bytes(path)
            if path.endswith(".parquet"):
                table = pq.read_table(io.BytesIO(data), columns=["text", "lang"])
                texts += [t for t, code in zip(table["text"].to_pylist(), table["lang"].to_pylist(), strict=True)
                          if lang is None or code == lang]
            else:
                texts.append(data.decode("utf-8", errors="replace"))
    return texts


def register(commands) -> None:
    kenlm_command = commands.add_parser(
        "train-kenlm", help="train a KenLM (ARPA) n-gram model for the perplexity stage, offline",
        description="Train a Kneser-Ney n-gram model on reference text, tokenised the way ScorePerplexity "
        "scores. With --cutoffs-from, also print CCNet head/middle/tail cut-offs (33rd/66th percentiles).")
    kenlm_command.add_argument("--input", action="append", required=True,
                               help="text file or corpus Parquet shard glob (repeatable)")
    kenlm_command.add_argument("--lang", required=True, help="language code, e.g. en or zh (zh uses jieba words)")
    kenlm_command.add_argument("--output", required=True, help="path of the .arpa file to write")
    kenlm_command.add_argument("--order", type=int, default=4, choices=range(1, 6), help="n-gram order (default 4)")
    kenlm_command.add_argument("--min-count", type=int, default=2, help="rarer words become <unk> (default 2)")
    kenlm_command.add_argument("--cutoffs-from", action="append", default=[],
                               help="corpus Parquet shards whose perplexities set the bucket cut-offs")
    kenlm_command.set_defaults(handler=_train_kenlm)

    classifier = commands.add_parser(
        "train-classifier", help="train a GPT-3-style fastText quality classifier (reference vs raw crawl text)",
        description="Train fastText to tell reference text (positives) from raw extracted crawl text "
        "(negatives, e.g. the documents of a run with --recipe raw); prints held-out accuracy.")
    classifier.add_argument("--positives", action="append", required=True, help="reference text files or shards")
    classifier.add_argument("--negatives", action="append", required=True, help="crawl shards or text files")
    classifier.add_argument("--output", required=True, help="path of the fastText .bin to write")
    classifier.add_argument("--lang", help="language of the texts (and of shard rows to read); zh trains on jieba "
                            "words, the tokens the classify_quality stage scores zh documents with")
    classifier.add_argument("--seed", type=int, default=0)
    classifier.set_defaults(handler=_train_classifier)


def _train_kenlm(args, _beam_args) -> int:
    import kenlm

    try:
        lines = train_kenlm(read_texts(args.input), args.lang, args.output, args.order, args.min_count)
    except ValueError as exc:  # no usable text
        raise UsageError(f"--input: {exc}") from None
    print(f"trained a {args.order}-gram model on {lines} lines: {args.output}")
    if args.cutoffs_from:
        model = kenlm.Model(args.output)
        perplexities = [document_perplexity(model, t, args.lang) for t in read_texts(args.cutoffs_from, args.lang)]
        cutoffs = [round(float(np.percentile(perplexities, q)), 1) for q in (33, 66)]
        print("recipe snippet:\n" + json.dumps({"score_perplexity": {
            "models": {args.lang: args.output}, "bucket_cutoffs": {args.lang: cutoffs}}}, indent=2))
    return 0


def _train_classifier(args, _beam_args) -> int:
    try:
        report = train_classifier(read_texts(args.positives, args.lang), read_texts(args.negatives, args.lang),
                                  args.output, seed=args.seed, lang=args.lang or "en")
    except ValueError as exc:  # one class without examples
        raise UsageError(str(exc)) from None
    print(f"held-out accuracy {report['accuracy']:.3f} on {report['test_examples']} examples "
          f"({report['train_examples']} for training): {args.output}")
    return 0
