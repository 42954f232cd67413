"""Per-filter cost: milliseconds per document for each document step, on real text, one core.

    python bench/filters.py [--shared ../shared/data] [--repeat 5]

English documents: the pages of the dolma and Common Crawl WARC fixtures, extracted with trafilatura.
Chinese documents: 10-sentence documents from the UD Chinese treebanks. Each step is timed on its own
(`Step.judge` in a loop), after `setup()`, so model loading is not counted.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from ccrefine.transforms.filters.c4_fineweb import C4Step, FineWebStep
from ccrefine.transforms.filters.gopher import QualityStep, RepetitionStep
from ccrefine.transforms.filters.language import LanguageStep
from ccrefine.transforms.filters.line_corrections import LineCorrectionStep
from ccrefine.transforms.filters.perplexity import PerplexityOptions, PerplexityStep, train_kenlm
from ccrefine.transforms.filters.pii import PiiStep
from ccrefine.transforms.filters.quality_classifier import ClassifierOptions, ClassifierStep, train_classifier
from ccrefine.transforms.filters.url_filter import UrlFilterOptions, UrlFilterStep
from ccrefine.transforms.read.crawl import read_crawl_file
from ccrefine.transforms.read.extract import ExtractionStep
from ccrefine.transforms.records import Document, Page


def english_pages(shared: Path) -> list[Page]:
    pages = []
    for path in sorted((shared / "warc").glob("*.warc.gz")):
        with path.open("rb") as stream:
            pages += [item for item in read_crawl_file(stream, str(path)) if isinstance(item, Page) and item.html]
    return pages


def chinese_documents(shared: Path) -> list[Document]:
    lines = (shared / "text" / "zh_gsdsimp_wikipedia.dev.txt").read_text(encoding="utf-8").splitlines()
    return [Document(f"zh{i}", "https://zh.example.org/", "", "", "\n".join(lines[i : i + 10]), lang="zh")
            for i in range(0, len(lines) - 10, 10)]


def time_step(step, records, repeat: int) -> float:
    """Median over `repeat` passes of the mean milliseconds per record."""
    step.setup()
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        for record in records:
            step.judge(record)
        runs.append((time.perf_counter() - started) * 1000 / len(records))
    step.teardown()
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    pages = english_pages(args.shared)
    extraction = ExtractionStep()
    extraction.setup()
    english = [v.document.with_scores({}, lang="en") for v in map(extraction.judge, pages) if v.reason is None]
    extraction.teardown()
    chinese = chinese_documents(args.shared)
    work = Path(tempfile.mkdtemp())
    references = [(args.shared / "text" / n).read_text(encoding="utf-8")
                  for n in ("en_ewt_web.dev.txt", "en_pud_news_wiki.txt")]
    train_kenlm(references, "en", str(work / "en.arpa"), order=3)
    train_classifier(references, [d.text for d in english], str(work / "quality.bin"))

    steps = [
        ("url_filter", UrlFilterStep(UrlFilterOptions(blocklists=(
            str(args.shared / "blocklist" / "ut1_gambling" / "domains"),)))),
        ("language", LanguageStep()),
        ("repetition", RepetitionStep()),
        ("quality", QualityStep()),
        ("lines", LineCorrectionStep()),
        ("c4", C4Step()),
        ("fineweb", FineWebStep()),
        ("pii", PiiStep()),
        ("perplexity (3-gram)", PerplexityStep(PerplexityOptions(models={"en": str(work / "en.arpa")}))),
        ("classifier", ClassifierStep(ClassifierOptions(model_path=str(work / "quality.bin")))),
    ]
    mean_chars = statistics.mean(len(d.text) for d in english)
    print(f"{len(pages)} English pages (mean {mean_chars:.0f} characters of text), {len(chinese)} Chinese documents")
    print("| step | en ms/doc | zh ms/doc |\n|---|---|---|")
    print(f"| extract (trafilatura, guarded) | {time_step(ExtractionStep(), pages, 1):.2f} | - |")
    for name, step in steps:
        zh = time_step(step, [d.with_scores({}, lang="zh") for d in chinese], args.repeat)
        print(f"| {name} | {time_step(step, english, args.repeat):.2f} | {zh:.2f} |")


if __name__ == "__main__":
    main()
