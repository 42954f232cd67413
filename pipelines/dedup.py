"""`ccrefine dedup`: filtered corpus shards -> MinHash near-duplicates -> exact substrings -> URLs -> refined shards.

Output layout (OUTPUT may be any Beam filesystem path):
    OUTPUT/documents/lang=<code>/<input>-<hash>.parquet         kept documents (transforms.records.DOCUMENT_SCHEMA), one
                                                               file per input file and language, in input order
    OUTPUT/rejected/stage=<stage>/part-*.parquet               removed documents; `detail` names the one kept
    OUTPUT/stats.json                                          funnel, MinHash settings, connected-component rounds
    OUTPUT/dedup.yaml                                          the resolved settings (a --config for a rerun)
    OUTPUT/_SUCCESS                                            written last (pipelines/outputs.py)

Settings come from the dataclass defaults, then `--config FILE` (YAML with the keys of DedupSettings), then the
flags the user typed (pipelines/settings_files.py); deploy/configs/dedup-fineweb.yaml documents every default.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import asdict, dataclass

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from ccrefine.pipelines.config_files import refuse, show
from ccrefine.pipelines.options import beam_options
from ccrefine.pipelines.outputs import OutputFolder
from ccrefine.pipelines.settings_files import given_flags, load_settings, settings_yaml
from ccrefine.pipelines.shards import write_rejected
from ccrefine.pipelines.stats import build_funnel, counters_by_stage, funnel_lines
from ccrefine.transforms.dedup.minhash import PRESETS, MinHashOptions, minhash_settings
from ccrefine.transforms.dedup.ptransforms import (
    COMPONENTS_NAMESPACE,
    Deduplicate,
    rounds_from_counters,
)
from ccrefine.transforms.dedup.substrings import SubstringOptions

from ccrefine.errors import UsageError
from ccrefine.files import match_files, write_bytes

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DedupSettings:
    """Everything a dedup run decides with; a step set to None (`off` in a config file) is skipped."""

    minhash: MinHashOptions | None = MinHashOptions()
    substrings: SubstringOptions | None = SubstringOptions()
    urls: bool = True
    shards: int = 4  # Parquet files per stage of the rejected records

    def __post_init__(self):
        if self.minhash is None and self.substrings is None and not self.urls:
            raise ValueError("every dedup step is switched off; keep at least one of minhash, substrings, urls "
                             "(--minhash, --substrings, --urls)")
        if self.shards < 1:
            raise ValueError(f"shards must be at least 1, got {self.shards}")


# flag (argparse dest) -> DedupSettings key, for the flags that copy one value (see given_settings for the rest)
FLAG_KEYS = {
    "ngram": "minhash.ngram", "char_ngram": "minhash.char_ngram", "seed": "minhash.seed", "keep": "minhash.keep",
    "verify_threshold": "minhash.verify_threshold", "cc_rounds": "minhash.max_cc_rounds",
    "lsh_partitions": "minhash.partitions", "min_substring_tokens": "substrings.min_tokens",
    "min_tokens_left": "substrings.min_tokens_left", "substring_partitions": "substrings.partitions",
    "urls": "urls", "shards": "shards",
}
CONFIG_WHAT = "dedup config"
RESOLVED_HEADER = """The settings this `ccrefine dedup` run used: defaults, then its --config file, then its flags.
Rerun with the same settings: ccrefine dedup --config dedup.yaml --input ... --output ..."""


def build_dedup(pipeline, files: list[str], output: str, settings: DedupSettings) -> list[str]:
    """Add the dedup graph to `pipeline`; returns the stage names (counter namespaces) in order."""
    dedup = Deduplicate(files, settings.minhash, settings.substrings, settings.urls,
                        documents_folder=FileSystems.join(output, "documents"))
    outputs = pipeline | "Dedup" >> dedup
    write_rejected(outputs.rejected, FileSystems.join(output, "rejected"), settings.shards)
    return dedup.stages


def run_dedup(options, files: list[str], output_path: str, settings: DedupSettings, overwrite: bool = False) -> dict:
    """Build, run and wait into a staging folder; then write dedup.yaml and stats.json and publish (`overwrite`
    replaces a complete output). Returns the stats."""
    output_folder = OutputFolder(output_path, overwrite)
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
    write_bytes(FileSystems.join(output, "dedup.yaml"), settings_yaml(settings, RESOLVED_HEADER).encode())
    write_bytes(FileSystems.join(output, "stats.json"), json.dumps(stats, indent=2).encode())
    output_folder.publish("stats.json")
    if stats["problems"]:
        logger.warning("the funnel does not add up: %s", "; ".join(stats["problems"]))
    return stats


def settings_from_args(args) -> DedupSettings:
    """DedupSettings from --config (if given) and the flags typed; a bad value is a UsageError naming the key."""
    return load_settings(DedupSettings, args.config, given_settings(args), CONFIG_WHAT, prepare=expand_preset)


def given_settings(args) -> dict:
    """The flags the user typed, as DedupSettings keys (flags left out are None and do not override the file)."""
    if (args.bands is None) != (args.rows is None):
        raise UsageError("give --bands and --rows together (or neither, for the --minhash-preset)")
    given = given_flags(args, FLAG_KEYS)
    minhash = given.get("minhash", {})
    if args.bands is not None:
        minhash = {"bands": args.bands, "rows": args.rows, **minhash}
    elif args.minhash_preset is not None:
        shape = PRESETS[args.minhash_preset]
        minhash = {"bands": shape.bands, "rows": shape.rows, **minhash}
    if args.cjk_shingles is not None:
        minhash["cjk_words"] = args.cjk_shingles == "jieba"
    if minhash:
        given["minhash"] = minhash
    for step, switch in (("minhash", args.minhash), ("substrings", args.substrings)):
        if switch is False:  # --no-minhash: its other flags have nothing to shape
            given[step] = False
        elif switch and step not in given:
            given[step] = True  # --minhash: on, with the file's options if it has any
    return given


def expand_preset(values: dict, source: str) -> dict:
    """A config file's `minhash: {preset: NAME}` stands for that preset's bands and rows."""
    minhash = values.get("minhash")
    if not isinstance(minhash, dict) or "preset" not in minhash:
        return values
    preset = minhash["preset"]
    if not isinstance(preset, str) or preset not in PRESETS:
        raise refuse(f"{source}: minhash.preset: unknown preset {show(preset)}; choose one of "
                     f"{', '.join(sorted(PRESETS))}, or give bands and rows")
    if "bands" in minhash or "rows" in minhash:
        raise refuse(f"{source}: minhash: give either preset or bands and rows, not both")
    options = {key: value for key, value in minhash.items() if key != "preset"}
    return {**values, "minhash": {"bands": PRESETS[preset].bands, "rows": PRESETS[preset].rows, **options}}


def dedup_command(args, beam_args: list[str]) -> int:
    settings = settings_from_args(args)
    options = beam_options(beam_args)
    FileSystems.set_options(options)
    OutputFolder(args.output, args.overwrite).check()  # before reading anything
    files = match_files(args.input, "--input")
    shape = f"{settings.minhash.bands} x {settings.minhash.rows}" if settings.minhash else "off"
    print(f"ccrefine dedup: {len(files)} file(s), MinHash {shape}, substrings "
          f"{'on' if settings.substrings else 'off'}, URLs {'on' if settings.urls else 'off'}, output {args.output}",
          flush=True)
    stats = run_dedup(options, files, args.output, settings, args.overwrite)
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
          f"stats:     {join(output, 'stats.json')}\nsettings:  {join(output, 'dedup.yaml')}")


def register(subparsers) -> None:
    """Add `dedup` to the ccrefine command line. Settings flags default to None: a flag counts as given only when
    typed, so it overrides --config and nothing else does (the defaults live in DedupSettings)."""
    minhash_defaults, substring_defaults = MinHashOptions(), SubstringOptions()
    dedup = subparsers.add_parser(
        "dedup",
        help="remove near-duplicates (MinHash), repeated spans (exact substrings) and repeated URLs",
        description="Read the documents/ of a `ccrefine corpus` output and write refined documents, rejected "
        "records (each naming the document it duplicates), stats.json and the resolved settings (dedup.yaml). "
        "Unlisted flags go to Beam; the default runner is the DirectRunner with one process per core.",
    )
    dedup.add_argument("--input", required=True, action="append",
                       help="corpus output folder (reads FOLDER/documents/lang=*/*.parquet), Parquet file or glob; "
                       "repeatable")
    dedup.add_argument("--output", required=True, help="output folder (local or gs://, s3://, hdfs://)")
    dedup.add_argument("--config", help="YAML file of settings (keys: minhash, substrings, urls, shards; "
                       "deploy/configs/dedup-fineweb.yaml lists every default); the flags given override it")
    dedup.add_argument("--shards", type=int,
                       help=f"Parquet shards per stage of the rejected records (default: {DedupSettings.shards}; kept "
                       "documents are written one file per input file and language)")
    dedup.add_argument("--overwrite", action="store_true", help="replace a complete output in --output")
    minhash = dedup.add_argument_group("MinHash near-duplicates")
    minhash.add_argument("--minhash", action=argparse.BooleanOptionalAction, help="default: on")
    minhash.add_argument("--minhash-preset", choices=sorted(PRESETS),
                         help="fineweb: 14 bands x 8 rows (112 hashes); refinedweb: 450 x 20 (9,000); "
                         "default: fineweb")
    minhash.add_argument("--bands", type=int, help="LSH bands (with --rows; overrides the preset)")
    minhash.add_argument("--rows", type=int, help="hashes per band (with --bands)")
    minhash.add_argument("--ngram", type=int, help=f"words per shingle (default: {minhash_defaults.ngram})")
    minhash.add_argument("--char-ngram", type=int,
                         help="characters per shingle for Chinese, Japanese, Thai... "
                         f"(default: {minhash_defaults.char_ngram})")
    minhash.add_argument("--cjk-shingles", choices=["characters", "jieba"],
                         help="Chinese shingles of characters or of jieba words (default: characters)")
    minhash.add_argument("--seed", type=int, help=f"permutation seed (default: {minhash_defaults.seed}, "
                         "datasketch's)")
    minhash.add_argument("--keep",
                         help="which document of a cluster stays: smallest-id, longest, or score:NAME (highest "
                         f"value of that score; default: {minhash_defaults.keep})")
    minhash.add_argument("--verify-threshold", type=float,
                         help="drop candidate pairs whose exact shingle Jaccard is below this (default: no check)")
    minhash.add_argument("--cc-rounds", type=int,
                         help=f"connected-component rounds in the graph (default: {minhash_defaults.max_cc_rounds})")
    minhash.add_argument("--lsh-partitions", type=int,
                         help="band-key partitions; a worker holds about 1/N of all band keys "
                         f"(default: {minhash_defaults.partitions})")
    substrings = dedup.add_argument_group("exact substrings")
    substrings.add_argument("--substrings", action=argparse.BooleanOptionalAction, help="default: on")
    substrings.add_argument("--min-substring-tokens", type=int,
                            help=f"shortest repeated span removed, in words (default: {substring_defaults.min_tokens})")
    substrings.add_argument("--min-tokens-left", type=int,
                            help="drop a document cut below this many words "
                            f"(default: {substring_defaults.min_tokens_left})")
    substrings.add_argument("--substring-partitions", type=int,
                            help="window-hash partitions; a worker holds about 1/N of all windows "
                            f"(default: {substring_defaults.partitions})")
    dedup.add_argument("--urls", action=argparse.BooleanOptionalAction,
                       help="one document per normalised URL (default: on)")
    dedup.set_defaults(handler=dedup_command)
