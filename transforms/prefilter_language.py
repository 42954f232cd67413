"""A cheap language check before full extraction: pages confidently outside the recipe's languages skip trafilatura.

trafilatura costs 25-50 ms a page; resiliparse's plain-text extraction (lexbor in C++) and one fastText call
cost a few. A page is dropped here only when the same lid.176 model the language stage uses is sure it is in
another language: its top label is not a target language with probability >= `min_other_score` AND the
target languages together get <= `max_target_score`. Everything else, including pages with too little text
to judge, goes on to full extraction, where the language stage decides as before. The default thresholds
were chosen on a Common-Crawl-like language mix (bench/prefilter_language.py, bench/RESULTS.md), where they
lose no page that the language stage keeps.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from transforms.language import ALL_LANGUAGES, LanguageIdentifier, shared_identifier
from transforms.records import Page
from transforms.step import Step, Verdict


@dataclass(frozen=True)
class PrefilterOptions:
    languages: tuple[str, ...] | None = None  # None: the identify_language stage's languages (a recipe fills it)
    min_other_score: float = 0.9  # the top, non-target label's probability must reach this...
    max_target_score: float = 0.01  # ...and the target languages' summed probability stay at or below this
    min_chars: int = 100  # shorter plain text is too little to judge: the page goes on to extraction
    main_content: bool = True  # resiliparse's boilerplate removal: navigation in another language counts less
    model_path: str | None = None  # None: the identify_language stage's model (a recipe fills it)

    def __post_init__(self):
        if self.languages is not None and (not self.languages or ALL_LANGUAGES in self.languages):
            raise ValueError("languages must name the codes the recipe keeps; a recipe that keeps all languages "
                             "has nothing to skip: remove prefilter_language from it")
        for name in ("min_other_score", "max_target_score"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {getattr(self, name)}")
        if self.min_chars < 0:
            raise ValueError(f"min_chars must be 0 or more, got {self.min_chars}")
        if self.model_path is not None and not os.path.exists(self.model_path):
            raise ValueError(f"model_path {self.model_path} does not exist; omit it to use the language stage's")


def other_language(chars: int, distribution: dict[str, float], targets: frozenset[str],
                   options: PrefilterOptions) -> str | None:
    """The detected language when a page whose plain text has `chars` characters and this lid.176 distribution
    is confidently in none of `targets`; None when it goes on to full extraction."""
    if chars < options.min_chars or not distribution:
        return None
    top, top_score = max(distribution.items(), key=lambda pair: pair[1])
    target_score = sum(distribution.get(code, 0.0) for code in targets)
    if top not in targets and top_score >= options.min_other_score and target_score <= options.max_target_score:
        return top
    return None


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
        detected = other_language(len(text), distribution, self._targets, self.options)
        if detected is None:
            return Verdict(page)
        return Verdict(page, "other_language", f"{detected}:{distribution[detected]:.3f}")
