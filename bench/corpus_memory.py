"""Peak memory of `ccrefine corpus` against the size of its input (issue 19): constant, since every archive
streams into its own files.

Synthetic WARC files of 2,000 pages each are built from real page templates (the HTML responses of the shared
WARC fixtures: their head and boilerplate are kept, an article is put first in the body) and real text (the
shared English text files, a window of consecutive lines per page). `ccrefine corpus` then runs on 1, 5, 20, ...
files with the default runner (the multi-process DirectRunner, one worker per core), and the peak RSS summed
over the whole process tree (the launcher and every SDK worker) is sampled twice a second.

    python bench/corpus_memory.py --pages 2000 10000 40000 [--workers N]
"""

from __future__ import annotations

import argparse
import html
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data"
PAGES_PER_FILE = 2000
TEXTS = ["en_ewt_web.dev.txt", "en_ewt_web.test.txt", "en_pud_news_wiki.txt", "gutenberg_972_devils_dictionary.txt",
         "wikitext2.test.tokens.txt", "wikitext2.valid.tokens.txt"]


def page_templates() -> list[str]:
    """The HTML of every text/html response in the shared WARC fixtures."""
    from warcio.archiveiterator import ArchiveIterator

    templates = []
    for archive in sorted((SHARED / "warc").glob("dolma_sample-*.warc.gz")):
        with archive.open("rb") as stream:
            for record in ArchiveIterator(stream):
                content_type = record.http_headers.get_header("Content-Type", "") if record.http_headers else ""
                if record.rec_type == "response" and "html" in content_type:
                    templates.append(record.content_stream().read().decode("utf-8", errors="replace"))
    return templates


def text_lines() -> list[str]:
    lines = []
    for name in TEXTS:
        lines += [line.strip() for line in (SHARED / "text" / name).read_text(encoding="utf-8").splitlines()
                  if len(line.split()) >= 6 and not line.strip().startswith("=")]
    return lines


def page_html(template: str, lines: list[str], rng: random.Random) -> str:
    start = rng.randrange(len(lines) - 60)
    window = lines[start:start + rng.randint(15, 50)]
    article = (f"<article><h1>{html.escape(window[0][:80])}</h1>"
               + "".join(f"<p>{html.escape(' '.join(window[i:i + 3]))}</p>" for i in range(1, len(window), 3))
               + "</article>")
    body = re.search(r"<body[^>]*>", template, re.IGNORECASE)
    at = body.end() if body else 0
    return template[:at] + article + template[at:]


def write_warc(path: Path, first_page: int, templates: list[str], lines: list[str]) -> None:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    rng = random.Random(first_page)
    with path.open("wb") as stream:
        writer = WARCWriter(stream, gzip=True)
        for number in range(first_page, first_page + PAGES_PER_FILE):
            payload = page_html(rng.choice(templates), lines, rng).encode()
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                                  ("Content-Length", str(len(payload)))], protocol="HTTP/1.1")
            url = f"https://site{number % 997}.example.org/articles/{number}.html"
            record = writer.create_warc_record(url, "response", payload=io.BytesIO(payload), http_headers=headers)
            writer.write_record(record)


def build_inputs(folder: Path, files: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    templates, lines = page_templates(), text_lines()
    paths = []
    for index in range(files):
        path = folder / f"synthetic-{index:03d}.warc.gz"
        if not path.exists():
            write_warc(path, index * PAGES_PER_FILE, templates, lines)
        paths.append(path)
    return paths


def measure(command: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) summed over `command` and all its descendants."""
    import psutil

    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as log:
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        root, peak = psutil.Process(child.pid), 0
        while child.poll() is None:
            try:
                tree = [root, *root.children(recursive=True)]
                peak = max(peak, sum(process.memory_info().rss for process in tree))
            except psutil.Error:
                pass  # a process ended while the tree was read
            time.sleep(0.5)
        if child.returncode:
            log.seek(0)
            raise RuntimeError(log.read()[-3000:])
    return time.perf_counter() - started, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, nargs="+", default=[2000, 10000, 40000],
                        help="input sizes, multiples of 2,000 pages (default: 2000 10000 40000)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "ccrefine-corpus-memory")
    parser.add_argument("--workers", type=int, help="--direct_num_workers (default: the runner's, one per core)")
    parser.add_argument("--results", type=Path, help="append each row as JSON to this file")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f} at start")
    print("| pages | files | workers | wall | peak RSS, whole tree | documents kept |\n|---|---|---|---|---|---|")
    for pages in args.pages:
        files = build_inputs(args.work / "warc", pages // PAGES_PER_FILE)  # made as needed, reused
        label = f"{pages}-w{args.workers or 'default'}"
        selection = args.work / f"input-{label}"
        shutil.rmtree(selection, ignore_errors=True)
        selection.mkdir()
        for path in files:
            (selection / path.name).symlink_to(path)
        output = args.work / f"out-{label}"
        command = [sys.executable, "-m", "ccrefine.pipelines.cli", "corpus", "--input", str(selection / "*.warc.gz"),
                   "--output", str(output), "--overwrite"]
        if args.workers:
            command += ["--direct_num_workers", str(args.workers)]
        wall, peak = measure(command)
        stats = json.loads((output / "stats.json").read_text())
        row = {"pages": pages, "files": len(files), "workers": args.workers or os.cpu_count(),
               "wall_s": round(wall), "peak_rss_gib": round(peak / 2**30, 2),
               "documents": stats["documents_out"], "load": round(os.getloadavg()[0], 2)}
        print(f"| {pages:,} | {len(files)} | {row['workers']} | {wall:.0f} s | {peak / 2**30:.2f} GiB "
              f"| {stats['documents_out']:,} |", flush=True)
        if args.results:
            with args.results.open("a") as handle:
                handle.write(json.dumps(row) + "\n")
        shutil.rmtree(output)


if __name__ == "__main__":
    main()
