"""Chinese web pages as they are (issue 15): what the `zh` and `fineweb2-zh` recipes keep of real Chinese
articles and forum threads, how much constructed spam they remove, extraction quality against magic-html's
hand-made answers, the cost of each stage per document, a Chinese quality classifier trained and judged on
separate splits, the pre-extraction language skip's speed-up on a Common-Crawl-like language mix (Chinese 5% of
pages) with the target pages it loses, and the same figures for datatrove's FineWeb-2-style Chinese pipeline
where it can run.

    python bench/chinese_web.py [--shared ../shared/data] [--datatrove-python /path/to/venv/bin/python]
        [--mixed-pages 1200]

Real pages and spam come from bench/chinese_pages.py. Thresholds were tuned on the `tune` split and the
spam built with seed 15; figures are given for the `report` split and for spam built with another seed (2026)
from the same patterns, so they are not the pages the thresholds were chosen on. Stages run one document at a
time in this process (the Beam stages call the same `Step`s), extraction in the guarded trafilatura process.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ccrefine.pipelines.recipe import load_recipe  # noqa: E402
from ccrefine.transforms.records import Page  # noqa: E402
from chinese_pages import ZhPage, real_pages, spam_pages  # noqa: E402

RECIPES = ("zh", "fineweb2-zh")
REPORT_SPAM_SEED = 2026
# FineWeb-2's cmn_Hani.yml and the README's global changes, for datatrove's own filters.
CMN_HANI = Path("zh", "configs", "fineweb2", "configs", "cmn_Hani.yml")


def shingle_f1(extracted: str, answer: str, n: int = 4) -> float:
    """F1 of character n-gram shingles (whitespace removed, counted with multiplicity)."""
    a, b = ("".join(text.split()) for text in (extracted or "", answer))
    got = Counter(a[i : i + n] for i in range(len(a) - n + 1))
    want = Counter(b[i : i + n] for i in range(len(b) - n + 1))
    common = sum((got & want).values())
    if not common:
        return 0.0
    precision, recall = common / sum(got.values()), common / sum(want.values())
    return 2 * precision * recall / (precision + recall)


class RecipeRunner:
    """A recipe's stages as Steps, run on one page at a time, with the time spent in each stage."""

    def __init__(self, name: str):
        self.steps = []
        for spec in load_recipe(name).stages:
            step = spec.transform().step
            step.setup()
            self.steps.append(step)
        self.seconds: Counter[str] = Counter()
        self.entered: Counter[str] = Counter()

    def run(self, page: ZhPage) -> tuple[str | None, str]:
        """(stage.reason or None, text that came out)."""
        record = Page(page.name, page.url, "", "", "text/html", "utf-8", page.html, None, page.name, 0)
        for step in self.steps:
            self.entered[step.stage] += 1
            start = time.perf_counter()
            verdict = step.judge(record)
            self.seconds[step.stage] += time.perf_counter() - start
            if verdict.reason:
                return f"{step.stage}.{verdict.reason}", getattr(verdict.document, "text", "") or ""
            record = verdict.document
        return None, record.text

    def close(self) -> None:
        for step in self.steps:
            step.teardown()

    def cost_ms(self) -> dict[str, float]:
        return {stage: 1000 * self.seconds[stage] / self.entered[stage] for stage in self.entered}


def _kept_table(outcomes: dict[str, tuple[str | None, str]], pages: list[ZhPage]) -> dict[str, dict]:
    table = defaultdict(lambda: {"pages": 0, "kept": 0, "reasons": Counter()})
    for page in pages:
        for key in (f"{page.split}/{page.kind}", f"all/{page.kind}"):
            row = table[key]
            row["pages"] += 1
            reason = outcomes[page.name][0]
            row["kept"] += reason is None
            if reason:
                row["reasons"][reason] += 1
    return table


def _spam_table(outcomes, pages: list[ZhPage]) -> tuple[int, int, Counter, Counter]:
    removed = sum(outcomes[p.name][0] is not None for p in pages)
    kept_by_pattern = Counter(p.kind for p in pages if outcomes[p.name][0] is None)
    reasons = Counter(outcomes[p.name][0] for p in pages if outcomes[p.name][0])
    return removed, len(pages), kept_by_pattern, reasons


def _print_recipe(name: str, outcomes, real: list[ZhPage], spam: list[ZhPage], cost: dict[str, float]) -> None:
    table = _kept_table(outcomes, real)
    print(f"\n== {name}")
    for key in sorted(table):
        row = table[key]
        top = ", ".join(f"{r} {c}" for r, c in row["reasons"].most_common(4))
        print(f"  kept {key:20} {row['kept']:3d}/{row['pages']:3d} = {row['kept'] / row['pages']:6.1%}   {top}")
    removed, total, kept_by_pattern, reasons = _spam_table(outcomes, spam)
    print(f"  constructed spam removed (seed {REPORT_SPAM_SEED}): {removed}/{total} = {removed / total:.1%}; "
          f"kept: {dict(kept_by_pattern) or 'none'}")
    print(f"  spam removed by: {', '.join(f'{r} {c}' for r, c in reasons.most_common(8))}")
    print("  cost per document entering the stage (ms, wall): "
          + ", ".join(f"{stage} {ms:.2f}" for stage, ms in cost.items()))


def _extraction_f1(outcomes_text: dict[str, str], real: list[ZhPage]) -> None:
    for split in ("report", "all"):
        for kind in ("article", "forum"):
            scores = [shingle_f1(outcomes_text[p.name], p.answer) for p in real
                      if p.answer and p.kind == kind and (split == "all" or p.split == split)]
            print(f"  extraction F1 (char 4-gram shingles) vs magic-html answers, {split}/{kind}: "
                  f"mean {sum(scores) / len(scores):.3f} over {len(scores)} pages")


def _classifier(shared: Path, real: list[ZhPage], tune_spam, report_spam, extracted: dict[str, str]) -> None:
    """Train a zh classifier on the tune split; score the report split's articles and spam."""
    import trafilatura
    from ccrefine.transforms.filters.quality_classifier import ClassifierOptions, ClassifierStep, train_classifier

    text = shared / "text"
    positives = [p.answer for p in real if p.answer and p.split == "tune" and p.kind == "article"]
    positives += [extracted[p.name] for p in real if p.name.startswith("gne/") and p.split == "tune"
                  and p.kind == "article" and extracted.get(p.name)]
    positives += [(text / name).read_text(encoding="utf-8") for name in ("zh_gsdsimp_wikipedia.dev.txt",
                                                                         "zh_pud_news_wiki.txt")]
    negatives = [trafilatura.html2txt(p.html) or "" for p in real if p.split == "tune"]  # raw page text
    negatives += [extracted[p.name] for p in tune_spam if extracted.get(p.name)]
    with tempfile.TemporaryDirectory() as folder:
        model = os.path.join(folder, "zh_quality.bin")
        report = train_classifier(positives, negatives, model, lang="zh")
        step = ClassifierStep(ClassifierOptions(model_path=model))
        step.setup()
        articles = [step.score(extracted[p.name], "zh") for p in real
                    if p.split == "report" and p.kind == "article" and extracted.get(p.name)]
        spam = [step.score(extracted[p.name], "zh") for p in report_spam if extracted.get(p.name)]
    print(f"\n== zh quality classifier (fastText on jieba words): held-out accuracy {report['accuracy']:.3f} "
          f"({report['train_examples']} training blocks)")
    print(f"  report split: articles with P(reference) >= 0.5: {sum(s >= 0.5 for s in articles)}/{len(articles)}; "
          f"spam pages (seed {REPORT_SPAM_SEED}) below 0.5: {sum(s < 0.5 for s in spam)}/{len(spam)}")


def _datatrove(python: str, shared: Path, pages: list[ZhPage], lid_kept: set[str]) -> dict | None:
    """Run datatrove's FineWeb-2 cmn_Hani filters in `python`; None with the reason printed when it cannot."""
    with tempfile.TemporaryDirectory() as folder:
        request = Path(folder, "pages.json")
        request.write_text(json.dumps([{"id": p.name, "html": p.html, "lid": p.name in lid_kept} for p in pages]),
                           encoding="utf-8")
        done = subprocess.run([python, __file__, "--datatrove-worker", str(request), str(shared / CMN_HANI)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            print(f"\n== datatrove: could not run with {python}: {done.stderr.strip().splitlines()[-1:]}")
            return None
        return json.loads(Path(folder, "pages.json.out").read_text(encoding="utf-8"))


def datatrove_worker(request: str, config_path: str) -> None:
    """In an interpreter with datatrove 0.10.1: Trafilatura, then GopherRepetition, FineWebQuality and
    GopherQuality with cmn_Hani.yml's values and the README's global changes; the language gate is ccrefine's
    lid.176 decision at 0.692 (datatrove's GlotLID / lid.176 filters download their model, not possible here)."""
    import yaml
    from datatrove.data import Document as DtDocument
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.filters import FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter

    config = yaml.safe_load(Path(config_path).read_text(encoding="utf-8"))
    # datatrove 0.10.1 maps "zh" to spaCy's multi-language tokenizer (no segmentation); "cmn_Hani" to jieba.
    language = "cmn_Hani"
    steps = [
        ("extract", Trafilatura(favour_precision=True, timeout=5.0)),
        ("repetition", GopherRepetitionFilter(
            dup_line_frac=config["dup_line_frac"], dup_para_frac=1.0, dup_para_char_frac=1.0,
            top_n_grams=[tuple(x) for x in config["top_n_grams"]],
            dup_n_grams=[tuple(x) for x in config["dup_n_grams"]], language=language)),
        ("fineweb", FineWebQualityFilter(
            line_punct_thr=config["line_punct_thr"], short_line_thr=1.0, char_duplicates_ratio=0.1,
            new_line_ratio=config["new_line_ratio"], language=language)),
        ("quality", GopherQualityFilter(
            min_avg_word_length=config["min_avg_word_length"], max_avg_word_length=config["max_avg_word_length"],
            max_non_alpha_words_ratio=config["max_non_alpha_words_ratio"], stop_words=config["stopwords"],
            language=language)),
    ]
    seconds, entered, results = Counter(), Counter(), {}
    for row in json.loads(Path(request).read_text(encoding="utf-8")):
        document = DtDocument(text=row["html"], id=row["id"])
        reason = None
        for stage, step in steps:
            if stage == "repetition" and not row["lid"]:
                reason = "language.not_zh_0.692"
                break
            entered[stage] += 1
            start = time.perf_counter()
            if stage == "extract":
                document.text = step.extract(document.text) or ""
                verdict = bool(document.text.strip()) or (False, "empty")
            else:
                verdict = step.filter(document)
            seconds[stage] += time.perf_counter() - start
            if verdict is not True:
                reason = f"{stage}.{verdict[1] if isinstance(verdict, tuple) else 'dropped'}"
                break
        results[row["id"]] = [reason, document.text]
    cost = {stage: 1000 * seconds[stage] / entered[stage] for stage in entered}
    Path(request + ".out").write_text(json.dumps({"outcomes": results, "cost": cost}), encoding="utf-8")


def _datatrove_python(option: str | None) -> str | None:
    if option:
        return option
    probe = subprocess.run([sys.executable, "-c", "import datatrove, spacy"], capture_output=True)
    return sys.executable if probe.returncode == 0 else None


def _mixed_speed(shared: Path, pages: int) -> None:
    """The zh recipe with and without its pre-extraction language skip on the Common-Crawl-like mix (Chinese 5% of
    pages): CPU per page and the target pages lost, as bench/prefilter_language.py measures them."""
    import prefilter_language
    from mixed_input import mixed_pages, write_warcs

    folder = Path(tempfile.mkdtemp(prefix="ccrefine-zh-mix-"))
    try:
        paths = write_warcs(mixed_pages(shared, pages), folder, "mixed")
        prefilter_language.compare(f"language mix ({pages} pages)", paths,
                                   prefilter_language.patient(load_recipe("zh")), reps=3)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--datatrove-python", help="an interpreter with datatrove[processing]==0.10.1 and spacy "
                        "(default: this one, when it has them)")
    parser.add_argument("--datatrove-worker", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--mixed-pages", type=int, default=1200,
                        help="pages in the language mix for the pre-extraction skip's speed-up (0: leave it out)")
    args = parser.parse_args()
    if args.datatrove_worker:
        datatrove_worker(*args.datatrove_worker)
        return
    real = real_pages(args.shared)
    tune_spam = spam_pages(args.shared)
    report_spam = spam_pages(args.shared, seed=REPORT_SPAM_SEED)
    with open("/proc/loadavg") as handle:
        load = handle.read().split()[:3]
    print(f"{len(real)} real pages ({Counter(p.kind for p in real)}), split {Counter(p.split for p in real)}; "
          f"{len(report_spam)} spam pages; load average {' '.join(load)} on {os.cpu_count()} cores")
    everything = real + report_spam
    extracted: dict[str, str] = {}
    lid_kept: set[str] = set()
    for name in RECIPES:
        runner = RecipeRunner(name)
        outcomes = {page.name: runner.run(page) for page in everything}
        runner.close()
        _print_recipe(name, outcomes, real, report_spam, runner.cost_ms())
        if name == "fineweb2-zh":
            lid_kept = {n for n, (reason, _) in outcomes.items()
                        if not (reason or "").startswith(("extract.", "language.", "url"))}
    extractor = RecipeRunner("raw")  # extraction only: the text every recipe's later stages start from
    for page in everything + tune_spam:
        extracted[page.name] = extractor.run(page)[1]
    extractor.close()
    print()
    _extraction_f1(extracted, real)
    _classifier(args.shared, real, tune_spam, report_spam, extracted)
    if args.mixed_pages:
        _mixed_speed(args.shared, args.mixed_pages)
    python = _datatrove_python(args.datatrove_python)
    if python is None:
        print("\n== datatrove: not installed here (pip install 'datatrove[processing]==0.10.1' spacy, or pass "
              "--datatrove-python); column skipped")
        return
    result = _datatrove(python, args.shared, everything, lid_kept)
    if result is not None:
        outcomes = {name: tuple(value) for name, value in result["outcomes"].items()}
        _print_recipe("datatrove 0.10.1, FineWeb-2 cmn_Hani filters (language gate: ccrefine lid.176 >= 0.692)",
                      outcomes, real, report_spam, result["cost"])
        _extraction_f1({name: text for name, (_, text) in outcomes.items()}, real)


if __name__ == "__main__":
    main()
