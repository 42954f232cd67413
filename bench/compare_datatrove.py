"""ccrefine against datatrove's FineWeb pipeline, side by side and fairly, on one core.

    python bench/compare_datatrove.py [--input english|mix ...] [--pages 1200] [--reps 3] [--recipe fineweb]

Needs the bench extra (`pip install -e ".[dev,bench]"`). Each side runs in a fresh child process per repetition
(so no cache or warm model carries from one run to the next), the two sides alternate rep by rep (ccrefine first
in even reps, datatrove first in odd ones) so a change of load hits both, and every figure is given as
min / median / max over the reps, for wall time and for CPU time (the process and its extraction child).

The same work on both sides:
- the same stages: URL filter -> trafilatura (favour precision, no comments, no cross-page dedup, the same
  5 s limit) -> fastText lid.176 (en >= 0.65) -> Gopher repetition -> Gopher quality -> C4 (no terminal
  punctuation rule) -> FineWeb -> PII (datatrove's PIIFormatter: e-mail and IP; ccrefine also redacts phones);
- the same URL lists: datatrove's bundled UT1 `domains` and `urls` files, loaded by both (ccrefine's
  `blocklists`, datatrove's `extra_domains` / `extra_urls`), and ccrefine's banned-word lists given to both;
- the same trafilatura and fastText: whatever the install resolved (the versions are printed);
- set-up (imports of the steps, model and list loading, the first page through every step) is timed apart
  from the steady state on both sides, and both figures are reported.

Inputs are built by bench/mixed_input.py, deterministically: `mix` is its Common-Crawl-like language mix (45%
English, 5% real Chinese pages, the rest 80 languages), `english` its English-only pages. The ratio
that matters is steady-state CPU time per page; agreement is the Jaccard index of the kept record ids on
target-language pages, every difference listed with each side's reason.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY / "bench"))
from measure import cpu_seconds, load_average, spread  # noqa: E402

EXTRACT_TIMEOUT_S = 5.0  # both sides; datatrove's default of 1 s loses pages to load on a busy machine


def url_list_files(folder: Path) -> list[str]:
    """datatrove's bundled UT1 `domains` and `urls` files, unpacked into `folder`."""
    from datatrove.pipeline.filters import url_filter

    archive = Path(url_filter.ASSETS_PATH) / "url_filterblacklistsv0_3_0.tar.gz"
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(folder, filter="data")
    return [str(folder / "domains"), str(folder / "urls")]


# ---- one side, in a child process ------------------------------------------------------------------------


def run_ccrefine(folder: Path, recipe_name: str, blocklists: list[str]) -> dict:
    started, started_cpu = time.perf_counter(), cpu_seconds()
    import yaml
    from ccrefine.pipelines.recipe import PRESETS_DIR, parse_recipe
    from ccrefine.transforms.read.crawl import read_crawl_file
    from ccrefine.transforms.records import Page, Rejected

    document = yaml.safe_load((PRESETS_DIR / f"{recipe_name}.yaml").read_text(encoding="utf-8"))
    for entry in document["stages"]:
        (name, options), = entry.items()
        if name == "filter_urls":
            options["blocklists"] = blocklists
        if name == "extract_text":
            options["timeout_s"] = EXTRACT_TIMEOUT_S
    recipe = parse_recipe(document, default_name=recipe_name)
    steps = [spec.transform().step for spec in recipe.stages]
    for step in steps:
        step.setup()
    paths = sorted(folder.glob("*.warc.gz"))
    reasons: dict[str, str] = {}
    stage_seconds: dict[str, float] = defaultdict(float)

    def judge(record) -> str:
        for step in steps:
            before = time.perf_counter()
            verdict = step.judge(record)
            stage_seconds[step.stage] += time.perf_counter() - before
            if verdict.reason is not None:
                return f"{step.stage}.{verdict.reason}"
            record = verdict.document
        return "kept"

    first = next(r for r in read_crawl_file(paths[0].open("rb"), str(paths[0]), recipe.read) if isinstance(r, Page))
    judge(first)  # pays every lazy load: models, the extractor's process
    setup_done = (time.perf_counter(), cpu_seconds())
    stage_seconds.clear()
    pages = 0
    for path in paths:
        before = time.perf_counter()
        with path.open("rb") as stream:
            records = list(read_crawl_file(stream, str(path), recipe.read))
        stage_seconds["read"] += time.perf_counter() - before
        for record in records:
            if isinstance(record, Rejected):
                reasons.setdefault(record.id, f"read.{record.reason}")
                continue
            pages += 1
            outcome = judge(record)
            if reasons.get(record.id) != "kept":  # a page counts as kept when any of its copies is
                reasons[record.id] = outcome
    finished, finished_cpu = time.perf_counter(), cpu_seconds()
    for step in steps:
        step.teardown()
    return _side_result(started, started_cpu, setup_done, finished, finished_cpu, pages, stage_seconds, reasons)


def run_datatrove(folder: Path, blocklists: list[str]) -> dict:
    started, started_cpu = time.perf_counter(), cpu_seconds()
    import datatrove_side

    steps = datatrove_side.datatrove_steps(blocklists, EXTRACT_TIMEOUT_S)
    reasons, read, timeouts, stage_seconds, setup_done, pages = datatrove_side.run_datatrove(folder, steps)
    finished, finished_cpu = time.perf_counter(), cpu_seconds()
    result = _side_result(started, started_cpu, setup_done, finished, finished_cpu, pages, stage_seconds, reasons)
    result.update(read=read, timeouts=timeouts)
    return result


def _side_result(started, started_cpu, setup_done, finished, finished_cpu, pages, stage_seconds, reasons) -> dict:
    setup_wall, setup_cpu = setup_done
    return {
        "pages": pages,
        "setup_wall": setup_wall - started, "setup_cpu": setup_cpu - started_cpu,
        "wall": finished - setup_wall, "cpu": finished_cpu - setup_cpu,
        "stage_s": dict(stage_seconds),
        "reasons": reasons,
    }


# ---- the parent: inputs, alternation, report -------------------------------------------------------------


def build_input(kind: str, folder: Path, shared: Path, pages: int) -> Path:
    """bench/mixed_input.py's Common-Crawl-like language mix, or its English-only pages, as WARC files."""
    import mixed_input

    target = folder / kind
    made = mixed_input.english_pages(shared, pages) if kind == "english" else mixed_input.mixed_pages(shared, pages)
    mixed_input.write_warcs(made, target, kind)
    return target


def run_side(side: str, folder: Path, recipe: str, blocklists: list[str]) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        command = [sys.executable, __file__, "--side", side, "--folder", str(folder), "--recipe", recipe,
                   "--json", out.name, "--blocklists", *blocklists]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"the {side} side failed:\n{done.stderr[-4000:]}")
        return json.loads(Path(out.name).read_text())


def compare(kind: str, folder: Path, recipe: str, blocklists: list[str], reps: int) -> None:
    runs: dict[str, list[dict]] = {"ccrefine": [], "datatrove": []}
    loads = []
    for rep in range(reps):
        order = ["ccrefine", "datatrove"] if rep % 2 == 0 else ["datatrove", "ccrefine"]
        for side in order:
            loads.append(os.getloadavg()[0])
            runs[side].append(run_side(side, folder, recipe, blocklists))
    pages = runs["ccrefine"][0]["pages"]  # the same input for both: both sides' time is divided by its HTML pages
    archives = len(list(folder.glob("*.warc.gz")))
    print(f"\n## {kind}: {pages} HTML pages in {archives} archives ({runs['datatrove'][0]['pages']} "
          f"documents read by datatrove); {reps} reps alternated; 1-min load during runs "
          f"{min(loads):.2f}-{max(loads):.2f}; now {load_average()}")
    print("| measure (min / median / max) | ccrefine | datatrove | datatrove / ccrefine |")
    print("|---|---|---|---|")
    rows = [("steady-state CPU ms per page", "cpu", 1000 / pages),
            ("steady-state wall ms per page", "wall", 1000 / pages),
            ("set-up CPU s", "setup_cpu", 1), ("set-up wall s", "setup_wall", 1),
            ("CPU s, set-up included", "total_cpu", 1)]
    for side_runs in runs.values():
        for run in side_runs:
            run["total_cpu"] = run["setup_cpu"] + run["cpu"]
    for label, key, scale in rows:
        values = {side: [run[key] * scale for run in side_runs] for side, side_runs in runs.items()}
        ratios = [t / o for o, t in zip(values["ccrefine"], values["datatrove"], strict=True)]
        print(f"| {label} | {spread(values['ccrefine'])} | {spread(values['datatrove'])} | **{spread(ratios, 2)}** |")
    for side, side_runs in runs.items():
        print(f"{side}: set-up is {spread([100 * r['setup_cpu'] / r['total_cpu'] for r in side_runs])} % of its CPU")
    print_stages(runs, pages)
    print_agreement(runs["ccrefine"][0], runs["datatrove"][0], folder, blocklists)


def print_stages(runs: dict[str, list[dict]], pages: int) -> None:
    print("\n| # | ccrefine stage, ms per page (median) | datatrove step, ms per page (median) |\n|---|---|---|")
    names = {side: list(side_runs[0]["stage_s"]) for side, side_runs in runs.items()}
    for row in range(max(map(len, names.values()))):
        cells = []
        for side in ("ccrefine", "datatrove"):
            if row < len(names[side]):
                stage = names[side][row]
                milliseconds = statistics.median(r["stage_s"][stage] for r in runs[side]) * 1000 / pages
                cells.append(f"{stage} {milliseconds:.2f}")
            else:
                cells.append("")
        print(f"| {row + 1} | {cells[0]} | {cells[1]} |")


def print_agreement(ours: dict, theirs: dict, folder: Path, blocklists: list[str]) -> None:
    import datatrove_side

    kept_ours = {i for i, reason in ours["reasons"].items() if reason == "kept"}
    kept_theirs = {i for i, reason in theirs["reasons"].items() if reason == "kept"}
    differences = sorted(kept_ours ^ kept_theirs)
    explained, disagreements = {}, []
    pages = datatrove_side.pages_by_id(folder, set(differences))
    for record_id in differences:
        why = datatrove_side.deliberate_difference(record_id, ours["reasons"], theirs, pages.get(record_id))
        if why:
            explained[record_id] = why
        else:
            disagreements.append(record_id)
    counted_ours, counted_theirs = kept_ours - explained.keys(), kept_theirs - explained.keys()
    union = counted_ours | counted_theirs
    agreement = len(counted_ours & counted_theirs) / len(union) if union else 1.0
    raw_union = kept_ours | kept_theirs
    raw = len(kept_ours & kept_theirs) / len(raw_union) if raw_union else 1.0
    print(f"\nkept-set agreement on target-language pages: **{agreement:.1%}** ({len(counted_ours & counted_theirs)} "
          f"both, {len(counted_ours - counted_theirs)} only ccrefine, {len(counted_theirs - counted_ours)} only "
          f"datatrove; {raw:.1%} with every difference counted)")
    grouped = Counter(("ccrefine" if record_id in kept_ours else "datatrove", _url(pages, record_id), why)
                      for record_id, why in explained.items())
    for (side, url, why), records in grouped.items():
        print(f"  deliberate, kept by {side} only ({records} record(s)): {url}: {why}")
    for record_id in disagreements:
        page = pages.get(record_id)
        their_reason = (datatrove_side.datatrove_reason(page, blocklists, EXTRACT_TIMEOUT_S) if page
                        else theirs["reasons"].get(record_id))
        print(f"  disagreement: {_url(pages, record_id)}: ccrefine {ours['reasons'].get(record_id, 'not read')}, "
              f"datatrove {their_reason}")


def _url(pages: dict, record_id: str) -> str:
    return pages[record_id].url[:70] if record_id in pages else record_id


def versions() -> str:
    from importlib.metadata import version

    names = ["datatrove", "trafilatura", "fasttext-numpy2-wheel", "spacy", "numpy", "apache-beam"]
    return ", ".join(f"{name} {version(name)}" for name in names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPOSITORY.parent / "shared" / "data")
    parser.add_argument("--input", nargs="+", default=["mix", "english"], choices=["mix", "english"])
    parser.add_argument("--pages", type=int, default=1200, help="HTML pages per input (default 1200)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--recipe", default="fineweb")
    parser.add_argument("--side", choices=["ccrefine", "datatrove"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--blocklists", nargs="*", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        run = run_ccrefine if args.side == "ccrefine" else run_datatrove
        result = run(args.folder, args.recipe, args.blocklists) if args.side == "ccrefine" else run(
            args.folder, args.blocklists)
        args.json.write_text(json.dumps(result))
        return
    work = Path(tempfile.mkdtemp(prefix="ccrefine-compare-"))
    try:
        blocklists = url_list_files(work)
        print(f"versions: {versions()}; python {sys.version.split()[0]}; {load_average()}")
        for kind in args.input:
            folder = build_input(kind, work, args.shared, args.pages)
            compare(kind, folder, args.recipe, blocklists, args.reps)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
