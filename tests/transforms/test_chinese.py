"""Chinese is first-class: the zh preset's filters keep Chinese reference text as the English preset keeps
English, and remove constructed Chinese spam (see bench/chinese_evidence.py for the figures)."""

from __future__ import annotations

from importlib.resources import files

import pytest
import yaml

from tests.bench_scripts import load_bench_script


@pytest.fixture(scope="module")
def evidence():
    return load_bench_script("chinese_evidence")


def test_parallel_news_passes_alike_in_both_languages(evidence, shared_data):
    english = evidence.filter_steps("refinedweb")
    chinese = evidence.filter_steps("zh")
    en_rate, _ = evidence.pass_rate(evidence.reference_documents(shared_data / "text" / "en_pud_news_wiki.txt"),
                                    "en", english)
    zh_rate, _ = evidence.pass_rate(evidence.reference_documents(shared_data / "text" / "zh_pud_news_wiki.txt"),
                                    "zh", chinese)
    simplified, _ = evidence.pass_rate(
        evidence.reference_documents(shared_data / "text" / "zh_gsdsimp_wikipedia.test.txt"), "zh", chinese)
    assert en_rate >= 0.95 and zh_rate >= 0.95 and simplified >= 0.95
    assert abs(en_rate - zh_rate) <= 0.05


def test_english_only_rules_would_destroy_the_same_chinese_text(evidence, shared_data):
    english = evidence.filter_steps("refinedweb")
    rate, _ = evidence.pass_rate(evidence.reference_documents(shared_data / "text" / "zh_pud_news_wiki.txt"),
                                 "en", english)
    assert rate < 0.2


@pytest.mark.parametrize("kind, reason", [
    ("keyword stuffing", "repetition.top_2gram"),  # the same keyword phrases over and over
    ("repeated ad lines", "repetition.duplicate_lines"),  # 2 distinct lines, 16 in all
    ("navigation list", "repetition.duplicate_lines"),  # the menu line 3 times of 5 lines
    ("ad inside sentences", "lines.too_many_removed_words"),  # the bracketed ads cut out are over 5% of the words
])
def test_constructed_chinese_spam_is_removed(evidence, kind, reason):
    assert evidence.run_filters(evidence.CHINESE_SPAM[kind], "zh", evidence.filter_steps("zh"))[0] == reason


def test_an_ad_inside_a_long_article_is_cut_out_and_the_article_kept(evidence):
    pages = yaml.safe_load((files("ccrefine.pipelines") / "sample_pages.yaml").read_text(encoding="utf-8"))
    paragraphs = next(a for a in pages["articles"] if a["url"].endswith("dianchi-huishou.html"))["paragraphs"]
    article = "\n".join(paragraphs).replace("逐年增加。", "逐年增加【加微信abc领红包】。", 1)
    reason, text = evidence.run_filters(article, "zh", evidence.filter_steps("zh"))
    assert reason is None and "加微信" not in text and "退役动力电池的数量正在逐年增加。" in text
