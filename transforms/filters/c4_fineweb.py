"""The C4 rules (Raffel et al. 2020, §2.2) and the FineWeb quality rules (Penedo et al. 2024, §3.3).

C4 works line by line (it rewrites the text), then judges the page; FineWeb looks at line statistics
of the page as it is. Terminal punctuation includes the Chinese full stop, exclamation and question marks
and ellipsis, so these rules do not wipe out Chinese pages. With `counting: fineweb` both apply their rules
as FineWeb's datatrove code does (`transforms.filters.fineweb_counting`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ccrefine.transforms.filters import fineweb_counting
from ccrefine.transforms.records import Document
from ccrefine.transforms.step import ScoringStep, Step, Verdict
from ccrefine.transforms.text.units import TextUnits

TERMINAL_PUNCTUATION = (".", "!", "?", '"', "”", "'", "’", "。", "！", "？", "…", "」", "』", "）", ")")
_SENTENCE_END = re.compile(r"[.!?。！？…]+[\"'”’」』)）]*(?:\s|$)")
_POLICY = re.compile(r"terms of use|privacy policy|cookie policy|uses cookies|use of cookies|use cookies", re.I)


@dataclass(frozen=True)
class C4Options:
    require_terminal_punctuation: bool = True  # C4 keeps only lines ending in terminal punctuation
    min_words_per_line: int = 3
    min_sentences: int = 5
    max_word_length: int = 1000  # C4 drops lines with a "word" this long (minified code, base64)
    drop_javascript_lines: bool = True
    drop_policy_lines: bool = True
    drop_lorem_ipsum: bool = True
    drop_curly_bracket: bool = True  # C4: "{" signals code
    counting: str = "paper"  # or "fineweb": lines, citations and sentences as FineWeb's datatrove code treats them

    def __post_init__(self):
        fineweb_counting.check_counting(self.counting)
        for name in ("min_words_per_line", "min_sentences", "max_word_length"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


def c4_filter(text: str, lang: str, options: C4Options) -> tuple[str, str | None, dict[str, float]]:
    """(rewritten text, reason or None, scores)."""
    lowered = text.lower()
    if options.drop_lorem_ipsum and "lorem ipsum" in lowered:
        return text, "lorem_ipsum", {}
    if options.drop_curly_bracket and "{" in text:
        return text, "curly_bracket", {}
    kept = []
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    for line in lines:
        words = TextUnits(line, lang).words
        if options.require_terminal_punctuation and not line.endswith(TERMINAL_PUNCTUATION):
            continue
        if len(words) < options.min_words_per_line or any(len(w) > options.max_word_length for w in words):
            continue
        if options.drop_javascript_lines and "javascript" in line.lower():
            continue
        if options.drop_policy_lines and _POLICY.search(line):
            continue
        kept.append(line)
    rewritten = "\n".join(kept)
    sentences = len(_SENTENCE_END.findall(rewritten))
    scores = {"c4.lines_removed_frac": 1 - len(kept) / len(lines) if lines else 0.0, "c4.sentences": float(sentences)}
    if sentences < options.min_sentences:
        return rewritten, "too_few_sentences", scores
    return rewritten, None, scores


@dataclass(frozen=True)
class FineWebOptions:
    min_punctuated_lines_fraction: float = 0.12  # FineWeb: drop when fewer lines end in punctuation
    max_short_lines_fraction: float = 0.67  # lines of <= short_line_chars characters
    short_line_chars: int = 30
    # FineWeb's paper says 0.1, its released datatrove config uses 0.01: both appear in public sources.
    max_duplicate_line_chars_fraction: float = 0.1
    max_newlines_per_word: float = 0.3
    counting: str = "paper"  # or "fineweb": unstripped lines, Unicode terminators, newlines per spaCy token

    def __post_init__(self):
        fineweb_counting.check_counting(self.counting)
        for name in ("min_punctuated_lines_fraction", "max_short_lines_fraction", "max_duplicate_line_chars_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {getattr(self, name)}")
        if self.short_line_chars < 0 or self.max_newlines_per_word < 0:
            raise ValueError(f"short_line_chars and max_newlines_per_word must be >= 0, got {self.short_line_chars} "
                             f"and {self.max_newlines_per_word}")


def fineweb_scores(units: TextUnits, options: FineWebOptions) -> dict[str, float]:
    lines = units.lines
    seen: set[str] = set()
    duplicate_chars = 0
    for line in lines:
        if line in seen:
            duplicate_chars += len(line)
        seen.add(line)
    total_chars = sum(map(len, lines))
    n_lines = max(1, len(lines))
    return {
        "fineweb.punctuated_lines_frac": sum(line.endswith(TERMINAL_PUNCTUATION) for line in lines) / n_lines,
        "fineweb.short_lines_frac": sum(len(line) <= options.short_line_chars for line in lines) / n_lines,
        "fineweb.dup_line_chars_frac": duplicate_chars / max(1, total_chars),
        "fineweb.newlines_per_word": units.text.count("\n") / max(1, len(units.words)),
    }


def decide_fineweb(scores: dict[str, float], options: FineWebOptions) -> str | None:
    if scores["fineweb.punctuated_lines_frac"] < options.min_punctuated_lines_fraction:
        return "few_punctuated_lines"
    if scores["fineweb.short_lines_frac"] > options.max_short_lines_fraction:
        return "short_lines"
    if scores["fineweb.dup_line_chars_frac"] > options.max_duplicate_line_chars_fraction:
        return "duplicate_line_chars"
    if scores["fineweb.newlines_per_word"] > options.max_newlines_per_word:
        return "newlines_per_word"
    return None


class C4Step(Step):
    stage = "c4"

    def __init__(self, options: C4Options = C4Options()):
        self.options = options

    def judge(self, document: Document) -> Verdict:
        if self.options.counting == "fineweb":
            rewritten, reason, scores = fineweb_counting.c4_filter(document.text, self.options)
        else:
            rewritten, reason, scores = c4_filter(document.text, document.lang, self.options)
        if reason is not None:
            return Verdict(document.with_scores(scores), reason)
        return Verdict(document.with_scores(scores, text=rewritten))


class FineWebStep(ScoringStep):
    stage = "fineweb"

    def __init__(self, options: FineWebOptions = FineWebOptions()):
        super().__init__(options)

    def score(self, units: TextUnits) -> dict[str, float]:
        if self.options.counting == "fineweb":
            return fineweb_counting.fineweb_scores(units, self.options)
        return fineweb_scores(units, self.options)

    def decide(self, scores: dict[str, float], lang: str) -> str | None:
        return decide_fineweb(scores, self.options)
