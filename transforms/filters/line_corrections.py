"""RefinedWeb line-wise corrections (Penedo et al. 2023, §3.3 and Appendix G.2).

Extraction leaves lines that are not prose: counters ("12 likes"), navigation and call-to-action
fragments ("Sign in", "Read more…", 分享到), shouting headers, lines of digits and punctuation, lone
words, and bracketed advertisements inside sentences (【加微信领红包】). Such lines are removed or trimmed;
when the removed words exceed 5% of the document's words, the page was mostly debris and the whole
document is dropped, as RefinedWeb does. The patterns are ccrefine's own, in English and Chinese.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ccrefine.transforms.records import Document
from ccrefine.transforms.step import Step, Verdict
from ccrefine.transforms.text.units import TextUnits, units_of

_COUNTER = re.compile(
    r"^\s*[\d.,]+\s*[kKmM万千]?\s*(likes?|comments?|shares?|views?|retweets?|replies|reply|followers?|votes?|"
    r"个?赞|条?评论|次?阅读|次?浏览|次?分享|人?关注|转发)\s*$",
    re.IGNORECASE,
)
_NAVIGATION = (
    r"sign in|sign up|log in|login|log out|register|subscribe|read more|continue reading|click here|"
    r"share (?:on|this|via) \w+|share|tweet|pin it|print|email this|back to top|skip to (?:main )?content|"
    r"\d+ items? in (?:your )?cart|add to cart|view cart|accept (?:all )?cookies|we use cookies[^.]*\.?|"
    r"cookie (?:policy|settings)|all rights reserved|"
    r"登录|注册|阅读全文|阅读更多|点击查看|点击这里|分享到|返回顶部|加入购物车|版权所有|上一篇|下一篇|收藏|举报"
)
_LEADING_NAVIGATION = re.compile(rf"^(?:\s*(?:{_NAVIGATION})\s*[|>»:：·•/-]*\s*)+", re.IGNORECASE)
_TRAILING_NAVIGATION = re.compile(rf"(?:\s*[|<«:：·•/-]*\s*(?:{_NAVIGATION})\s*[.…!]*\s*)+$", re.IGNORECASE)
_ONLY_DIGITS_OR_PUNCTUATION = re.compile(r"^[\W\d_]+$")
# Advertisements pasted into the middle of a sentence, usually bracketed: 【加微信领红包】, [Advertisement].
_INLINE_AD = re.compile(
    r"[【\[（(][^】\]）)\n]{0,40}(?:微信|QQ|加群|代理|彩金|返利|优惠券|网址|扫码|下载APP|客服|广告|advertisement|sponsored)"
    r"[^】\]）)\n]{0,40}[】\]）)]",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class LineCorrectionOptions:
    max_removed_words_fraction: float = 0.05  # RefinedWeb: drop the document above 5% of its words removed
    short_line_words: int = 10  # navigation is trimmed only from lines this short
    max_uppercase_fraction: float = 0.5  # of a line's letters

    def __post_init__(self):
        for name in ("max_removed_words_fraction", "max_uppercase_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {getattr(self, name)}")
        if self.short_line_words < 1:
            raise ValueError(f"short_line_words must be at least 1, got {self.short_line_words}")


def _word_count(text: str, lang: str) -> int:
    return len(TextUnits(text, lang).words)


def _line_is_debris(line: str, lang: str, options: LineCorrectionOptions) -> bool:
    if _ONLY_DIGITS_OR_PUNCTUATION.match(line) or _COUNTER.match(line):
        return True
    letters = [c for c in line if c.isalpha()]
    upper = sum(c.isupper() for c in letters)
    # Over all letters, uncased Han characters included: "BBC 表示……" is a Chinese sentence, not shouting.
    if upper >= 4 and upper / len(letters) > options.max_uppercase_fraction:
        return True
    return _word_count(line, lang) <= 1


def _trim_navigation(line: str, lang: str, options: LineCorrectionOptions) -> str:
    if _word_count(line, lang) > options.short_line_words:
        return line
    return _TRAILING_NAVIGATION.sub("", _LEADING_NAVIGATION.sub("", line)).strip()


def correct_lines(text: str, lang: str, options: LineCorrectionOptions) -> tuple[str, float]:
    """(corrected text, fraction of the document's words removed)."""
    total_words = len(units_of(text, lang).words)  # the document's units, shared with the steps before
    kept_lines, kept_words = [], 0
    for line in text.split("\n"):
        stripped = line.strip()
        if not stripped:
            continue
        trimmed = _trim_navigation(_INLINE_AD.sub("", stripped), lang, options)
        if trimmed and not _line_is_debris(trimmed, lang, options):
            kept_lines.append(trimmed)
            kept_words += _word_count(trimmed, lang)
    removed = (total_words - kept_words) / total_words if total_words else 0.0
    return "\n".join(kept_lines), max(0.0, removed)


class LineCorrectionStep(Step):
    stage = "lines"

    def __init__(self, options: LineCorrectionOptions = LineCorrectionOptions()):
        self.options = options

    def judge(self, document: Document) -> Verdict:
        corrected, removed = correct_lines(document.text, document.lang, self.options)
        scored = document.with_scores({"lines.removed_words_frac": removed}, text=corrected)
        if removed > self.options.max_removed_words_fraction:
            return Verdict(document.with_scores({"lines.removed_words_frac": removed}), "too_many_removed_words")
        if not corrected:
            return Verdict(scored, "empty")
        return Verdict(scored)
