"""Chinese is first-class: reference text passes the zh filters as often as English passes refinedweb's,
and constructed Chinese spam is removed.

    python bench/chinese_evidence.py [--shared ../shared/data]

Reference documents are 10 consecutive sentences of the UD treebanks in shared/data/text. The filters are
the document-level stages of the presets (Gopher repetition, Gopher quality, line corrections) with the
presets' thresholds.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from ccrefine.pipelines.recipe import load_recipe
from ccrefine.transforms.records import Document

FILTER_STAGES = ("filter_repetition", "filter_quality", "correct_lines")

CHINESE_SPAM = {
    "keyword stuffing": "北京搬家公司 北京搬家 搬家公司电话 北京搬家公司价格 北京搬家公司哪家好 北京搬家公司电话 "
    "北京搬家公司收费标准 北京搬家公司 北京搬家 北京搬家公司推荐。" * 8,
    "repeated ad lines": "\n".join(
        ["加微信 abc123 免费领取新人红包，点击进入官网。", "正规平台，秒到账，加微信 abc123 咨询客服。"] * 8),
    "navigation list": "\n".join(["首页 | 新闻 | 体育 | 娱乐 | 财经 | 科技 | 汽车 | 房产"] * 3
                                 + ["登录 | 注册 | 帮助中心", "热门推荐：新闻 体育 娱乐"]),
    "ad inside sentences": "\n".join(
        ["随着电动汽车的快速普及【澳门赌场上线送彩金，加微信abc123】，退役动力电池的数量正在逐年增加。",
         "专家估计，未来十年内需要处理的废旧电池将超过数百万吨【扫码下载APP领红包】。",
         "如何安全、经济地回收这些电池，已经成为产业链上下游共同关心的问题。"]),
}


def filter_steps(recipe_name: str):
    steps = []
    for spec in load_recipe(recipe_name).stages:
        if spec.name in FILTER_STAGES:
            step = spec.transform().step
            step.setup()
            steps.append(step)
    return steps


def run_filters(text: str, lang: str, steps) -> tuple[str | None, str]:
    """(stage.reason that dropped it or None, the text that came out)."""
    document = Document("d", "", "", "", text, lang=lang)
    for step in steps:
        verdict = step.judge(document)
        if verdict.reason:
            return f"{step.stage}.{verdict.reason}", text
        document = verdict.document
    return None, document.text


def reference_documents(path: Path, sentences: int = 10) -> list[str]:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [" ".join(lines[i : i + sentences]) for i in range(0, len(lines) - sentences + 1, sentences)]


def pass_rate(texts: list[str], lang: str, steps) -> tuple[float, Counter]:
    reasons = Counter(run_filters(text, lang, steps)[0] for text in texts)
    return reasons[None] / len(texts), reasons


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    args = parser.parse_args()
    text = args.shared / "text"
    english, chinese = filter_steps("refinedweb"), filter_steps("zh")
    for name, lang, steps in (("en_pud_news_wiki.txt", "en", english), ("en_ewt_web.test.txt", "en", english),
                              ("zh_pud_news_wiki.txt", "zh", chinese),
                              ("zh_gsdsimp_wikipedia.test.txt", "zh", chinese)):
        documents = reference_documents(text / name)
        rate, reasons = pass_rate(documents, lang, steps)
        dropped = ", ".join(f"{k} {v}" for k, v in reasons.items() if k) or "none"
        print(f"{name:32} {lang}  {len(documents):4d} documents  pass {rate:6.1%}  dropped: {dropped}")
    rate, reasons = pass_rate(reference_documents(text / "zh_pud_news_wiki.txt"), "en", english)
    print(f"zh_pud_news_wiki.txt through English-only rules (whitespace words, English stop words): pass {rate:.1%} "
          f"({', '.join(f'{k} {v}' for k, v in reasons.most_common(3))})")
    for name, spam in CHINESE_SPAM.items():
        reason, out = run_filters(spam, "zh", chinese)
        print(f"zh spam, {name:20} -> {reason or 'kept, cleaned: ' + repr(out[:60])}")


if __name__ == "__main__":
    main()
