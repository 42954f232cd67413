"""End-to-end throughput of the corpus pipeline: pages per second on one core (plain loop) with milliseconds per
page for each stage, Beam's overhead and scaling with DirectRunner workers, and a side-by-side run of datatrove.

    python bench/pipeline.py [--recipe fineweb] [--copies 60] [--beam] [--workers 1 2] [--compare-datatrove]

The WARC fixtures in shared/data/warc (dolma, Common Crawl and warcio: 39 HTML pages in 4 readable files) are
copied `--copies` times into a temporary folder, so every run reads real archives from disk. The plain loop calls
the recipe's pure steps one page after the other in this process (no Beam).

--beam runs `ccrefine corpus` (a child process) on the same archives with the in-memory DirectRunner and one
worker; --workers N ... runs it on the multi-process DirectRunner with N workers each (ccrefine's default mode).
Each Beam figure is given with its start-up included, and without it: the start-up is measured by running the
same command on a one-page archive first. The load average before each timing is printed next to it, since the
figures mean little on a busy machine.

--compare-datatrove runs datatrove's FineWeb pipeline (bench/datatrove_side.py) in this process on the same
files and reports both throughputs, their ratio and how far the kept sets agree (see `compare_with_datatrove`).
It installs nothing: `pip install -e ".[bench]"` brings datatrove, spaCy and the trafilatura it supports.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from pipelines.inputs import tagged_copy
from pipelines.recipe import load_recipe
from transforms.crawl import read_crawl_file
from transforms.records import Page, Rejected

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


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min, {os.cpu_count()} cores)"


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


def our_reasons(paths: list[Path], recipe_name: str) -> tuple[dict[str, str], dict[str, Page]]:
    """Per distinct record id: `kept` or `<stage>.<reason>` (`read.<reason>` for records the reader drops)."""
    recipe = load_recipe(recipe_name)
    steps = [spec.transform().step for spec in recipe.stages]
    for step in steps:
        step.setup()
    reasons: dict[str, str] = {}
    pages: dict[str, Page] = {}
    for path in paths:
        with path.open("rb") as stream:
            for record in read_crawl_file(stream, str(path), recipe.read):
                if record.id in reasons:
                    continue
                if isinstance(record, Rejected):
                    reasons[record.id] = f"read.{record.reason}"
                    continue
                pages[record.id] = record
                reasons[record.id] = "kept"
                for step in steps:
                    verdict = step.judge(record)
                    if verdict.reason is not None:
                        reasons[record.id] = f"{step.stage}.{verdict.reason}"
                        break
                    record = verdict.document
    for step in steps:
        step.teardown()
    return reasons, pages


def compare_with_datatrove(paths: list[Path], recipe_name: str, our_pages: int, our_seconds: float) -> None:
    """Throughput on the same archives, and the agreement of the kept sets.

    A page (a WARC-Record-ID) counts as kept by a side when that side keeps at least one of its copies.
    Agreement is the Jaccard index of the two kept sets, |both| / |either|, after leaving out the pages whose
    difference is a deliberate ccrefine behaviour (listed with the reason); every kept page is English to the
    side that keeps it, so this is agreement on English pages. The other differences are listed as
    disagreements, with each side's reason (datatrove's re-run step by step, without its time limit).
    """
    import datatrove_side

    print(f"\n## ccrefine and datatrove on the same {len(paths)} archives ({load_average()})")
    theirs = datatrove_side.run_datatrove(paths[0].parent)
    print("datatrove 0.10.1: WarcReader -> URLFilter -> Trafilatura(favour_precision=True, deduplicate=False, "
          f"timeout={datatrove_side.DATATROVE_EXTRACT_TIMEOUT_S:g} s) -> LanguageFilter(en, 0.65) -> "
          "GopherRepetitionFilter -> GopherQualityFilter -> C4QualityFilter(filter_no_terminal_punct=False) -> "
          "FineWebQualityFilter; one core, in this process")
    print(f"datatrove: {theirs.documents / theirs.seconds:.1f} pages/s ({theirs.documents} documents read in "
          f"{theirs.seconds:.1f} s; {sum(theirs.timeouts.values())} extractor timeouts)")
    print(f"ccrefine:  {our_pages / our_seconds:.1f} pages/s ({our_pages} HTML pages read in {our_seconds:.1f} s; "
          f"recipe {recipe_name}, plain loop)")
    print(f"ccrefine / datatrove: {theirs.seconds / our_seconds:.2f}x on the same archives (wall time), "
          f"{(our_pages / our_seconds) / (theirs.documents / theirs.seconds):.2f}x in pages/s")

    reasons, pages = our_reasons(paths, recipe_name)
    extract = [s.options for s in load_recipe(recipe_name).stages if s.name == "extract_text"]
    our_timeout_s = extract[0].timeout_s if extract else float("nan")
    ours = {record_id for record_id, reason in reasons.items() if reason == "kept"}
    deliberate, disagreements = {}, []
    for record_id in sorted((ours | theirs.kept) - (ours & theirs.kept)):
        page = pages.get(record_id)
        why = datatrove_side.deliberate_difference(record_id, reasons, theirs, page.html if page else None,
                                                   our_timeout_s)
        if why:
            deliberate[record_id] = why
        else:
            disagreements.append(record_id)
    counted_ours, counted_theirs = ours - deliberate.keys(), theirs.kept - deliberate.keys()
    both = counted_ours & counted_theirs
    union = counted_ours | counted_theirs
    print(f"distinct pages: {len(pages)} read by ccrefine, {len(theirs.read)} by datatrove; kept (any copy): "
          f"{len(ours)} by ccrefine, {len(theirs.kept)} by datatrove")
    for record_id, copies in theirs.timeouts.items():
        outcome = "kept from another copy" if record_id in theirs.kept else "not kept"
        print(f"  datatrove's extractor timed out on {copies} of {theirs.read[record_id]} copies of "
              f"{_url(pages, record_id)} ({outcome}; ccrefine: {reasons.get(record_id, 'not read')})")
    print(f"deliberate differences, not counted ({len(deliberate)}):")
    for record_id, why in deliberate.items():
        kept_by = "ccrefine" if record_id in ours else "datatrove"
        print(f"  {_url(pages, record_id):60}  kept by {kept_by} only: {why}")
    agreement = len(both) / len(union) if union else 1.0
    print(f"kept-set agreement on English pages (Jaccard of kept record ids, deliberate differences left out): "
          f"{agreement:.1%} ({len(both)} both, {len(counted_ours - both)} only ccrefine, "
          f"{len(counted_theirs - both)} only datatrove)")
    raw = len(ours & theirs.kept) / len(ours | theirs.kept) if ours | theirs.kept else 1.0
    print(f"  (with every difference counted: {raw:.1%})")
    print(f"disagreements ({len(disagreements)}):")
    for record_id in disagreements:
        page = pages[record_id]
        theirs_reason = datatrove_side.datatrove_reason(theirs.steps, page.html or page.text or "", page.url,
                                                        record_id)
        print(f"  {page.url[:60]:60}  ccrefine: {reasons[record_id]:28}  datatrove: {theirs_reason}")


def _url(pages: dict[str, Page], record_id: str) -> str:
    return pages[record_id].url[:60] if record_id in pages else record_id


def beam_seconds(input_glob: str, recipe_name: str, beam_flags: list[str]) -> float:
    """Wall time of `ccrefine corpus` in a child process, start-up included."""
    output = tempfile.mkdtemp(prefix="ccrefine-bench-out-")
    command = [sys.executable, "-m", "pipelines.cli", "corpus", "--input", input_glob, "--output", output,
               "--recipe", recipe_name, *beam_flags]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPOSITORY), os.environ.get("PYTHONPATH")]))}
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPOSITORY, env=env, capture_output=True, text=True)
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
    parser.add_argument("--compare-datatrove", action="store_true",
                        help="also run datatrove's equivalent pipeline on the same files (needs the bench extra)")
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
    if args.compare_datatrove:
        compare_with_datatrove(paths, args.recipe, pages, elapsed)


if __name__ == "__main__":
    main()
