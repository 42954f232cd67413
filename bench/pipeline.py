"""End-to-end throughput of the corpus pipeline: pages per second on one core (plain loop) with milliseconds per
page for each stage, Beam's overhead and scaling with DirectRunner workers.

    python bench/pipeline.py [--recipe fineweb] [--copies 60] [--beam] [--workers 1 2]

The WARC fixtures in shared/data/warc (dolma, Common Crawl and warcio: 39 HTML pages in 4 readable files) are
copied `--copies` times into a temporary folder, so every run reads real archives from disk. The plain loop calls
the recipe's pure steps one page after the other in this process (no Beam).

--beam runs `ccrefine corpus` (a child process) on the same archives with the in-memory DirectRunner and one
worker; --workers N ... runs it on the multi-process DirectRunner with N workers each (ccrefine's default mode).
Each Beam figure is given with its start-up included, and without it: the start-up is measured by running the
same command on a one-page archive first. The load average before each timing is printed next to it, since the
figures mean little on a busy machine.

The side-by-side comparison with datatrove is bench/compare_datatrove.py.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from ccrefine.pipelines.inputs import tagged_copy
from ccrefine.pipelines.recipe import load_recipe
from ccrefine.transforms.read.crawl import read_crawl_file
from ccrefine.transforms.records import Page
from measure import load_average

REPOSITORY = Path(__file__).resolve().parents[1]
ONE_PAGE_ARCHIVE = "warcio_example.warc.gz"


def replicate_fixtures(shared: Path, copies: int) -> list[Path]:
    folder = Path(tempfile.mkdtemp(prefix="ccrefine-bench-"))
    paths = []
    for source in fixture_archives(shared):
        for copy in range(copies):
            target = folder / f"{copy:04d}-{source.name}"
            tagged_copy(source, target)  # distinct content: identical copies are read once
            paths.append(target)
    return paths


def fixture_archives(shared: Path) -> list[Path]:
    # resiliparse_clipped holds no complete page, and datatrove's reader stops with an EOFError on it.
    return [p for p in sorted((shared / "warc").glob("*.warc.gz")) if "clipped" not in p.name]


def plain_loop(paths: list[Path], recipe_name: str) -> tuple[int, int, float, dict[str, float]]:
    """(pages read, documents kept, seconds, seconds per stage) with the recipe's steps called directly."""
    recipe = load_recipe(recipe_name)
    steps = [spec.transform().step for spec in recipe.stages]
    for step in steps:
        step.setup()
    stage_seconds: dict[str, float] = defaultdict(float)
    pages = kept = 0
    started = time.perf_counter()
    for path in paths:
        before = time.perf_counter()
        with path.open("rb") as stream:
            records = [r for r in read_crawl_file(stream, str(path), recipe.read) if isinstance(r, Page)]
        stage_seconds["read"] += time.perf_counter() - before
        pages += len(records)
        for record in records:
            for step in steps:
                before = time.perf_counter()
                verdict = step.judge(record)
                stage_seconds[step.stage] += time.perf_counter() - before
                if verdict.reason is not None:
                    break
                record = verdict.document
            else:
                kept += 1
    elapsed = time.perf_counter() - started
    for step in steps:
        step.teardown()
    return pages, kept, elapsed, stage_seconds


def beam_seconds(input_glob: str, recipe_name: str, beam_flags: list[str]) -> float:
    """Wall time of `ccrefine corpus` in a child process, start-up included."""
    output = tempfile.mkdtemp(prefix="ccrefine-bench-out-")
    command = [sys.executable, "-m", "ccrefine.pipelines.cli", "corpus", "--input", input_glob, "--output", output,
               "--recipe", recipe_name, *beam_flags]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPOSITORY, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    shutil.rmtree(output, ignore_errors=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return seconds


def time_beam(paths: list[Path], shared: Path, recipe_name: str, pages: int, label: str, flags: list[str]) -> None:
    one_page = str(shared / "warc" / ONE_PAGE_ARCHIVE)
    load = load_average()
    startup = beam_seconds(one_page, recipe_name, flags)
    seconds = beam_seconds(str(paths[0].parent / "*.gz"), recipe_name, flags)
    print(f"Beam DirectRunner, {label}: {pages / seconds:.1f} pages/s with start-up ({seconds:.1f} s), "
          f"{pages / max(1e-9, seconds - startup):.1f} pages/s without it (start-up: {startup:.1f} s on a one-page "
          f"archive); {load}")
    print(f"  command: ccrefine corpus --input '<archives>/*.gz' --output OUT --recipe {recipe_name} {' '.join(flags)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPOSITORY.parent / "shared" / "data")
    parser.add_argument("--recipe", default="fineweb")
    parser.add_argument("--copies", type=int, default=60)
    parser.add_argument("--beam", action="store_true", help="also time Beam's in-memory DirectRunner, 1 worker")
    parser.add_argument("--workers", type=int, nargs="*", default=[],
                        help="also time the multi-process DirectRunner with each of these worker counts")
    args = parser.parse_args()
    paths = replicate_fixtures(args.shared, args.copies)
    try:
        run_benchmarks(args, paths)
    finally:
        shutil.rmtree(paths[0].parent, ignore_errors=True)


def run_benchmarks(args: argparse.Namespace, paths: list[Path]) -> None:
    sources = ", ".join(p.name for p in fixture_archives(args.shared))
    print(f"{len(paths)} archives: {sources} (from {args.shared / 'warc'}), {args.copies} copies each")
    print(f"## plain loop ({load_average()})")
    pages, kept, elapsed, stages = plain_loop(paths, args.recipe)
    print(f"{pages} HTML pages read, {kept} kept; recipe {args.recipe}; one core")
    print(f"plain loop: {pages / elapsed:.1f} pages/s ({elapsed:.1f} s)")
    print("| stage | ms/page read |\n|---|---|")
    for stage, seconds in stages.items():
        print(f"| {stage} | {seconds * 1000 / pages:.2f} |")
    if args.beam:
        time_beam(paths, args.shared, args.recipe, pages, "in-memory, 1 worker",
                  ["--direct_running_mode", "in_memory", "--direct_num_workers", "1"])
    for workers in args.workers:
        time_beam(paths, args.shared, args.recipe, pages, f"multi-processing, {workers} worker(s)",
                  ["--direct_running_mode", "multi_processing", "--direct_num_workers", str(workers)])


if __name__ == "__main__":
    main()
