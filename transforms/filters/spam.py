"""Content-level spam and safety scoring: lexicon hits per category, flagged lines, and structural spam.

URL lists cannot catch hijacked or numeric-domain sites, so this step reads the text. It counts weighted
lexicon hits per category (gambling and lottery, porn, ads and contact bait) with one Aho-Corasick automaton
(pyahocorasick) built once per worker, flags lines whose hits cover a share of their characters, and measures
structural spam that no word list sees: one-character-per-bracket runs (【随】【着】), long runs of short
keywords separated by `_`, `|`, `/` or spaces (SEO title lists and hidden keyword blocks, which extraction
turns into such lines), contact numbers after 加/联系/代理, and the same contact number repeated.

Weights make one word harmless: a category drops a document only with enough total weight AND enough weight per
1,000 characters, so "成人" on a tourism page or a lottery news report stays. Scores are kept on the document
(`spam.*`), the decision is separate and counted as `spam.dropped.<reason>`.

A lexicon is a UTF-8 file: `#` comment lines (the first names its source and license), then one term per line,
optionally a tab and a weight (default 1.0). Matching is case-insensitive and finds Traditional forms too.
A name without a `/` is one of the lists shipped in `transforms/filters/spam_lexicons/`; anything else is a path.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ccrefine.transforms.step import ScoringStep
from ccrefine.transforms.text.units import TextUnits

LEXICON_DIR = Path(__file__).with_name("spam_lexicons")
DEFAULT_LEXICONS = {"gambling": "zh_gambling.txt", "porn": "zh_porn.txt", "ads": "zh_ads.txt"}

# One character in brackets, twice or more in a row: 【随】【着】.
_BRACKETED_CHARS = re.compile(r"(?:[【\[［〔（(][^\s】\]］〕）)][】\]］〕）)]){2,}")
_LIST_SEPARATOR = re.compile(r"\s*[_|｜/]\s*|\s+")
_HAN = re.compile(r"[\u3400-\u9fff]")
_SENTENCE_MARKS = re.compile(r"[，。！？、；：,.!?;:]")
_KEYWORD_CHARS = 12  # a list item this short or shorter is a keyword, longer is prose
_CONTACT = re.compile(
    r"(?:qq|扣扣|企鹅)\s*[号群]?\s*[:：]?\s*(?P<qq>[1-9]\d{4,10})"
    r"|(?:微信|薇信|威信|v信|vx|weixin|wx)\s*号?\s*[:：]?\s*(?P<wechat>[a-z][-_a-z0-9]{5,19}|\d{6,12})"
    r"|(?<!\d)(?P<phone>1[3-9]\d{9}|\d{3,4}-\d{3,4}-\d{4}|0\d{2,3}-\d{7,8})(?!\d)",
    re.IGNORECASE,
)
_BAIT_BEFORE = re.compile(r"加|联系|代理|咨询|客服|进群|添加|私聊|招募")
_BAIT_WINDOW = 8  # characters before a contact number searched for a bait word


def lexicon_path(name: str) -> Path:
    return Path(name) if "/" in name else LEXICON_DIR / name


def read_lexicon(path: Path) -> dict[str, float]:
    """term -> weight from one lexicon file."""
    terms = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        term, _, weight = line.partition("\t")
        try:
            terms[term.strip().lower()] = float(weight) if weight.strip() else 1.0
        except ValueError:
            raise ValueError(f"{path}:{number}: the weight after the tab must be a number, got {weight!r}") from None
    return terms


@dataclass(frozen=True)
class SpamOptions:
    lexicons: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_LEXICONS))  # category -> file
    min_category_weight: float = 3.0  # a category drops the document with at least this much weight...
    max_category_density: float = 4.0  # ...and more than this weight per 1,000 characters
    line_min_weight: float = 1.0  # a line is flagged with at least this much lexicon weight...
    line_min_hit_ratio: float = 0.1  # ...when its hits cover at least this share of its characters
    max_flagged_chars_fraction: float = 0.3  # of the document's characters inside flagged lines
    max_bracket_run: int = 3  # one-character-per-bracket runs longer than this are spam
    max_keyword_list_items: int = 12  # runs of short keywords between _ | / or spaces longer than this
    max_contact_bait: int = 2  # contact numbers after 加/联系/代理...
    max_repeated_contact: int = 2  # occurrences of the same contact number

    def __post_init__(self):
        if not self.lexicons:
            raise ValueError("lexicons must name at least one category file, e.g. {gambling: zh_gambling.txt}")
        for category, name in self.lexicons.items():
            if not lexicon_path(name).is_file():
                raise ValueError(f"lexicons.{category}: {name} is not a file; name a shipped list "
                                 f"({', '.join(sorted(p.name for p in LEXICON_DIR.glob('*.txt')))}) or a path")
        for name in ("line_min_hit_ratio", "max_flagged_chars_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {getattr(self, name)}")
        for name in ("min_category_weight", "max_category_density", "line_min_weight", "max_bracket_run",
                     "max_keyword_list_items", "max_contact_bait", "max_repeated_contact"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


def build_automaton(lexicons: dict[str, str]):
    """One Aho-Corasick automaton over every category's terms, each also in its Traditional forms (OpenCC s2t and
    s2tw), so one Simplified list serves pages in both scripts; a term in two lists counts for the first."""
    import ahocorasick
    import opencc

    to_traditional = [opencc.OpenCC(config) for config in ("s2t", "s2tw")]
    automaton = ahocorasick.Automaton()
    for category, name in lexicons.items():
        for term, weight in read_lexicon(lexicon_path(name)).items():
            for form in (term, *(converter.convert(term) for converter in to_traditional)):
                if form not in automaton:
                    automaton.add_word(form, (category, weight, len(form)))
    automaton.make_automaton()
    return automaton


def longest_keyword_list(line: str) -> int:
    """Items in the longest run of short Han keywords separated by `_`, `|`, `/` or spaces."""
    longest = run = 0
    for item in _LIST_SEPARATOR.split(line):
        if item and len(item) <= _KEYWORD_CHARS and _HAN.search(item) and not _SENTENCE_MARKS.search(item):
            run += 1
            longest = max(longest, run)
        elif item:
            run = 0
    return longest if longest > 1 else 0


def longest_bracket_run(line: str) -> int:
    return max((len(match.group()) // 3 for match in _BRACKETED_CHARS.finditer(line)), default=0)


def contacts(line: str) -> tuple[list[str], int]:
    """(the contact numbers in a line, how many follow a bait word such as 加 or 联系)."""
    numbers, baited = [], 0
    for match in _CONTACT.finditer(line):
        numbers.append(next(value for value in match.groupdict().values() if value).replace("-", "").lower())
        if _BAIT_BEFORE.search(line, max(0, match.start() - _BAIT_WINDOW), match.start() + 2):
            baited += 1
    return numbers, baited


def spam_scores(lines: list[str], automaton, categories, options: SpamOptions) -> dict[str, float]:
    hits = Counter()
    weights = Counter()
    numbers: Counter[str] = Counter()
    total_chars = flagged_chars = flagged_lines = 0
    bait = bracket_run = keyword_items = 0
    max_line_ratio = 0.0
    for line in lines:
        lowered = line.lower()
        line_weight = line_hit_chars = 0.0
        for _end, (category, weight, length) in automaton.iter_long(lowered):
            hits[category] += 1
            weights[category] += weight
            line_weight += weight
            line_hit_chars += length
        line_numbers, line_bait = contacts(lowered)
        numbers.update(line_numbers)
        line_brackets, line_items = longest_bracket_run(line), longest_keyword_list(line)
        bait += line_bait
        bracket_run, keyword_items = max(bracket_run, line_brackets), max(keyword_items, line_items)
        ratio = line_hit_chars / len(lowered)
        max_line_ratio = max(max_line_ratio, ratio)
        total_chars += len(line)
        if (line_weight >= options.line_min_weight and ratio >= options.line_min_hit_ratio) or line_bait or (
            line_brackets > options.max_bracket_run or line_items > options.max_keyword_list_items
        ):
            flagged_lines += 1
            flagged_chars += len(line)
    per_thousand = 1000 / max(1, total_chars)
    scores = {}
    for category in categories:
        scores[f"spam.{category}.hits"] = float(hits[category])
        scores[f"spam.{category}.weight"] = weights[category]
        scores[f"spam.{category}.density"] = weights[category] * per_thousand
    scores.update({
        "spam.flagged_lines_frac": flagged_lines / max(1, len(lines)),
        "spam.flagged_chars_frac": flagged_chars / max(1, total_chars),
        "spam.max_line_hit_ratio": max_line_ratio,
        "spam.bracket_run": float(bracket_run),
        "spam.keyword_list_items": float(keyword_items),
        "spam.contact_bait": float(bait),
        "spam.repeated_contact": float(max(numbers.values(), default=0)),
    })
    return scores


def decide_spam(scores: dict[str, float], options: SpamOptions) -> str | None:
    if scores["spam.bracket_run"] > options.max_bracket_run:
        return "bracket_run"
    if scores["spam.keyword_list_items"] > options.max_keyword_list_items:
        return "keyword_list"
    if scores["spam.repeated_contact"] > options.max_repeated_contact:
        return "repeated_contact"
    if scores["spam.contact_bait"] > options.max_contact_bait:
        return "contact_bait"
    for category in options.lexicons:
        if (scores[f"spam.{category}.weight"] >= options.min_category_weight
                and scores[f"spam.{category}.density"] > options.max_category_density):
            return category
    if scores["spam.flagged_chars_frac"] > options.max_flagged_chars_fraction:
        return "flagged_lines"
    return None


class SpamStep(ScoringStep):
    stage = "spam"

    def __init__(self, options: SpamOptions = SpamOptions()):
        super().__init__(options)
        self._automaton = None

    def setup(self) -> None:
        self._automaton = build_automaton(self.options.lexicons)

    def score(self, units: TextUnits) -> dict[str, float]:
        if self._automaton is None:  # judged outside a Beam worker (tests, benches)
            self.setup()
        return spam_scores(units.lines, self._automaton, self.options.lexicons, self.options)

    def decide(self, scores: dict[str, float], lang: str) -> str | None:
        return decide_spam(scores, self.options)

    def __getstate__(self):  # the automaton is rebuilt by setup on each worker, never pickled
        return {**self.__dict__, "_automaton": None}
