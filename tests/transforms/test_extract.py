"""Extraction on real pages and on hostile ones: every failure is a counted reason, never a crash or a stall."""

from __future__ import annotations

import pytest
from ccrefine.transforms.read.extract import ExtractionStep, ExtractOptions
from ccrefine.transforms.records import Document, Page


def page(html: str, url: str = "https://example.org/a") -> Page:
    return Page("id-1", url, "2024-01-01T00:00:00Z", "", "text/html", "utf-8", html, None, "test.warc.gz", 0)


@pytest.fixture
def step():
    extraction = ExtractionStep(ExtractOptions(timeout_s=3.0, max_html_chars=5_000_000))
    extraction.setup()
    yield extraction
    extraction.teardown()


ARTICLE = (
    "<html><body><nav><a href='/'>Home</a> <a href='/login'>Sign in</a></nav><article><h1>Tides</h1>"
    + "".join(f"<p>Paragraph {i}: the tide rises and falls twice a day because of the pull of the moon "
              f"and, to a lesser degree, the sun on the oceans of the earth.</p>" for i in range(6))
    + "</article><footer>Copyright 2024. All rights reserved.</footer></body></html>"
)


def test_main_text_without_boilerplate(step):
    verdict = step.judge(page(ARTICLE))
    assert verdict.reason is None and isinstance(verdict.document, Document)
    assert "pull of the moon" in verdict.document.text
    assert "Sign in" not in verdict.document.text and "All rights reserved" not in verdict.document.text
    assert verdict.document.id == "id-1" and verdict.document.source == "test.warc.gz"


def test_chinese_text_and_punctuation_survive(step):
    sentence = "茶农们一年四季都在忙碌，春天是采茶最关键的时节！清明前后的嫩芽香气最浓。"
    body = "".join(f"<p>第{i}段：{sentence}</p>" for i in range(5))
    verdict = step.judge(page(f"<html><body><article>{body}</article></body></html>"))
    assert verdict.reason is None
    assert "茶农们一年四季都在忙碌，春天是采茶最关键的时节！" in verdict.document.text


def test_wet_text_passes_through(step):
    wet = Page("id-2", "https://x.org", "", "", "text/plain", "utf-8", None, "plain text body", "f.wet.gz", 9)
    assert step.judge(wet).document.text == "plain text body"


def test_oversized_page_is_never_parsed(step):
    huge = "<html><body>" + "<p>filler text in a very large page</p>" * 1_500_000 + "</body></html>"  # ~55 MB
    assert step.judge(page(huge)).reason == "too_large"  # decided on its length, before any parsing


@pytest.mark.parametrize(
    "hostile",
    [
        "<html><body>" + "<div>" * 10_000 + "deep" + "</div>" * 10_000 + "</body></html>",
        "<html><body><p>\x00\x01\x02 binary \x7f\x80\x81</p>" + "\ufffd" * 5000 + "</body></html>",
        "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;'>]><x>&b;</x>",
        "<<<>>><html <body </p></div></table>" * 2000,
        "",
    ],
    ids=["deep-nesting", "binary", "entity-expansion", "broken-markup", "empty"],
)
def test_hostile_pages_end_in_a_reason_within_the_limit(step, hostile):
    verdict = step.judge(page(hostile))
    assert verdict.reason in (None, "empty", "error", "timeout")  # the step's own time limit bounds the wait


def test_a_stalled_extraction_is_killed_and_the_next_page_still_works():
    # ~7.5 MB of markup takes several times the 0.1 s limit to extract (about 0.8 s here).
    slow = "<html><body>" + "".join(f"<div><p>word {i} " * 20 + "</p></div>" for i in range(20_000)) + "</body></html>"
    step = ExtractionStep(ExtractOptions(timeout_s=0.1, max_html_chars=50_000_000))
    step.setup()
    try:
        assert step.judge(page(slow)).reason == "timeout"
        # A fresh extraction process serves the next page; its start-up is not charged to that page.
        assert step.judge(page(ARTICLE)).reason is None
    finally:
        step.teardown()


@pytest.mark.parametrize("field, value", [("timeout_s", 0), ("max_html_chars", -1)])
def test_options_are_validated(field, value):
    with pytest.raises(ValueError, match=field):
        ExtractOptions(**{field: value})
