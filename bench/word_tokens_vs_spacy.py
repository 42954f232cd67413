"""How closely `transforms.text.word_tokens` reproduces spaCy's blank English tokenizer, and what that does to the
FineWeb-counting filters, on real text.

    python bench/word_tokens_vs_spacy.py [--shared ../shared/data]

Run it where spaCy 3.8 and datatrove 0.10.1 are importable (the bench extra); it installs nothing. Documents: the
main text of every HTML page in the WARC fixtures (trafilatura, ccrefine's settings, this interpreter's version)
and the English files of shared/data/text cut into blocks of 100 lines (blank blocks left out). It reports:
- the special-case table against `spacy.blank("en").tokenizer.rules`, entry by entry;
- token sequences of `--random` short random strings of letters, digits, punctuation, symbols, abbreviations
  and URL pieces (seed 0), where the affix rules meet in every order;
- documents whose token sequence is identical to spaCy's (whitespace tokens dropped, as datatrove does), and
  tokens that differ (spaCy's tokens not aligned with an equal token of ours);
- lines whose sentence count equals spaCy's sentencizer's (datatrove's C4 sentence count);
- per-document statistics the filters use, from our tokens and from spaCy's: the largest difference;
- keep/drop decisions of ccrefine's `counting: fineweb` steps against datatrove's filters, each filter on the
  same text;
- milliseconds per page for spaCy's tokenizer and for ours (a fresh process's chunk cache: the first page pays
  for every new chunk), and for the four filters on each side on the same text (ours run after the tokenizer
  timing, so their chunk cache is warm: a new page pays the tokenizer time above once on top).
"""

from __future__ import annotations

import argparse
import difflib
import random
import time
from dataclasses import replace
from pathlib import Path

from ccrefine.transforms.filters.c4_fineweb import C4Options, C4Step, FineWebOptions, FineWebStep
from ccrefine.transforms.filters.gopher import (
    QualityOptions,
    QualityStep,
    RepetitionOptions,
    RepetitionStep,
    quality_scores,
    repetition_scores,
)
from ccrefine.transforms.records import Document, Page
from ccrefine.transforms.text.counting import FINEWEB, Counting
from ccrefine.transforms.text.languages import ENGLISH_STOP_WORDS
from ccrefine.transforms.text.tokenizers import WordTokenizer
from ccrefine.transforms.text.units import TextUnits
from ccrefine.transforms.text.word_token_exceptions import EXCEPTIONS
from ccrefine.transforms.text.word_tokens import sentence_count, word_tokens

BLOCK_LINES = 100


def documents(shared: Path) -> list[tuple[str, str]]:
    from ccrefine.transforms.read.crawl import read_crawl_file
    from ccrefine.transforms.read.extract import ExtractOptions, extract_main_text

    found, seen = [], set()
    for archive in sorted((shared / "warc").glob("*.gz")):
        with archive.open("rb") as stream:
            for record in read_crawl_file(stream, str(archive)):
                if isinstance(record, Page) and record.id not in seen:
                    seen.add(record.id)
                    text = record.text if record.html is None else extract_main_text(
                        record.html, record.url, ExtractOptions())
                    if text:
                        found.append((f"page {record.url}", text))
    for path in sorted((shared / "text").glob("*.txt")):
        if path.name.startswith(("LICENSE", "zh_")):
            continue
        lines = path.read_text(encoding="utf-8").split("\n")
        blocks = ((f"{path.name}:{i + 1}", "\n".join(lines[i : i + BLOCK_LINES])) for i in range(0, len(lines),
                                                                                                 BLOCK_LINES))
        found += [(name, text) for name, text in blocks if text.strip()]
    return found


def random_strings(count: int, seed: int = 0) -> list[str]:
    """Short strings mixing letters, digits, punctuation, symbols, abbreviations, URLs and whitespace."""
    pieces = (list("aAzZéßяЖ中019.,;:!?'\"’“”()[]{}<>-–—/\\@#$%^&*+=_~`|…°²§€£😀🥱©ಠ \t")
              + ["  ", "US$", "km", "Mr.", "e.g.", "don't", "http://", "www.", ".com", "'s", "n't", "...", "--", ":)",
                 "pm", "U.S.", "\xa0"])
    generator = random.Random(seed)
    return ["".join(generator.choice(pieces) for _ in range(generator.randint(1, 12))) for _ in range(count)]


def spacy_tokens(nlp, text: str) -> list[str]:
    return [token.text.strip() for token in nlp.tokenizer(text) if token.text.strip()]


def special_cases(nlp) -> dict[str, tuple[str, ...]]:
    """spaCy's special-case table: string -> its tokens."""
    return {key: tuple(token[65] for token in value) for key, value in nlp.tokenizer.rules.items()}  # 65: ORTH


def spacy_sentence_count(sentencizer, line: str) -> int:
    return len(list(sentencizer(line).sents))


class SpacyTokenizer(WordTokenizer):
    """spaCy itself behind the tokenizer interface, for the same rules counted over its tokens."""

    name = "spacy"

    def __init__(self, nlp):
        self.nlp = nlp

    def tokens(self, text: str) -> list[str]:
        return spacy_tokens(self.nlp, text)


def statistics(text: str, counting: Counting) -> dict[str, float]:
    units = TextUnits(text, "en")
    scores = quality_scores(units, ENGLISH_STOP_WORDS, counting)
    scores.update(repetition_scores(units, counting))
    scores["fineweb.newlines_per_word"] = text.count("\n") / max(1, len(counting.tokens(units)))
    return scores


def decisions(text: str, datatrove_filters: dict, seconds: list[float]) -> dict[str, tuple[bool, bool]]:
    """filter -> (ccrefine keeps, datatrove keeps), each filter on the same text; adds the time each side
    spent to `seconds` ([ccrefine, datatrove])."""
    from datatrove.data import Document as DatatroveDocument

    ours = {
        "repetition": RepetitionStep(RepetitionOptions(counting="fineweb")),
        "quality": QualityStep(QualityOptions(counting="fineweb")),
        "c4": C4Step(C4Options(counting="fineweb", require_terminal_punctuation=False)),
        "fineweb": FineWebStep(FineWebOptions(counting="fineweb", max_duplicate_line_chars_fraction=0.01)),
    }
    outcome = {}
    for name, step in ours.items():
        started = time.perf_counter()
        verdict = step.judge(Document(id="d", url="", date="", dump="", text=text, lang="en"))
        seconds[0] += time.perf_counter() - started
        started = time.perf_counter()
        theirs = datatrove_filters[name].filter(DatatroveDocument(text=text, id="d"))
        seconds[1] += time.perf_counter() - started
        outcome[name] = (verdict.reason is None, (theirs[0] if isinstance(theirs, tuple) else theirs) is True)
    return outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--random", type=int, default=100_000, help="random strings to compare as well")
    args = parser.parse_args()
    import spacy
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    nlp = spacy.blank("en")
    spacy_counting = replace(FINEWEB, tokenizer=SpacyTokenizer(nlp))
    sentencizer = spacy.blank("en")
    sentencizer.add_pipe("sentencizer")
    rules = special_cases(nlp)
    same_rules = sum(EXCEPTIONS.get(key) == value for key, value in rules.items())
    print(f"spaCy {spacy.__version__}: special cases identical {same_rules} of {len(rules)} "
          f"(ours: {len(EXCEPTIONS)})")

    strings = random_strings(args.random)
    differing_strings = [text for text in strings if word_tokens(text) != spacy_tokens(nlp, text)]
    print(f"random strings: token sequences identical for {len(strings) - len(differing_strings)} of {len(strings)}"
          + "".join(f"\n  differs: {text!r}: spaCy {spacy_tokens(nlp, text)}, ours {word_tokens(text)}"
                    for text in differing_strings[:10]))

    docs = documents(args.shared)
    pages = sum(name.startswith("page ") for name, _ in docs)
    print(f"{len(docs)} documents: {pages} fixture pages, {len(docs) - pages} blocks of {BLOCK_LINES} lines")
    datatrove_filters = {"repetition": GopherRepetitionFilter(), "quality": GopherQualityFilter(),
                         "c4": C4QualityFilter(filter_no_terminal_punct=False), "fineweb": FineWebQualityFilter()}
    identical = spacy_total = differing = lines = same_sentences = 0
    largest: dict[str, tuple[float, str]] = {}
    agree: dict[str, list[int]] = {}
    page_seconds = [[0.0] for _ in range(4)]  # spaCy tokenizer, ours, our four steps, datatrove's four filters
    for name, text in docs:
        started = time.perf_counter()
        theirs = spacy_tokens(nlp, text)
        spacy_seconds = time.perf_counter() - started
        started = time.perf_counter()
        ours = word_tokens(text)
        our_seconds = time.perf_counter() - started
        spacy_total += len(theirs)
        if ours == theirs:
            identical += 1
        else:
            matcher = difflib.SequenceMatcher(a=theirs, b=ours, autojunk=False)
            differing += len(theirs) - sum(block.size for block in matcher.get_matching_blocks())
            print(f"  differs: {name}")
        for line in filter(None, (line.strip() for line in text.splitlines())):
            lines += 1
            same_sentences += sentence_count(line) == spacy_sentence_count(sentencizer, line)
        our_stats, spacy_stats = statistics(text, FINEWEB), statistics(text, spacy_counting)
        for key, value in our_stats.items():
            gap = abs(value - spacy_stats[key])
            if gap >= largest.get(key, (0.0, ""))[0]:
                largest[key] = (gap, name)
        filter_seconds = [0.0, 0.0]
        for filter_name, (we_keep, they_keep) in decisions(text, datatrove_filters, filter_seconds).items():
            counts = agree.setdefault(filter_name, [0, 0])
            counts[0] += we_keep == they_keep
            counts[1] += 1
            if we_keep != they_keep:
                print(f"  {filter_name} decides differently: {name} (ccrefine keeps: {we_keep})")
        if name.startswith("page "):
            for total, seconds in zip(page_seconds, (spacy_seconds, our_seconds, *filter_seconds), strict=True):
                total[0] += seconds
    print(f"token sequences identical to spaCy's: {identical} of {len(docs)} documents ({identical / len(docs):.1%}); "
          f"tokens differing: {differing} of {spacy_total} ({differing / max(1, spacy_total):.4%})")
    print(f"sentence counts identical to spaCy's sentencizer: {same_sentences} of {lines} lines")
    differing_stats = [f"{key} {gap:.4g} ({name})" for key, (gap, name) in sorted(largest.items()) if gap]
    print(f"per-document statistics from our tokens against spaCy's ({len(largest)}: {', '.join(sorted(largest))}): "
          + (f"largest differences {'; '.join(differing_stats)}" if differing_stats else "all identical"))
    print("decisions identical to datatrove's filters: " + ", ".join(
        f"{name} {same}/{total}" for name, (same, total) in agree.items()))
    spacy_ms, ours_ms, steps_ms, filters_ms = (total[0] * 1000 / pages for total in page_seconds)
    print(f"ms per fixture page ({pages} pages): tokenizing: spaCy {spacy_ms:.1f}, ours {ours_ms:.2f}; "
          f"repetition + quality + C4 + FineWeb on the page's text: datatrove {filters_ms:.1f}, "
          f"ccrefine (counting: fineweb) {steps_ms:.1f}")


if __name__ == "__main__":
    main()
