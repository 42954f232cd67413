"""A cheap language check before full extraction: pages confidently outside the recipe's languages skip trafilatura.

trafilatura costs 25-50 ms a page; resiliparse's plain-text extraction (lexbor in C++) and fastText cost a few.
A page is dropped here only when the same lid.176 model the language stage uses is sure it is in another
language, on the whole page and line by line: its top label is not a target language with probability
>= `min_other_score`, the target languages together get <= `max_target_score`, AND the lines whose own top
label is a target language hold <= `max_target_chars` characters. The line check keeps an English article
inside menus and footers in another language (the whole page reads as that language; the article is what
trafilatura extracts). Everything else, including pages with too little text to judge, goes on to full
extraction, where the language stage decides as before. The defaults were measured on a Common-Crawl-like
language mix (bench/prefilter_language.py, bench/RESULTS.md), where they lose no page the language stage keeps.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from ccrefine.transforms.filters.language import ALL_LANGUAGES, LanguageIdentifier, shared_identifier
from ccrefine.transforms.records import Page
from ccrefine.transforms.step import Step, Verdict

_SHORT_LINE = 20  # characters: shorter lines (menus, buttons) are judged as a run, each alone says little


@dataclass(frozen=True)
class PrefilterOptions:
    languages: tuple[str, ...] | None = None  # None: the identify_language stage's languages (a recipe fills it)
    min_other_score: float = 0.65  # the top, non-target label's probability must reach this (the language stage's)
    max_target_score: float = 0.01  # ...the target languages' summed probability stay at or below this...
    max_target_chars: int = 100  # ...and the lines labelled with a target language hold at most this many characters
    min_chars: int = 100  # shorter plain text is too little to judge: the page goes on to extraction
    main_content: bool = False  # resiliparse's boilerplate removal; off: it hid whole English articles (RESULTS.md)
    model_path: str | None = None  # None: the identify_language stage's model (a recipe fills it)

    def __post_init__(self):
        if self.languages is not None and (not self.languages or ALL_LANGUAGES in self.languages):
            raise ValueError("languages must name the codes the recipe keeps; a recipe that keeps all languages "
                             "has nothing to skip: remove prefilter_language from it")
        for name in ("min_other_score", "max_target_score"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {getattr(self, name)}")
        for name in ("max_target_chars", "min_chars"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 or more, got {getattr(self, name)}")
        if self.model_path is not None and not os.path.exists(self.model_path):
            raise ValueError(f"model_path {self.model_path} does not exist; omit it to use the language stage's")


def other_language(chars: int, distribution: dict[str, float], targets: frozenset[str], options: PrefilterOptions,
                   target_line_chars: Callable[[], int]) -> str | None:
    """The detected language when a page is confidently in none of `targets`, else None (it goes on to full
    extraction). `chars` is its plain text's length, `distribution` lid.176's on the whole text;
    `target_line_chars` counts the characters of its lines labelled with a target language, and is called only
    when the whole-page check would drop the page (it costs a fastText call per line)."""
    if chars < options.min_chars or not distribution:
        return None
    top, top_score = max(distribution.items(), key=lambda pair: pair[1])
    target_score = sum(distribution.get(code, 0.0) for code in targets)
    if top in targets or top_score < options.min_other_score or target_score > options.max_target_score:
        return None
    return top if target_line_chars() <= options.max_target_chars else None


def cheap_text(html: str, main_content: bool) -> str:
    """The page's visible text from resiliparse: no scripts, styles or markup, newlines between blocks."""
    from resiliparse.extract.html2text import extract_plain_text

    return extract_plain_text(html, main_content=main_content)


class PrefilterStep(Step):
    """Page -> Page: drops HTML pages confidently outside the target languages; WET text has nothing to skip."""

    stage = "prefilter_language"

    def __init__(self, options: PrefilterOptions):
        if options.languages is None:
            raise ValueError("prefilter_language needs the target languages: set `languages`, or put an "
                             "identify_language stage with languages in the recipe")
        self.options = options
        self._targets = frozenset(options.languages)
        self._identifier: LanguageIdentifier | None = None

    def setup(self) -> None:
        self._identifier = shared_identifier(self.options.model_path)

    def judge(self, page: Page) -> Verdict:
        if page.html is None:
            return Verdict(page)
        try:
            text = cheap_text(page.html, self.options.main_content)
        except Exception:  # noqa: BLE001 - a page the cheap parser cannot read is for full extraction to judge
            return Verdict(page)
        (distribution,) = self._identifier.distributions([text])
        detected = other_language(len(text), distribution, self._targets, self.options,
                                  lambda: target_line_chars(self._identifier, text, self._targets))
        if detected is None:
            return Verdict(page)
        return Verdict(page, "other_language", f"{detected}:{distribution[detected]:.3f}")


def target_line_chars(identifier: LanguageIdentifier, text: str, targets: frozenset[str]) -> int:
    """Characters in the lines of `text` (resiliparse puts each block on its own line) whose own top label is a
    target language. Runs of short lines (menu entries) are judged together: one fastText call each, not one a line."""
    units = text_units(text)
    if not units:
        return 0
    return sum(len(unit) for unit, ranked in zip(units, identifier.predict(units), strict=True)
               if ranked[0][0] in targets)


def text_units(text: str) -> list[str]:
    """Each line of at least `_SHORT_LINE` characters, and each run of shorter lines joined by spaces."""
    units: list[str] = []
    run: list[str] = []
    for line in (raw.strip() for raw in text.split("\n")):
        if not line:
            continue
        if len(line) >= _SHORT_LINE:
            if run:
                units.append(" ".join(run))
                run = []
            units.append(line)
        else:
            run.append(line)
    if run:
        units.append(" ".join(run))
    return units
