"""RefinedWeb line-wise corrections in English and Chinese."""

from __future__ import annotations

import pytest
from ccrefine.transforms.filters.line_corrections import LineCorrectionOptions, LineCorrectionStep, correct_lines
from ccrefine.transforms.records import Document

OPTIONS = LineCorrectionOptions()
PROSE = "The river rises after the rain and floods the old town every spring, as it has done for centuries."


@pytest.mark.parametrize(
    "debris",
    ["12 likes", "3 Comments", "1.2k views", "SHARE THIS STORY WITH YOUR FRIENDS", "2024-05-01 | 13:45", "Photos",
     "Sign in | Register", "Read more…", "Share on Facebook", "Accept all cookies", "3 items in cart"],
)
def test_english_debris_lines_are_removed(debris):
    text, removed = correct_lines(f"{PROSE}\n{debris}", "en", OPTIONS)
    assert text == PROSE and removed > 0


@pytest.mark.parametrize("debris", ["登录 | 注册", "分享到：", "128 次阅读", "版权所有", "56 条评论", "上一篇"])
def test_chinese_debris_lines_are_removed(debris):
    sentence = "随着电动汽车和储能设备的快速普及，退役动力电池的数量正在逐年增加。"
    text, _ = correct_lines(f"{sentence}\n{debris}", "zh", OPTIONS)
    assert text == sentence


def test_navigation_is_trimmed_from_the_edges_of_short_lines_only():
    assert correct_lines("Home > Science news from the coast", "en", OPTIONS)[0] == "Home > Science news from the coast"
    assert correct_lines("Sign in | The tide tables for May", "en", OPTIONS)[0] == "The tide tables for May"
    long_line = PROSE + " " + PROSE + " Share"
    assert correct_lines(long_line, "en", OPTIONS)[0] == long_line


def test_document_is_dropped_above_five_percent_of_words_removed():
    body = "\n".join([PROSE] * 3)  # 57 words
    step = LineCorrectionStep(OPTIONS)
    kept = step.judge(Document("a", "u", "", "", body + "\n12 likes", lang="en"))  # 2 of 59 words: 3.4%
    assert kept.reason is None and kept.document.text == body
    dropped = step.judge(Document("b", "u", "", "", body + "\n12 likes\n3 comments", lang="en"))  # 4 of 61: 6.6%
    assert dropped.reason == "too_many_removed_words"
    assert dropped.document.text.endswith("3 comments")  # the rejected record keeps the original text


def test_options_are_validated():
    with pytest.raises(ValueError, match="max_removed_words_fraction"):
        LineCorrectionOptions(max_removed_words_fraction=2.0)
