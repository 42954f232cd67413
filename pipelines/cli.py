"""`ccrefine`: the command line. Each subcommand owns a few flags; every other flag is a Beam option and
passes through untouched (--runner, --direct_num_workers, --temp_location, ...)."""

from __future__ import annotations

import argparse
import logging
import sys

from apache_beam.io.filesystems import FileSystems
from ccrefine.eval import commands as eval_commands
from ccrefine.pipelines import corpus, dedup, sample, tokenize, train_models, train_tokenizer
from ccrefine.pipelines.beam_messages import quiet_known_beam_messages
from ccrefine.pipelines.inputs import match_inputs, plan_archives
from ccrefine.pipelines.options import beam_options, is_local
from ccrefine.pipelines.outputs import OutputFolder
from ccrefine.pipelines.progress import ProgressPrinter, progress_folder
from ccrefine.pipelines.recipe import RecipeError, load_recipe, preset_names
from ccrefine.pipelines.stats import funnel_lines
from ccrefine.trainer import cli as train_cli

from ccrefine.errors import UsageError


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args, beam_args = parser.parse_known_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    quiet_known_beam_messages()
    try:
        return args.handler(args, beam_args)
    except (RecipeError, UsageError) as exc:
        print(f"ccrefine {args.command}: error: {exc}", file=sys.stderr)
        return 2


def parse_command(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """`ccrefine ARGV` parsed: the command's arguments and the flags left for Beam."""
    return _parser().parse_known_args(argv)


def run_command(argv: list[str]) -> int:
    """`ccrefine ARGV` for tests and scripts: the command's exit status, a user's mistake raised as the
    UsageError `main` would print."""
    args, beam_args = parse_command(argv)
    return args.handler(args, beam_args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ccrefine",
        description="Common Crawl archives -> a RefinedWeb-style pretraining corpus, with Apache Beam.",
        epilog="Flags not listed under a subcommand are passed to Apache Beam (e.g. --runner FlinkRunner).",
    )
    parser.add_argument("--log-level", default="WARNING", help="Python logging level (default: WARNING)")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "corpus",
        help="read archives, run the recipe's stages, write Parquet shards + stats.json",
        description="Read WARC/WET/ARC archives and write filtered documents, rejected records and stats.json. "
        "Unlisted flags go to Beam; the default runner is the DirectRunner with one process per core.",
    )
    run.add_argument("--input", required=True, action="append", help="archive path or glob (repeatable); "
                     "local or any Beam filesystem (gs://, s3://, hdfs://)")
    run.add_argument("--output", required=True, help="output folder (local or gs://, s3://, hdfs://); a killed run "
                     "rerun with the same command resumes, skipping the archives already complete")
    run.add_argument("--recipe", default="refinedweb",
                     help=f"preset name ({', '.join(preset_names())}) or a YAML file (default: refinedweb)")
    run.add_argument("--overwrite", action="store_true",
                     help="replace a complete output (or discard another run's unfinished one) in --output")
    run.add_argument("--shards", type=int, help=argparse.SUPPRESS)  # gone: files follow the archives
    run.set_defaults(handler=_corpus)

    make = commands.add_parser(
        "sample", help="write a small WARC of pages ccrefine ships, for a first run with no outside data"
    )
    make.add_argument("--output", required=True, help="path of the .warc.gz to write")
    make.set_defaults(handler=_sample)
    train_models.register(commands)
    train_tokenizer.register(commands)
    tokenize.register(commands)
    dedup.register(commands)
    train_cli.register(commands)
    eval_commands.register(commands)
    return parser


def _corpus(args, beam_args: list[str]) -> int:
    recipe = load_recipe(args.recipe)
    if args.shards is not None:
        print("ccrefine corpus: note: --shards has no effect any more: each archive is written to its own file per "
              "language (see README, 'Output folders')", file=sys.stderr)
    options = beam_options(beam_args)
    FileSystems.set_options(options)  # credentials and settings of remote filesystems, for the launcher's reads
    output = OutputFolder(args.output, args.overwrite)
    output.check()
    archives, duplicates = plan_archives(match_inputs(args.input))
    skipped = f", {len(duplicates)} duplicate(s) skipped" if duplicates else ""
    print(f"ccrefine corpus: {len(archives)} archive(s){skipped}, recipe {recipe.name}, output {args.output}",
          flush=True)
    if not is_local(options):
        funnel = corpus.run_corpus(options, archives, duplicates, output, recipe, args.input)
    else:
        with progress_folder() as folder, ProgressPrinter(folder, len(archives)) as progress:
            funnel = corpus.run_corpus(options, archives, duplicates, output, recipe, args.input, folder)
            print(progress.line(), flush=True)
    _print_summary(args.output, funnel)
    return 0


def _print_summary(output: str, funnel: dict) -> None:
    print(f"records read {funnel['records_in']}, documents kept {funnel['documents_out']}, "
          f"dropped {funnel['dropped_total']}")
    print("\n".join(funnel_lines(funnel)))
    for duplicate in funnel.get("duplicate_inputs", []):
        print(f"  skipped {duplicate['path']}: {duplicate['kind']} as {duplicate['same_as']}")
    join = FileSystems.join
    print(f"documents: {join(output, 'documents')}\nrejected:  {join(output, 'rejected')}\n"
          f"stats:     {join(output, 'stats.json')}\nrecipe:    {join(output, 'recipe.yaml')}")


def _sample(args, _beam_args: list[str]) -> int:
    written = sample.write_sample_warc(args.output)
    print(f"wrote {written} records to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
