"""`ccrefine dedup`: filtered corpus shards -> MinHash near-duplicates -> exact substrings -> URLs -> refined shards.

Output layout (OUTPUT may be any Beam filesystem path):
    OUTPUT/documents/lang=<code>/<input>-<hash>.parquet         kept documents (transforms.records.DOCUMENT_SCHEMA), one
                                                               file per input file and language, in input order
    OUTPUT/rejected/stage=<stage>/part-*.parquet               removed documents; `detail` names the one kept
    OUTPUT/stats.json                                          funnel, MinHash settings, connected-component rounds
    OUTPUT/_SUCCESS                                            written last (pipelines/outputs.py)
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import asdict, dataclass

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from ccrefine.pipelines.options import beam_options
from ccrefine.pipelines.outputs import OutputFolder, write_bytes
from ccrefine.pipelines.shards import write_rejected
from ccrefine.pipelines.stats import build_funnel, counters_by_stage, funnel_lines
from ccrefine.pipelines.tokenize import match_files
from ccrefine.transforms.dedup.minhash import PRESETS, LshParams, MinHashOptions, minhash_settings
from ccrefine.transforms.dedup.ptransforms import (
    COMPONENTS_NAMESPACE,
    Deduplicate,
    rounds_from_counters,
)
from ccrefine.transforms.dedup.substrings import SubstringOptions

from ccrefine.errors import UsageError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DedupSettings:
    minhash: MinHashOptions | None = MinHashOptions()
    substrings: SubstringOptions | None = SubstringOptions()
    urls: bool = True
    shards: int = 4
    overwrite: bool = False  # replace a complete output


def build_dedup(pipeline, files: list[str], output: str, settings: DedupSettings) -> list[str]:
    """Add the dedup graph to `pipeline`; returns the stage names (counter namespaces) in order."""
    dedup = Deduplicate(files, settings.minhash, settings.substrings, settings.urls,
                        documents_folder=FileSystems.join(output, "documents"))
    outputs = pipeline | "Dedup" >> dedup
    write_rejected(outputs.rejected, FileSystems.join(output, "rejected"), settings.shards)
    return dedup.stages


def run_dedup(options, files: list[str], output_path: str, settings: DedupSettings) -> dict:
    """Build, run and wait into a staging folder; then write stats.json and publish. Returns its content."""
    if settings.minhash is None and settings.substrings is None and not settings.urls:
        raise UsageError("every dedup step is switched off; keep at least one of --minhash, --substrings, --urls")
    if settings.shards < 1:
        raise UsageError(f"--shards must be at least 1, got {settings.shards}")
    output_folder = OutputFolder(output_path, settings.overwrite)
    output_folder.check()
    output = output_folder.start()
    pipeline = beam.Pipeline(options=options)
    stages = build_dedup(pipeline, files, output, settings)
    result = pipeline.run()
    result.wait_until_finish()
    counters = counters_by_stage(result)
    stats = build_funnel(counters, stages)
    stats["inputs"] = files
    if settings.minhash is not None:
        stats["minhash"] = minhash_settings(settings.minhash)
        stats["connected_components"] = {
            **rounds_from_counters(counters.get(COMPONENTS_NAMESPACE, {}), settings.minhash.max_cc_rounds),
            "edges_below_threshold": counters.get(COMPONENTS_NAMESPACE, {}).get("edges_below_threshold", 0),
        }
        if not stats["connected_components"]["converged"]:
            logger.warning("connected components did not converge in %d rounds: some clusters keep more than one "
                           "document; raise --cc-rounds", settings.minhash.max_cc_rounds)
    if settings.substrings is not None:
        stats["substrings"] = asdict(settings.substrings)
    stats["urls"] = settings.urls
    write_bytes(FileSystems.join(output, "stats.json"), json.dumps(stats, indent=2).encode())
    output_folder.publish("stats.json")
    if stats["problems"]:
        logger.warning("the funnel does not add up: %s", "; ".join(stats["problems"]))
    return stats


def settings_from_args(args) -> DedupSettings:
    """DedupSettings from the parsed flags; a bad combination is a UsageError naming the flag."""
    if (args.bands is None) != (args.rows is None):
        raise UsageError("give --bands and --rows together (or neither, for the --minhash-preset)")
    try:
        minhash = None
        if args.minhash:
            shape = PRESETS[args.minhash_preset] if args.bands is None else LshParams(args.bands, args.rows)
            minhash = MinHashOptions(
                bands=shape.bands, rows=shape.rows, ngram=args.ngram,
                char_ngram=args.char_ngram, cjk_words=args.cjk_shingles == "jieba", seed=args.seed, keep=args.keep,
                verify_threshold=args.verify_threshold, max_cc_rounds=args.cc_rounds, partitions=args.lsh_partitions)
        substrings = None
        if args.substrings:
            substrings = SubstringOptions(args.min_substring_tokens, args.min_tokens_left, args.substring_partitions)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    return DedupSettings(minhash, substrings, args.urls, args.shards, args.overwrite)


def dedup_command(args, beam_args: list[str]) -> int:
    settings = settings_from_args(args)
    options = beam_options(beam_args)
    FileSystems.set_options(options)
    OutputFolder(args.output, settings.overwrite).check()  # before reading anything
    files = match_files(args.input, "--input")
    shape = f"{settings.minhash.bands} x {settings.minhash.rows}" if settings.minhash else "off"
    print(f"ccrefine dedup: {len(files)} file(s), MinHash {shape}, substrings "
          f"{'on' if settings.substrings else 'off'}, URLs {'on' if settings.urls else 'off'}, output {args.output}",
          flush=True)
    stats = run_dedup(options, files, args.output, settings)
    _print_summary(args.output, stats)
    return 0


def _print_summary(output: str, stats: dict) -> None:
    print(f"documents in {stats['records_in']}, kept {stats['documents_out']}, removed {stats['dropped_total']}")
    print("\n".join(funnel_lines(stats, empty="none removed")))
    components = stats.get("connected_components")
    if components:
        state = "converged" if components["converged"] else "NOT converged (raise --cc-rounds)"
        print(f"  connected components: {components['rounds_changed']} round(s) changed the graph, {state}")
    join = FileSystems.join
    print(f"documents: {join(output, 'documents')}\nrejected:  {join(output, 'rejected')}\n"
          f"stats:     {join(output, 'stats.json')}")


def register(subparsers) -> None:
    """Add `dedup` to the ccrefine command line."""
    dedup = subparsers.add_parser(
        "dedup",
        help="remove near-duplicates (MinHash), repeated spans (exact substrings) and repeated URLs",
        description="Read the documents/ of a `ccrefine corpus` output and write refined documents, rejected "
        "records (each naming the document it duplicates) and stats.json. Unlisted flags go to Beam; the default "
        "runner is the DirectRunner with one process per core.",
    )
    dedup.add_argument("--input", required=True, action="append",
                       help="corpus output folder (reads FOLDER/documents/lang=*/*.parquet), Parquet file or glob; "
                       "repeatable")
    dedup.add_argument("--output", required=True, help="output folder (local or gs://, s3://, hdfs://)")
    dedup.add_argument("--shards", type=int, default=4,
                       help="Parquet shards per stage of the rejected records (default: 4; kept documents are "
                       "written one file per input file and language)")
    dedup.add_argument("--overwrite", action="store_true", help="replace a complete output in --output")
    minhash = dedup.add_argument_group("MinHash near-duplicates")
    minhash.add_argument("--minhash", action=argparse.BooleanOptionalAction, default=True, help="default: on")
    minhash.add_argument("--minhash-preset", choices=sorted(PRESETS), default="fineweb",
                         help="fineweb: 14 bands x 8 rows (112 hashes); refinedweb: 450 x 20 (9,000); "
                         "default: fineweb")
    minhash.add_argument("--bands", type=int, help="LSH bands (with --rows; overrides the preset)")
    minhash.add_argument("--rows", type=int, help="hashes per band (with --bands)")
    minhash.add_argument("--ngram", type=int, default=5, help="words per shingle (default: 5)")
    minhash.add_argument("--char-ngram", type=int, default=5,
                         help="characters per shingle for Chinese, Japanese, Thai... (default: 5)")
    minhash.add_argument("--cjk-shingles", choices=["characters", "jieba"], default="characters",
                         help="Chinese shingles of characters or of jieba words (default: characters)")
    minhash.add_argument("--seed", type=int, default=1, help="permutation seed (default: 1, datasketch's)")
    minhash.add_argument("--keep", default="smallest-id",
                         help="which document of a cluster stays: smallest-id, longest, or score:NAME (highest "
                         "value of that score; default: smallest-id)")
    minhash.add_argument("--verify-threshold", type=float,
                         help="drop candidate pairs whose exact shingle Jaccard is below this (default: no check)")
    minhash.add_argument("--cc-rounds", type=int, default=MinHashOptions.max_cc_rounds,
                         help=f"connected-component rounds in the graph (default: {MinHashOptions.max_cc_rounds})")
    minhash.add_argument("--lsh-partitions", type=int, default=MinHashOptions.partitions,
                         help="band-key partitions; a worker holds about 1/N of all band keys "
                         f"(default: {MinHashOptions.partitions})")
    substrings = dedup.add_argument_group("exact substrings")
    substrings.add_argument("--substrings", action=argparse.BooleanOptionalAction, default=True, help="default: on")
    substrings.add_argument("--min-substring-tokens", type=int, default=SubstringOptions.min_tokens,
                            help="shortest repeated span removed, in words (default: 50)")
    substrings.add_argument("--min-tokens-left", type=int, default=SubstringOptions.min_tokens_left,
                            help="drop a document cut below this many words (default: 50)")
    substrings.add_argument("--substring-partitions", type=int, default=SubstringOptions.partitions,
                            help="window-hash partitions; a worker holds about 1/N of all windows (default: 16)")
    dedup.add_argument("--urls", action=argparse.BooleanOptionalAction, default=True,
                       help="one document per normalised URL (default: on)")
    dedup.set_defaults(handler=dedup_command)


def parser_with_dedup_command() -> argparse.ArgumentParser:
    """A parser with only `dedup` (what `ccrefine` adds it to), for tests and scripts."""
    parser = argparse.ArgumentParser(prog="ccrefine")
    register(parser.add_subparsers(dest="command", required=True))
    return parser
