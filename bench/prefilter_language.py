"""The pre-extraction language skip (issues 15 and 20): pages/s/core with and without it, and what it loses.

    python bench/prefilter_language.py [--recipes zh refinedweb] [--reps 3] [--pages 1200] [--english-pages 1000]

Inputs (bench/mixed_input.py, written to a temporary folder): the Common-Crawl-like language mix (45% English,
5% real Chinese pages, 50% in 80 other languages) and an English-only input; and, for the loss count only, every
real Chinese page of shared/data/zh/html.

For each recipe, its steps run in a plain loop on one core (reading included), once with `prefilter_language`
and once without it, the two alternated rep by rep (off/on, on/off, ...) after one warm-up page each. CPU time is
this process's plus its trafilatura child's (psutil), so it stays fair when other jobs share the cores; wall time
and the load average are printed next to it. Extraction's time limit is raised to 10 minutes on both sides (see
`patient`), so the load cannot change which pages time out.

A target page is *lost* when the recipe without the skip lets it through the language stage and the skip drops
it. The threshold table replays the skip's decision at other thresholds on the same pages (the plain text and
lid.176 distribution are computed once per page), against the outcome of the run without the skip.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ccrefine.pipelines.recipe import Recipe, StageSpec, load_recipe, parse_recipe
from ccrefine.transforms.filters.language import shared_identifier
from ccrefine.transforms.filters.prefilter_language import (
    PrefilterOptions,
    cheap_text,
    other_language,
    target_line_chars,
)
from ccrefine.transforms.read.crawl import read_crawl_file
from ccrefine.transforms.records import Page
from measure import cpu_seconds, load_average, spread
from mixed_input import chinese_pages, english_pages, fixture_pages, mixed_pages, write_warcs

REPOSITORY = Path(__file__).resolve().parents[1]
SKIP_STAGE = "prefilter_language"
LANGUAGE_STAGE = "language"
GRID_OTHER = (0.0, 0.5, 0.65, 0.8, 0.9, 0.95)
GRID_TARGET = (0.001, 0.01, 0.05, 0.3, 1.0)
GRID_TARGET_CHARS = (None, 400, 200, 100, 50)  # None: no line check


@dataclass
class LoopRun:
    pages: int = 0
    kept: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    stage_s: Counter = field(default_factory=Counter)
    outcome: dict[str, str] = field(default_factory=dict)  # record id -> `kept` or `<stage>.<reason>`
    past_language: set[str] = field(default_factory=set)  # ids the language stage let through


def with_skip(recipe: Recipe) -> Recipe:
    """The recipe with the skip before extract_text (the English presets leave it out), resolved as a recipe would."""
    if any(s.name == SKIP_STAGE for s in recipe.stages):
        return recipe
    document = recipe.resolved()
    at = next(i for i, entry in enumerate(document["stages"]) if "extract_text" in entry)
    document["stages"].insert(at, {SKIP_STAGE: {}})
    return parse_recipe(document, recipe.name)


def without_skip(recipe: Recipe) -> Recipe:
    return dataclasses.replace(recipe, stages=tuple(s for s in recipe.stages if s.name != SKIP_STAGE))


def patient(recipe: Recipe) -> Recipe:
    """The recipe with extraction's wall-clock limit raised to 10 minutes: on a loaded machine the 5 s limit turns
    slow pages into timeouts that differ from run to run (and a killed extraction process takes its CPU time with
    it), so both configurations get the same patient limit."""
    stages = tuple(StageSpec(s.name, dataclasses.replace(s.options, timeout_s=600.0)) if s.name == "extract_text"
                   else s for s in recipe.stages)
    return dataclasses.replace(recipe, stages=stages)


def read_pages(paths: list[Path], recipe: Recipe):
    for path in paths:
        with path.open("rb") as stream:
            yield from (r for r in read_crawl_file(stream, str(path), recipe.read) if isinstance(r, Page))


def run_loop(paths: list[Path], recipe: Recipe) -> LoopRun:
    steps = [spec.transform().step for spec in recipe.stages]
    for step in steps:
        step.setup()
    warm_up = next(read_pages(paths, recipe))
    for step in steps:  # starts the extraction process and fills caches before the clock starts
        verdict = step.judge(warm_up)
        if verdict.reason:
            break
        warm_up = verdict.document
    run = LoopRun()
    cpu, started = cpu_seconds(), time.perf_counter()
    before = time.perf_counter()
    for record in read_pages(paths, recipe):
        run.stage_s["read"] += time.perf_counter() - before
        run.pages += 1
        record_id, outcome = record.id, "kept"
        for step in steps:
            before = time.perf_counter()
            verdict = step.judge(record)
            run.stage_s[step.stage] += time.perf_counter() - before
            if verdict.reason is not None:
                outcome = f"{step.stage}.{verdict.reason}"
                break
            if step.stage == LANGUAGE_STAGE:
                run.past_language.add(record_id)
            record = verdict.document
        run.outcome[record_id] = outcome
        run.kept += outcome == "kept"
        before = time.perf_counter()
    run.wall_s = time.perf_counter() - started
    run.cpu_s = cpu_seconds() - cpu
    for step in steps:
        step.teardown()
    return run


def compare(label: str, paths: list[Path], recipe: Recipe, reps: int) -> tuple[LoopRun, LoopRun]:
    """Alternated reps with and without the skip; prints the table rows; returns the last run of each."""
    configs = {"without skip": without_skip(recipe), "with skip": recipe}
    runs: dict[str, list[LoopRun]] = {name: [] for name in configs}
    loads = []
    for rep in range(reps):
        order = list(configs) if rep % 2 == 0 else list(reversed(configs))
        for name in order:
            loads.append(load_average())
            runs[name].append(run_loop(paths, configs[name]))
            last = runs[name][-1]
            print(f"  rep {rep + 1} {name}: {last.pages} pages, CPU {last.cpu_s:.1f} s, wall {last.wall_s:.1f} s "
                  f"({loads[-1]})", flush=True)
    print(f"\n### {label}, recipe `{recipe.name}`\n")
    print("| configuration | pages | kept | pages/s per CPU-second (min / median / max) | CPU ms/page (median) "
          "| pages/s wall (min / median / max) | skipped by prefilter |")
    print("|---|---|---|---|---|---|---|")
    for name, done in runs.items():
        per_cpu = [r.pages / r.cpu_s for r in done]
        wall = [r.pages / r.wall_s for r in done]
        skipped = sum(o.startswith(SKIP_STAGE) for o in done[-1].outcome.values())
        print(f"| {name} | {done[-1].pages} | {done[-1].kept} | {spread(per_cpu)} | "
              f"{statistics.median(1000 * r.cpu_s / r.pages for r in done):.1f} | {spread(wall)} | {skipped} |")
    off, on = runs["without skip"], runs["with skip"]
    ratio = statistics.median(o.cpu_s for o in off) / statistics.median(o.cpu_s for o in on)
    print(f"\nspeed-up in CPU time per page (median over reps): {ratio:.2f}x; loads during the reps: "
          f"{loads[0]} ... {loads[-1]}")
    print("| stage | ms/page without skip | ms/page with skip |\n|---|---|---|")
    for stage in off[-1].stage_s | on[-1].stage_s:
        print(f"| {stage} | {1000 * off[-1].stage_s[stage] / off[-1].pages:.2f} | "
              f"{1000 * on[-1].stage_s[stage] / on[-1].pages:.2f} |")
    lost = lost_pages(off[-1], on[-1])
    print(f"target pages lost to the skip (the language stage keeps them without it): {len(lost)} of "
          f"{len(off[-1].past_language)}{': ' + ', '.join(sorted(lost)) if lost else ''}")
    changed = [i for i, o in off[-1].outcome.items() if o != on[-1].outcome[i] and not on[-1].outcome[i].startswith(
        SKIP_STAGE)]
    print(f"pages with another outcome that the skip did not drop (must be 0): {len(changed)}")
    return off[-1], on[-1]


def lost_pages(without: LoopRun, with_skip: LoopRun) -> set[str]:
    return {i for i in without.past_language if with_skip.outcome.get(i, "").startswith(SKIP_STAGE)}


def measured(paths: list[Path], recipe: Recipe, main_content: bool) -> dict[str, tuple[int, dict, int]]:
    """Per record id: what the skip decides on (plain-text length, lid.176 distribution, target-line chars)."""
    identifier = shared_identifier(None)
    targets = frozenset(skip_options(recipe).languages)
    result = {}
    for page in read_pages(paths, recipe):
        text = cheap_text(page.html, main_content) if page.html else ""
        result[page.id] = (len(text), identifier.distributions([text])[0], target_line_chars(identifier, text, targets))
    return result


def skip_options(recipe: Recipe) -> PrefilterOptions:
    (options,) = [s.options for s in recipe.stages if s.name == SKIP_STAGE]
    return options


def threshold_table(label: str, recipe: Recipe, without: LoopRun, paths: list[Path]) -> None:
    """Pages skipped / target pages lost at each threshold, for both plain-text modes, with and without the line
    check at several sizes (min_chars as in the recipe)."""
    options = skip_options(recipe)
    targets = frozenset(options.languages)
    print(f"\n#### thresholds on {label}, recipe `{recipe.name}`: skipped / lost ({len(without.outcome)} pages, "
          f"{len(without.past_language)} through the language stage without the skip; * = the default)")
    for main_content in (False, True):
        pages = measured(paths, recipe, main_content)
        for max_chars in GRID_TARGET_CHARS:
            line_check = "no line check" if max_chars is None else f"max_target_chars {max_chars}"
            print(f"\nmain_content {main_content}, {line_check}\n")
            print("| min_other_score (rows), max_target_score (columns) | " + " | ".join(map(str, GRID_TARGET)) + " |")
            print("|---" * (len(GRID_TARGET) + 1) + "|")
            for min_other in GRID_OTHER:
                cells = []
                for max_target in GRID_TARGET:
                    grid = dataclasses.replace(options, min_other_score=min_other, max_target_score=max_target,
                                               max_target_chars=max_chars if max_chars is not None else 10 ** 9,
                                               main_content=main_content)
                    dropped = {i for i, (chars, dist, line_chars) in pages.items()
                               if other_language(chars, dist, targets, grid, lambda n=line_chars: n)}
                    star = "*" if grid == options else ""
                    cells.append(f"{len(dropped)} / {len(dropped & without.past_language)}{star}")
                print(f"| {min_other} | " + " | ".join(cells) + " |")


def plain_text_cost(shared: Path) -> None:
    """CPU ms per page of the cheap extractors considered, against trafilatura, on the real fixture pages and every
    real Chinese page (decoded as the reader decodes them)."""
    import lxml.html
    from ccrefine.transforms.read.decode import charset_from_meta
    from trafilatura import extract

    pages = [page.html for page in fixture_pages(shared)]
    pages += [p.payload.decode(charset_from_meta(p.payload) or "utf-8", "replace") for p in chinese_pages(shared)]
    extractors = {
        "resiliparse extract_plain_text(main_content=False) (the default)": lambda html: cheap_text(html, False),
        "resiliparse extract_plain_text(main_content=True)": lambda html: cheap_text(html, True),
        "lxml.html text_content() (keeps script and style text)":
            lambda html: lxml.html.fromstring(html).text_content(),
        "trafilatura.extract (as extract_text, in this process)":
            lambda html: extract(html, favor_precision=True, deduplicate=False, include_tables=True),
    }
    print(f"\n### plain text: CPU ms per page on {len(pages)} real pages ({load_average()})\n")
    print("| extractor | CPU ms/page |\n|---|---|")
    for name, extractor in extractors.items():
        started = time.process_time()
        for html in pages:
            extractor(html)
        print(f"| {name} | {1000 * (time.process_time() - started) / len(pages):.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPOSITORY.parent / "shared" / "data")
    parser.add_argument("--recipes", nargs="+", default=["zh", "refinedweb"])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--pages", type=int, default=1200, help="pages in the language mix")
    parser.add_argument("--english-pages", type=int, default=1000, help="pages in the English-only input (0: none)")
    parser.add_argument("--inputs", nargs="+", choices=["mixed", "english"], default=["mixed", "english"],
                        help="the language mix (every recipe), the English-only input (recipes keeping English)")
    parser.add_argument("--no-thresholds", action="store_true", help="leave out the threshold tables")
    parser.add_argument("--plain-text-cost", action="store_true", help="only time the cheap extractors, then stop")
    args = parser.parse_args()
    if args.plain_text_cost:
        plain_text_cost(args.shared)
        return
    folder = Path(tempfile.mkdtemp(prefix="ccrefine-prefilter-"))
    try:
        mixed = write_warcs(mixed_pages(args.shared, args.pages), folder / "mixed", "mixed")
        english = write_warcs(english_pages(args.shared, args.english_pages), folder / "en", "english") \
            if args.english_pages else []
        chinese = write_warcs(chinese_pages(args.shared), folder / "zh", "chinese")
        print(f"{load_average()}; inputs under {folder}")
        for name in args.recipes:
            recipe = with_skip(patient(load_recipe(name)))
            if "mixed" in args.inputs:
                without, _ = compare(f"language mix ({args.pages} pages)", mixed, recipe, args.reps)
                if not args.no_thresholds:
                    threshold_table("the language mix", recipe, without, mixed)
            if "zh" in skip_options(recipe).languages and "mixed" in args.inputs:
                all_chinese = run_loop(chinese, without_skip(recipe))
                skipped = run_loop(chinese, recipe)
                print(f"\nevery real Chinese page ({all_chinese.pages}): {len(all_chinese.past_language)} through the "
                      f"language stage without the skip, lost to the skip: {len(lost_pages(all_chinese, skipped))}")
                if not args.no_thresholds:
                    threshold_table("every real Chinese page", recipe, all_chinese, chinese)
            if "en" in skip_options(recipe).languages and "english" in args.inputs and english:
                compare(f"English only ({args.english_pages} pages)", english, recipe, args.reps)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
